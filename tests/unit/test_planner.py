"""Energy negotiation: limits, economy windows, departure, and what cannot be met."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from central.planner import EnergyRequest, Limit, plan
from tests.helpers import local, tariff

EV_TOU = tariff("ev-tou")
LIMITS = [Limit("program", 7200), Limit("station", 11000), Limit("premise service", 9600)]


def positive_spans(p):
    s = p.schedule
    edges = [s.start + timedelta(seconds=o) for o, _ in s.periods]
    return [(edges[i], edges[i + 1] if i + 1 < len(edges) else None, limit)
            for i, (_, limit) in enumerate(s.periods) if limit > 0]


def test_economy_charges_in_the_off_peak_window_before_departure():
    now = local(2026, 11, 22, 20, 30)
    result = plan(now, EnergyRequest(20_000, local(2026, 11, 23, 7, 0), 7360), LIMITS,
                  EV_TOU, economy=True)
    assert result.available_wh == 20_000
    assert result.power_w == 7200  # program limit is the tightest
    assert result.start == local(2026, 11, 23, 0, 0)
    # 20 kWh at 7.2 kW takes 2 h 47 m: the off-peak period until departure holds it
    [(start, end, limit)] = positive_spans(result)
    assert (start, end, limit) == (local(2026, 11, 23, 0, 0), local(2026, 11, 23, 7, 0), 7200)


def test_without_economy_charging_starts_at_once():
    now = local(2026, 11, 22, 20, 30)
    result = plan(now, EnergyRequest(10_000, local(2026, 11, 22, 23, 0), 7360), LIMITS,
                  EV_TOU, economy=False)
    [(start, end, limit)] = positive_spans(result)
    assert (start, end, limit) == (now, local(2026, 11, 22, 23, 0), 7200)


def test_the_ev_maximum_binds_when_it_is_the_lowest():
    result = plan(local(2026, 11, 22, 20, 30), EnergyRequest(5_000, None, 3680), LIMITS,
                  EV_TOU, economy=False)
    assert result.power_w == 3680 and "EV limit" in result.note


def test_an_unmeetable_request_delivers_what_can_be_and_says_why():
    now = local(2026, 11, 22, 23, 0)
    result = plan(now, EnergyRequest(60_000, local(2026, 11, 23, 1, 0), 7360), LIMITS,
                  EV_TOU, economy=True)
    # 2 hours at 7.2 kW, cheapest first (00:00-01:00 off-peak, then 23:00-24:00)
    assert result.available_wh == 14_400
    assert "14400 of 60000 Wh" in result.note and "program limit" in result.note


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31),
                       timezones=st.just(UTC)),
    energy=st.integers(min_value=0, max_value=120_000),
    hours=st.floats(min_value=0.1, max_value=30),
    ev_max=st.integers(min_value=1_000, max_value=22_000),
    program=st.integers(min_value=1_000, max_value=19_200),
    station=st.integers(min_value=1_000, max_value=19_200),
    premise=st.integers(min_value=1_000, max_value=40_000),
    economy=st.booleans(),
)
def test_no_schedule_exceeds_a_limit_or_departure_or_the_request(
        start, energy, hours, ev_max, program, station, premise, economy):
    departure = start + timedelta(hours=hours)
    limits = [Limit("program", program), Limit("station", station),
              Limit("premise service", premise)]
    result = plan(start, EnergyRequest(energy, departure, ev_max), limits, EV_TOU, economy)
    tightest = min(ev_max, program, station, premise)
    assert all(limit <= tightest for _, limit in result.schedule.periods)
    assert result.schedule.periods[-1][1] == 0  # it ends; nothing runs on forever
    assert result.available_wh <= energy
    for _, end, _ in positive_spans(result):
        assert end is not None and end <= departure
    assert result.schedule.energy_wh() >= result.available_wh
    feasible = tightest * (departure - result.schedule.start).total_seconds() // 3600
    if energy <= feasible - 1:  # departure can be met: the whole request is planned
        assert result.available_wh == energy
