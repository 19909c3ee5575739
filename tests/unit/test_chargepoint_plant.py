"""The simulated premise: PEV battery, EVSE under a schedule, EUMD register, reconnect
delays and the accelerated clock."""

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from chargepoint.backoff import Backoff
from chargepoint.evse import SimulatedEvse
from chargepoint.meter.simulated import SimulatedEumd
from chargepoint.pev import SimulatedPev
from shared.clock import Clock
from shared.schedule import Schedule

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_the_evse_delivers_exactly_what_the_schedule_allows(tmp_path):
    meter = SimulatedEumd(tmp_path / "m.json", "EUMD-1")
    evse = SimulatedEvse(meter, max_power_w=7200)
    pev = SimulatedPev("PEV-1", None, energy_wanted_wh=50_000)
    # 0 W for 10 min, 3600 W for 30 min, then the station max caps a 9000 W period
    schedule = Schedule(T0, ((0, 0), (600, 3600), (2400, 9000)))
    delivered = evse.advance(pev, schedule, T0, T0 + timedelta(hours=1))
    assert delivered == pytest.approx(3600 * 0.5 + 7200 * (20 / 60))
    assert meter.register_wh == 4200 and pev.running_total_wh == 4200


def test_the_pev_stops_drawing_when_it_has_what_it_asked_for(tmp_path):
    meter = SimulatedEumd(tmp_path / "m.json", "EUMD-1")
    evse = SimulatedEvse(meter, max_power_w=7200)
    pev = SimulatedPev("PEV-1", None, energy_wanted_wh=1000)
    schedule = Schedule(T0, ((0, 7200),))
    evse.advance(pev, schedule, T0, T0 + timedelta(hours=2))
    assert meter.register_wh == 1000 and pev.full and evse.power_w(pev, schedule, T0) == 0


def test_a_nearly_full_battery_takes_only_what_fits():
    pev = SimulatedPev("PEV-1", None, energy_wanted_wh=50_000, battery_capacity_wh=60_000,
                       state_of_charge=0.9, efficiency=0.9)
    assert pev.remaining_wh() == pytest.approx(60_000 * 0.1 / 0.9)
    pev.receive(pev.remaining_wh())
    assert pev.full and pev.state_of_charge == pytest.approx(1.0)


def test_the_pev_running_total_is_ac_side_with_its_own_error():
    pev = SimulatedPev("PEV-1", None, energy_wanted_wh=10_000, meter_error=0.01)
    pev.receive(5000)
    assert pev.running_total_wh == 5050


def test_the_eumd_register_persists_and_never_goes_back(tmp_path):
    path = tmp_path / "m.json"
    meter = SimulatedEumd(path, "EUMD-7")
    meter.add(1234.5678)
    assert SimulatedEumd(path, "EUMD-7").register_wh == 1234
    with pytest.raises(ValueError, match="never goes backwards"):
        meter.add(-1)
    with pytest.raises(ValueError, match="belongs to meter 'EUMD-7'"):
        SimulatedEumd(path, "EUMD-8")
    assert json.loads(path.read_text())["register_mwh"] == 1234568


def test_reconnect_delays_grow_exponentially_with_full_jitter_and_reset():
    backoff = Backoff(base_s=1, cap_s=30, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not in step
    backoff.reset()
    assert backoff.next_delay() <= 1


async def test_an_accelerated_clock_runs_at_its_speed_and_syncs():
    clock = Clock(speed=600, start=T0)
    wall = time.monotonic()
    await clock.sleep_until(T0 + timedelta(minutes=10))  # 1 s of wall time
    assert 0.9 <= time.monotonic() - wall < 3
    assert clock.now() >= T0 + timedelta(minutes=10)
    clock.sync(T0 + timedelta(days=1))
    assert clock.now() - (T0 + timedelta(days=1)) < timedelta(seconds=60)
    with pytest.raises(ValueError):
        Clock(speed=1, start=datetime(2026, 1, 1))  # naive: times inside are UTC-aware
