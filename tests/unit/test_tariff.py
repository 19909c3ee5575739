"""TOU periods: cutting spans at period changes (midnight, DST) and sharing energy."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.tariff import Segment, TariffError, parse_tariff, split_energy
from tests.helpers import LA, local, tariff

TARIFF = tariff("ev-tou")


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC))


# A period change inside the hour the clock shows twice when it falls back (01:30), and
# one the clock skips when it springs forward (02:30).
NIGHT_OWL = parse_tariff("night-owl", "t", LA, {"periods": [
    {"name": "a", "start": "00:00", "end": "01:30", "price": "0.10"},
    {"name": "b", "start": "01:30", "end": "02:30", "price": "0.50"},
    {"name": "c", "start": "02:30", "end": "24:00", "price": "0.20"}]})


def assert_partition(tariff, start, end, segments):
    """The segments cover [start, end) end to end, each inside one period."""
    assert segments[0].start == start and segments[-1].end == end
    for left, right in itertools.pairwise(segments):
        assert left.end == right.start
        assert (left.season, left.period) != (right.season, right.period)
    for segment in segments:
        last_instant = segment.end - timedelta(microseconds=1)
        for moment in (segment.start, last_instant):
            season, period = tariff.at(moment)
            assert (season.name, period.name, period.price) == \
                (segment.season, segment.period, segment.price), moment


@pytest.mark.parametrize("tou", [TARIFF, NIGHT_OWL], ids=["ev-tou", "night-owl"])
@given(start=instants, hours=st.floats(min_value=0.001, max_value=72))
def test_segments_partition_the_span_and_each_lies_in_one_period(tou, start, hours):
    end = start + timedelta(hours=hours)
    assert_partition(tou, start, end, tou.segments(start, end))


@pytest.mark.parametrize("tou", [TARIFF, NIGHT_OWL], ids=["ev-tou", "night-owl"])
@pytest.mark.parametrize("noon", [local(2026, 10, 31, 12, 0), local(2026, 3, 7, 12, 0)],
                         ids=["fall-back", "spring-forward"])
def test_minute_after_minute_through_a_dst_night_each_gets_its_own_period(tou, noon):
    """The way meter values arrive: short consecutive spans, nearly all inside the
    period span the tariff found for the one before, then one that crosses into the next;
    the price of each must not depend on which was priced before it."""
    minutes = range(36 * 60)
    for minute in [*minutes, *reversed(minutes)]:  # a replayed backlog may go back in time
        left = noon + timedelta(minutes=minute, seconds=30)
        right = left + timedelta(minutes=1)
        assert_partition(tou, left, right, tou.segments(left, right))


def test_a_span_across_midnight_is_cut_at_local_midnight():
    segments = TARIFF.segments(local(2026, 11, 22, 23, 30), local(2026, 11, 23, 0, 30))
    assert [(s.period, s.seconds) for s in segments] == [("partial-peak", 1800),
                                                         ("off-peak", 1800)]


def test_daylight_saving_days_have_23_and_25_hours_of_periods():
    spring = TARIFF.segments(local(2026, 3, 8, 0, 0), local(2026, 3, 9, 0, 0))
    fall = TARIFF.segments(local(2026, 11, 1, 0, 0), local(2026, 11, 2, 0, 0))
    assert sum(s.seconds for s in spring) == 23 * 3600
    assert sum(s.seconds for s in fall) == 25 * 3600
    # the off-peak morning absorbs the missing or the repeated hour
    assert spring[0].period == "off-peak" and spring[0].seconds == 14 * 3600
    assert fall[0].period == "off-peak" and fall[0].seconds == 16 * 3600


def test_season_follows_the_local_month():
    assert TARIFF.price_at(local(2026, 7, 1, 17, 0)) == TARIFF.seasons[0].periods[2].price
    # 00:30 UTC on 1 October is still 30 September (summer) in Los Angeles
    assert TARIFF.at(datetime(2026, 10, 1, 0, 30, tzinfo=UTC))[0].name == "summer"


@given(wh=st.integers(min_value=0, max_value=10**7),
       durations=st.lists(st.integers(min_value=1, max_value=10**5), min_size=1, max_size=8))
def test_split_energy_is_whole_wh_in_proportion_and_exact(wh, durations):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    segments = []
    for seconds in durations:
        end = start + timedelta(seconds=seconds)
        segments.append(Segment(start, end, "s", "p", Decimal(0)))
        start = end
    shares = split_energy(segments, wh)
    assert sum(shares) == wh
    total = sum(durations)
    for share, seconds in zip(shares, durations, strict=True):
        assert abs(share - wh * seconds / total) < 1


@pytest.mark.parametrize(("definition", "message"), [
    ({"periods": [{"name": "a", "start": "00:00", "end": "12:00", "price": "0.1"}]},
     "not 24:00"),
    ({"periods": [{"name": "a", "start": "00:00", "end": "12:00", "price": "0.1"},
                  {"name": "b", "start": "11:00", "end": "24:00", "price": "0.1"}]},
     "without gaps or overlaps"),
    ({"seasons": [{"name": "s", "months": [1, 2], "periods": [
        {"name": "a", "start": "00:00", "end": "24:00", "price": "0.1"}]}]},
     "each month 1-12 exactly once"),
    ({"periods": [{"name": "a", "start": "00:00", "end": "24:00", "price": "cheap"}]},
     "not a number"),
    ({"periods": [{"name": "a", "start": "7am", "end": "24:00", "price": "0.1"}]},
     "not HH:MM"),
])
def test_unusable_tariffs_are_refused_with_the_reason(definition, message):
    with pytest.raises(TariffError, match=message):
        parse_tariff("t", "t", LA, definition)
