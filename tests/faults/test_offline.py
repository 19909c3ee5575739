"""Half an hour offline: the station keeps charging and metering on its last schedule,
queues its transaction events, and replays them in seqNo order, marked offline, when the
central is back; the bill is complete."""

import asyncio
import itertools
import signal
import time
from datetime import timedelta

from central.store import SqliteStore
from tests.faults.processes import start_central
from tests.helpers import EXAMPLE
from tests.integration.conftest import (
    EVENING,
    PASSWORDS,
    finished,
    free_port,
    pev_central,
    start_agent,
    tonight,
)

SPEED = 600


async def test_thirty_minutes_offline_are_replayed_in_order_and_billed(tmp_path):
    db = tmp_path / "central.db"
    code, _, err = await pev_central("registry", "import", str(EXAMPLE), "--db", str(db))
    assert code == 0, err
    port = free_port()
    sim_start = EVENING
    wall_start = time.monotonic()
    log = tmp_path / "central.log"
    central = await start_central(db, port, sim_start, log, SPEED)
    agent = await start_agent(f"ws://127.0.0.1:{port}/ocpp", "CP-1002", "--pev", "PEV-0002",
                              "--energy-wh", "10000", "--plug-in-at", tonight("20:10"),
                              "--departure", "22:00", "--max-power-w", "11000",
                              "--backoff-cap-s", "1", state_dir=tmp_path, speed=SPEED)
    try:
        await asyncio.sleep(3)  # until about 20:30
        central.send_signal(signal.SIGTERM)
        await central.wait()
        await asyncio.sleep(3)  # 30 simulated minutes without the central
        elapsed = timedelta(seconds=(time.monotonic() - wall_start) * SPEED)
        central = await start_central(db, port, sim_start + elapsed, log, SPEED)
        run = await finished(agent)
        assert run.returncode == 0, run.stderr
    finally:
        central.send_signal(signal.SIGTERM)
        await central.wait()
    assert PASSWORDS["CP-1002"] not in run.stderr
    store = await SqliteStore.open(db)
    try:
        [session] = await store.sessions()
        events = await store.events("CP-1002", session.transaction_id)
        offline = [e for e in events if e["offline"]]
        assert len(offline) >= 25  # about one per minute of the half hour
        seq = [e["seq_no"] for e in events]
        assert seq == list(range(len(seq)))
        offline_seq = [e["seq_no"] for e in offline]
        assert offline_seq == list(range(offline_seq[0], offline_seq[0] + len(offline_seq)))
        minutes = [e["timestamp"] for e in events if e["trigger_reason"] == "MeterValuePeriodic"]
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(minutes))
        assert session.complete and session.status == "ended"
        # 10 kWh at 7.36 kW needs 82 of the 110 minutes plugged in: it could only be
        # delivered if the station kept charging through the 30 minutes offline.
        assert session.energy_wh == session.end_register_wh - session.begin_register_wh == 10000
        assert run.summary["energy_wh"] == 10000
    finally:
        await store.close()
