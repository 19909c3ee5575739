"""The token bucket behind the per-connection rate limit."""

import pytest

from central.protocol.ratelimit import RateLimit, TokenBucket


def test_a_burst_passes_at_once_then_messages_are_spaced_at_the_rate():
    bucket = TokenBucket(RateLimit(per_s=10, burst=3), now=0.0)
    assert [bucket.delay(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.delay(0.0) == pytest.approx(0.1)
    assert bucket.delay(0.1) == pytest.approx(0.1)  # waited its turn: the next one waits too


def test_an_idle_connection_earns_its_burst_back_but_no_more():
    bucket = TokenBucket(RateLimit(per_s=10, burst=3), now=0.0)
    for _ in range(3):
        bucket.delay(0.0)
    assert [bucket.delay(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.delay(100.0) > 0


@pytest.mark.parametrize(("per_s", "burst"), [(0, 10), (-1, 10), (10, 0)])
def test_a_meaningless_limit_is_refused(per_s, burst):
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(per_s, burst)
