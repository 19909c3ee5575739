"""Rating metered intervals by TOU period, checked against hand-computed bills."""

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from central.domain.billing import Reading, RunningCost, rate
from tests.helpers import local, tariff

WINTER_EV = tariff("ev-tou")  # winter: peak 16-21 0.42, partial-peak 21-24 0.40


def test_a_session_across_the_peak_boundary_is_priced_per_period():
    bill = rate([Reading(local(2026, 11, 22, 20, 30), 1000),
                 Reading(local(2026, 11, 22, 21, 0), 4600),
                 Reading(local(2026, 11, 22, 21, 30), 8200)], WINTER_EV)
    # by hand: 3.6 kWh x 0.42 = 1.512 -> 1.51; 3.6 kWh x 0.40 = 1.44
    assert bill.energy_wh == 7200
    assert bill.by_period() == {"peak": {"energy_wh": 3600, "cost": "1.51"},
                                "partial-peak": {"energy_wh": 3600, "cost": "1.44"}}
    assert bill.total == Decimal("2.95")


def test_an_interval_straddling_a_boundary_is_shared_by_time():
    bill = rate([Reading(local(2026, 11, 22, 20, 50), 0),
                 Reading(local(2026, 11, 22, 21, 10), 2001)], WINTER_EV)
    assert {p.period: p.energy_wh for p in bill.periods} in (
        {"peak": 1001, "partial-peak": 1000}, {"peak": 1000, "partial-peak": 1001})
    assert bill.energy_wh == 2001


def test_billed_energy_is_the_register_delta_whatever_the_order_received():
    readings = [Reading(local(2026, 11, 23, 0, m), 50_000 + 120 * m) for m in range(0, 60)]
    shuffled = readings[::-1]
    assert rate(shuffled, WINTER_EV) == rate(readings, WINTER_EV)
    assert rate(readings, WINTER_EV).energy_wh == 120 * 59
    assert rate(readings, WINTER_EV).total == Decimal("1.98")  # 7.08 kWh x 0.28


def test_a_register_going_backwards_is_flagged_and_never_billed_negative():
    bill = rate([Reading(local(2026, 11, 23, 1, 0), 5000),
                 Reading(local(2026, 11, 23, 1, 1), 4000),
                 Reading(local(2026, 11, 23, 1, 2), 4100)], WINTER_EV)
    assert bill.energy_wh == 100
    assert bill.problems and "went back 1000 Wh" in bill.problems[0]


def test_no_readings_bill_nothing():
    bill = rate([], WINTER_EV)
    assert (bill.energy_wh, bill.total, bill.periods) == (0, Decimal("0.00"), ())


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 3 * 3600), st.integers(0, 5000)),
                      min_size=1, max_size=40),
       start_minute=st.integers(0, 24 * 60 - 1))
def test_the_running_cost_kept_reading_by_reading_is_the_bill_so_far(steps, start_minute):
    """Readings seconds to hours apart, across period changes, midnight and a change of
    clock time: kept lazily, the cost so far is what the bill of the readings so far is,
    to the cent (each period's exact cost rounded, then summed)."""
    at, register = local(2026, 10, 31, 0, 0) + timedelta(minutes=start_minute), 10_000
    readings = [Reading(at, register)]
    for gap_s, wh in steps:
        at, register = at + timedelta(seconds=gap_s), register + wh
        readings.append(Reading(at, register))
    running = RunningCost(WINTER_EV)
    for count, reading in enumerate(readings, 1):
        assert running.add(*reading)
        assert running.total == rate(readings[:count], WINTER_EV).total
    assert RunningCost.rated(WINTER_EV, readings).total == running.total


def test_a_reading_older_or_lower_than_the_newest_is_not_taken():
    running = RunningCost.rated(WINTER_EV, [Reading(local(2026, 11, 22, 20, 0), 1000),
                                            Reading(local(2026, 11, 22, 20, 10), 2000)])
    before = running.total
    assert not running.add(local(2026, 11, 22, 20, 5), 1500)  # an offline replay
    assert not running.add(local(2026, 11, 22, 20, 20), 1999)  # went back
    assert running.total == before == Decimal("0.42")  # 1 kWh at peak
    # rated from all of them, a register that went back costs nothing, as in the bill
    readings = [Reading(local(2026, 11, 22, 20, 0), 1000), Reading(local(2026, 11, 22, 20, 5),
                                                                   1500),
                Reading(local(2026, 11, 22, 20, 6), 1400), Reading(local(2026, 11, 22, 20, 7),
                                                                   1600)]
    assert RunningCost.rated(WINTER_EV, readings).total == rate(readings, WINTER_EV).total
