"""Demand response between real processes: an operator's `pev-central dr` command limits
live sessions within one metering interval, and the normal schedule comes back."""

import asyncio
import json
from datetime import timedelta

import pytest

from shared.timeutil import to_wire
from tests.helpers import local
from tests.integration.conftest import finished, pev_central, run_agent, start_agent, tonight

MINUTE = timedelta(minutes=1)


async def charging(central, station):
    """Wait until the station's live session draws power; returns the session."""
    for _ in range(400):
        for session in await central.store.live_sessions():
            if session.station_id == station and session.schedule:
                readings = await central.store.readings(session.id)
                if any((r.power_w or 0) > 0 for r in readings):
                    return session
        await asyncio.sleep(0.05)
    raise AssertionError(f"{station} never started charging")


def powers(readings, begin, end):
    return [r.power_w for r in readings if begin <= r.timestamp < end and r.power_w is not None]


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_a_live_session_is_limited_within_one_interval_and_recovers(slow_central,
                                                                         tmp_path, version):
    central = slow_central
    agent = await start_agent(central.url, "CP-1002", "--pev", "PEV-0002", "--energy-wh",
                              "9000", "--plug-in-at", tonight("20:30"), "--departure", "22:30",
                              "--max-power-w", "11000", "--ocpp", version, state_dir=tmp_path,
                              speed=central.speed)
    session = await charging(central, "CP-1002")
    # The event starts a little ahead (an operator's command takes a moment of real time,
    # which is many simulated minutes at 600x); within one interval of its start, the
    # metered power must be down to the limit.
    start = central.clock.now().replace(second=0, microsecond=0) + 30 * MINUTE
    end = start + 30 * MINUTE
    code, out, err = await pev_central("dr", "create", "--db", str(central.db), "--start",
                                       to_wire(start), "--end", to_wire(end), "--limit-w",
                                       "3000", "--scope", "station:CP-1002")
    assert code == 0, err
    run = await finished(agent)
    assert run.returncode == 0, run.stderr
    readings = await central.store.readings(session.id)
    assert max(powers(readings, start - 5 * MINUTE, start)) == 7360  # before: EV maximum
    assert max(powers(readings, start + MINUTE, end)) <= 3000  # within one interval
    assert max(powers(readings, end + MINUTE, end + 5 * MINUTE)) == 7360  # and back
    [ended] = [s for s in await central.store.sessions() if s.id == session.id]
    assert ended.energy_wh == 9000
    [(event_id, under_event)] = ended.dr_energy_wh.items()
    assert abs(under_event - 1500) <= 3000 / 60  # 30 min at 3 kW, give or take a minute
    code, out, _ = await pev_central("sessions", "--db", str(central.db), "--json")
    [row] = json.loads(out)
    assert row["dr_energy_wh"] == {event_id: under_event}


async def test_a_session_starting_during_an_event_is_planned_with_it(slow_central, tmp_path):
    central = slow_central
    code, _, err = await pev_central(
        "dr", "create", "--db", str(central.db), "--start", to_wire(local(2026, 11, 22, 20)),
        "--end", to_wire(local(2026, 11, 22, 21)), "--reduce-pct", "50",
        "--scope", "premise:P-1002")
    assert code == 0, err
    run = await run_agent(central, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "6000",
                          "--plug-in-at", tonight("20:30"), "--departure", "21:30",
                          "--max-power-w", "11000", state_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    [session] = await central.store.sessions()
    readings = await central.store.readings(session.id)
    nine = local(2026, 11, 22, 21)
    assert max(powers(readings, nine - 20 * MINUTE, nine)) == 3680  # half of 7360
    assert max(powers(readings, nine + MINUTE, nine + 10 * MINUTE)) == 7360
    # promised: at most 30 min at 3.68 kW + 30 min at 7.36 kW = 5520 Wh
    assert session.energy_available_wh <= 5520
    assert "demand response limit" in run.log("energy request answered")["note"]
    # the PEV's own plan keeps to the overlay it was given too: the central accepts it
    assert run.log("EV schedule answered")["status"] == "Accepted"


async def test_cancelling_an_event_restores_the_normal_schedule(slow_central, tmp_path):
    central = slow_central
    agent = await start_agent(central.url, "CP-1001", "--pev", "PEV-0002", "--energy-wh",
                              "30000", "--plug-in-at", tonight("20:30"), "--departure", "22:30",
                              state_dir=tmp_path, speed=central.speed)
    session = await charging(central, "CP-1001")
    start = central.clock.now().replace(second=0, microsecond=0) + 30 * MINUTE
    code, _, err = await pev_central("dr", "create", "--db", str(central.db), "--start",
                                     to_wire(start), "--end", to_wire(start + 4 * 60 * MINUTE),
                                     "--limit-w", "1000", "--scope", "all")
    assert code == 0, err
    await central.clock.sleep_until(start + 15 * MINUTE)
    code, out, err = await pev_central("dr", "cancel", "1", "--db", str(central.db))
    assert code == 0 and "cancel requested" in out, err
    cancelled_at = central.clock.now()
    run = await finished(agent)
    assert run.returncode == 0, run.stderr
    readings = await central.store.readings(session.id)
    assert max(powers(readings, start + MINUTE, start + 15 * MINUTE)) <= 1000
    back = cancelled_at + 2 * MINUTE  # the cancel lands within a poll and an interval
    assert max(powers(readings, back, back + 10 * MINUTE)) == 7200  # CP-1001's maximum
    code, out, _ = await pev_central("dr", "list", "--db", str(central.db), "--json")
    [event] = json.loads(out)
    assert event["status"] == "cancelled"


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "2026-11-22T21:00:00Z", "--end", "2026-11-22T20:00:00Z", "--limit-w", "0",
      "--scope", "all"], "must end after it starts"),
    (["--start", "2026-11-22T20:00:00Z", "--end", "2026-11-22T21:00:00Z", "--limit-w", "0",
      "--scope", "station:CP-0666"], "unknown station 'CP-0666'"),
    (["--start", "2026-11-22T20:00:00Z", "--end", "2026-11-22T21:00:00Z", "--limit-w", "0",
      "--scope", "everywhere"], "must be all, premise:ID or station:ID"),
    (["--start", "2026-11-22T20:00:00Z", "--end", "2026-11-22T21:00:00Z", "--reduce-pct",
      "150", "--scope", "all"], "from 1 to 100"),
    (["--start", "tomorrow", "--end", "2026-11-22T21:00:00Z", "--limit-w", "0",
      "--scope", "all"], "not an ISO 8601 date-time"),
])
async def test_a_bad_dr_event_is_refused_and_nothing_is_stored(central, args, message):
    code, _, err = await pev_central("dr", "create", "--db", str(central.db), *args)
    assert code == 2 and message in err
    assert await central.store.dr_events() == []


async def test_cancelling_an_unknown_event_is_a_usage_error(central):
    code, _, err = await pev_central("dr", "cancel", "42", "--db", str(central.db))
    assert code == 2 and "no DR event 42" in err
