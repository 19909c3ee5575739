"""The clock reads back the instant it was set to, to the microsecond, at any speed."""

import time
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.clock import Clock

INSTANTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))
NEARLY_STOPPED = 1e-9  # so little clock time passes between setting and reading


@given(INSTANTS, INSTANTS)
def test_a_clock_started_or_synced_at_an_instant_reads_that_instant(start, synced):
    clock = Clock(NEARLY_STOPPED, start)
    assert clock.now() == start and clock.now().tzinfo is UTC
    clock.sync(synced)
    assert clock.now() == synced


def test_an_accelerated_clock_runs_ahead_by_its_speed():
    start = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
    before = time.time()
    clock = Clock(3600, start)  # an hour a second
    time.sleep(0.01)
    reading = clock.now()
    wall = time.time() - before
    assert start + timedelta(seconds=0.01 * 3600) <= reading
    assert reading <= start + timedelta(seconds=wall * 3600)
