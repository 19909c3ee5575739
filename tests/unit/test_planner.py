"""Energy negotiation: limits, economy windows, departure, and what cannot be met."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from central.domain.planner import (
    Cap,
    EnergyRequest,
    EvPlan,
    Limit,
    first_excess,
    plan,
    premise_caps,
)
from shared.profiles import ChargingProfile, ProfileStack
from shared.schedule import Schedule
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


def capacity_ws(schedule, caps, begin, end):
    """Energy (W s) the schedule allows in [begin, end) once `caps` also apply."""
    edges = sorted({begin, end, *(c for cap in caps for c in (cap.start, cap.end)
                                  if begin < c < end),
                    *(schedule.start + timedelta(seconds=o) for o, _ in schedule.periods
                      if begin < schedule.start + timedelta(seconds=o) < end)})
    total = 0
    for left, right in itertools.pairwise(edges):
        limit = min([schedule.limit_at(left),
                     *(c.power_w for c in caps if c.start <= left < c.end)])
        total += max(0, limit) * (right - left).total_seconds()
    return total


def caps_strategy(name):
    return st.lists(st.tuples(st.integers(0, 40 * 3600), st.integers(60, 8 * 3600),
                              st.integers(0, 12_000)), max_size=3).map(
        lambda raw: [(name, *r) for r in raw])


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
    raw_caps=caps_strategy("premise service"),
    raw_overlays=caps_strategy("demand response"),
    delay=st.integers(0, 1800),
)
def test_no_schedule_exceeds_a_limit_or_departure_or_the_request(
        start, energy, hours, ev_max, program, station, premise, economy, raw_caps,
        raw_overlays, delay):
    start = start.replace(microsecond=0)
    departure = start + timedelta(hours=hours)

    def cap(name, offset, length, power):
        begin = start + timedelta(seconds=offset)
        return Cap(name, begin, begin + timedelta(seconds=length), power)

    caps = [cap(*c) for c in raw_caps]
    overlays = [cap(*c) for c in raw_overlays]
    limits = [Limit("program", program), Limit("station", station),
              Limit("premise service", premise)]
    result = plan(start, EnergyRequest(energy, departure, ev_max), limits, EV_TOU, economy,
                  caps, overlays, delay)
    schedule = result.schedule
    tightest = min(ev_max, program, station, premise)
    assert all(limit <= tightest for _, limit in schedule.periods)
    instants = {schedule.start + timedelta(seconds=o) for o, _ in schedule.periods}
    instants |= {c.start for c in caps}
    for moment in instants:  # premise capacity is never overbooked
        for c in caps:
            if c.start <= moment < c.end:
                assert schedule.limit_at(moment) <= c.power_w
    assert schedule.periods[-1][1] == 0  # it ends; nothing runs on forever
    assert result.available_wh <= energy
    for _, end, _ in positive_spans(result):
        assert end is not None and end <= departure
    # what was promised can be delivered under every cap and DR overlay
    assert capacity_ws(schedule, overlays, start, departure) >= result.available_wh * 3600
    # departure is met whenever it is feasible (randomized delay aside)
    feasible = capacity_ws(Schedule(start, ((0, tightest),)), caps + overlays, start,
                           departure) // 3600
    if delay == 0 and energy <= feasible - 1:
        assert result.available_wh == energy


def test_other_sessions_leave_the_premise_what_they_do_not_use():
    now = local(2026, 11, 22, 22, 0)
    other = Schedule(now, ((0, 7200), (3600, 0)))  # a neighbour's EVSE, 22:00-23:00
    caps = premise_caps(9600, [other])
    assert caps == [Cap("premise service", now, now + timedelta(hours=1), 2400)]
    result = plan(now, EnergyRequest(4000, local(2026, 11, 22, 23, 30), 7360), LIMITS,
                  EV_TOU, False, caps)
    assert result.schedule.limit_at(now) == 2400
    assert result.schedule.limit_at(now + timedelta(hours=1)) == 7200


def test_a_randomized_delay_pushes_the_first_charging_instant_back():
    now = local(2026, 11, 22, 20, 30)
    departure = local(2026, 11, 23, 7, 0)
    result = plan(now, EnergyRequest(20_000, departure, 7360), LIMITS, EV_TOU, True,
                  delay_s=600)
    assert result.start == local(2026, 11, 23, 0, 10)
    assert result.available_wh == 20_000


def test_a_dr_overlay_shrinks_what_is_promised_but_not_the_normal_schedule():
    now = local(2026, 11, 23, 0, 0)
    dr = Cap("demand response", now, now + timedelta(hours=2), 1000)
    result = plan(now, EnergyRequest(20_000, local(2026, 11, 23, 3, 0), 7360), LIMITS,
                  EV_TOU, True, overlays=[dr])
    assert result.schedule.limit_at(now) == 7200  # the normal schedule
    assert result.available_wh == 2000 + 7200  # 2 h at 1 kW, then 1 h at 7.2 kW
    assert "demand response limit" in result.note


def test_a_request_that_only_just_fits_gets_the_next_period_to_catch_up_in():
    now, departure = local(2026, 11, 22, 20, 30), local(2026, 11, 22, 23, 0)
    # until 21:00 (peak) 30 min at 7.2 kW hold 3600 Wh
    roomy = plan(now, EnergyRequest(3000, departure, 7360), LIMITS, EV_TOU, economy=False)
    assert positive_spans(roomy) == [(now, local(2026, 11, 22, 21, 0), 7200)]
    tight = plan(now, EnergyRequest(3500, departure, 7360), LIMITS, EV_TOU, economy=False)
    assert positive_spans(tight) == [(now, departure, 7200)]
    assert tight.available_wh == 3500


def test_economy_catches_up_after_its_cheap_window_not_before_it():
    now, departure = local(2026, 11, 22, 22, 0), local(2026, 11, 23, 16, 0)
    # off-peak 00:00-15:00 holds 108 kWh at 7.2 kW; 100 kWh leaves too little to spare,
    # so 15:00-16:00 comes too, and not the 22:00-24:00 that costs the same
    result = plan(now, EnergyRequest(100_000, departure, 7360), LIMITS, EV_TOU,
                  economy=True)
    assert positive_spans(result) == [(local(2026, 11, 23, 0, 0), departure, 7200)]
    assert result.start == local(2026, 11, 23, 0, 0)


def given_limits(*profiles):
    stack = ProfileStack()
    for profile in profiles:
        stack.install(profile)
    return stack


def test_an_ev_plan_within_the_given_limits_passes_and_one_above_them_says_where():
    start = local(2026, 11, 22, 23, 0)
    normal = ChargingProfile(1, 0, Schedule(start, ((0, 0), (3600, 7200), (7200, 0))))
    overlay = ChargingProfile(2, 1, Schedule(start + timedelta(minutes=90), ((0, 3000),)),
                               valid_from=start + timedelta(minutes=90),
                               valid_to=start + timedelta(minutes=100))
    given = given_limits(normal, overlay)
    within = EvPlan(start, "W", ((0, 0, None), (3600, 7200, None), (5400, 3000, None),
                                 (6000, 7000.5, None), (7200, 0, None)))
    assert first_excess(given, within, 230, 1) is None
    # in A on one phase at 230 V: 31.3 A is 7199 W; 32 A (7360 W) is above 7200 W
    assert first_excess(given, EvPlan(start, "A", ((0, 0, None), (3600, 31.3, 1),
                                                   (5400, 0, None))), 230, 1) is None
    late = EvPlan(start, "A", ((0, 0, None), (3600, 32, None), (7200, 0, None)))
    assert first_excess(given, late, 230, 1) == (start + timedelta(hours=1), 7360, 7200)
    # the DR overlay's 3000 W from 00:30 to 00:40, and nothing after the window closes
    assert first_excess(given, EvPlan(start, "W", ((0, 0, None), (3600, 7200, None))),
                        230, 1) == (start + timedelta(minutes=90), 7200, 3000)
    early = EvPlan(start - timedelta(minutes=10), "W", ((0, 1000, None),))
    assert first_excess(given, early, 230, 1) == (start - timedelta(minutes=10), 1000, 0)
