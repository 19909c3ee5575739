"""kill -9 of a charge point mid-session, then a restart: the same transaction carries on
(same transactionId, next seqNo, the EUMD register continues) or, if the PEV has left
meanwhile, ends with PowerLoss at the last metered register. Nothing is lost."""

import asyncio
import itertools
import json
import signal
from datetime import timedelta

from tests.integration.conftest import finished, start_agent, tonight

ARGS = ("--pev", "PEV-0002", "--energy-wh", "8000", "--plug-in-at", tonight("20:10"),
        "--departure", "21:40", "--max-power-w", "11000", "--backoff-cap-s", "1")


async def charging_session(central):
    for _ in range(600):
        [session, *_] = await central.store.sessions() or [None]
        if session and session.schedule and len(await central.store.readings(session.id)) > 5:
            return session
        await asyncio.sleep(0.05)
    raise AssertionError("the station never got going")


async def crash_and_restart(central, tmp_path, downtime_s: float):
    agent = await start_agent(central.url, "CP-1002", *ARGS, state_dir=tmp_path,
                              speed=central.speed)
    session = await charging_session(central)
    await asyncio.sleep(0.5)
    agent.send_signal(signal.SIGKILL)
    await agent.wait()
    await asyncio.sleep(downtime_s)
    run = await finished(await start_agent(central.url, "CP-1002", *ARGS, state_dir=tmp_path,
                                           speed=central.speed))
    assert run.returncode == 0, run.stderr
    assert run.log("resuming transaction")["transaction"] == session.transaction_id
    [ended] = await central.store.sessions()
    events = await central.store.events("CP-1002", ended.transaction_id)
    register = json.loads((tmp_path / "CP-1002.json").read_text())["register_mwh"] // 1000
    return run, ended, events, register


async def test_a_killed_agent_carries_on_with_the_same_transaction(slow_central, tmp_path):
    run, session, events, register = await crash_and_restart(slow_central, tmp_path, 1.0)
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    assert session.complete and session.stopped_reason == "EVDisconnected"
    minutes = [e["timestamp"] for e in events if e["trigger_reason"] == "MeterValuePeriodic"]
    gaps = [b - a for a, b in itertools.pairwise(minutes)
            if b - a > timedelta(minutes=1)]
    assert len(gaps) == 1  # the minutes the station was down, and only those
    assert session.end_register_wh == register  # the EUMD register carried on
    assert session.energy_wh == session.end_register_wh - session.begin_register_wh
    assert session.energy_wh == run.summary["energy_wh"] == 8000


async def test_a_station_back_after_the_pev_left_closes_it_with_power_loss(slow_central,
                                                                          tmp_path):
    _, session, events, register = await crash_and_restart(slow_central, tmp_path, 10.0)
    assert events[-1]["event_type"] == "Ended"
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    assert session.stopped_reason == "PowerLoss" and session.complete
    assert session.end_register_wh == register
    assert session.energy_wh == session.end_register_wh - session.begin_register_wh > 0
