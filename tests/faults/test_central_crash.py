"""kill -9 of the central system in the middle of 50 live sessions, then a restart: the
stations reconnect and replay, and every session is billed exactly its register delta,
once."""

import asyncio
import json
import signal
import sys
import time
from datetime import timedelta

from central.domain.registry import load_registry
from central.store import SqliteStore
from tests.faults.processes import start_central
from tests.helpers import ROOT, local
from tests.integration.conftest import free_port, pev_central

STATIONS = 50
SPEED = 120


async def test_kill_9_central_mid_evening_loses_nothing_and_bills_nothing_twice(tmp_path):
    registry_file = tmp_path / "registry.toml"
    code, _, err = await pev_central("registry", "generate", "--premises", str(STATIONS),
                                     "--out", str(registry_file))
    assert code == 0, err
    db = tmp_path / "central.db"
    store = await SqliteStore.open(db)
    await store.import_registry(load_registry(registry_file))
    await store.close()
    port, api_port = free_port(), free_port()
    sim_start = local(2026, 11, 22, 18, 0)
    wall_start = time.monotonic()
    log = tmp_path / "central.log"
    central = await start_central(db, port, sim_start, log, SPEED, api_port=api_port)
    fleet = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "fleet", "--central",
        f"ws://127.0.0.1:{port}/ocpp", "--registry", str(registry_file), "--count",
        str(STATIONS), "--speed", str(SPEED), "--duration", "1h", "--backoff-cap-s", "2",
        "--state-dir", str(tmp_path / "fleet"), "--json", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        await asyncio.sleep(12)  # 24 simulated minutes: every station is charging
        central.send_signal(signal.SIGKILL)
        await central.wait()
        await asyncio.sleep(2)
        # The restarted central's clock carries on where the killed one's was.
        elapsed = timedelta(seconds=(time.monotonic() - wall_start) * SPEED)
        central = await start_central(db, port, sim_start + elapsed, log, SPEED,
                                      api_port=api_port)
        out, err = await asyncio.wait_for(fleet.communicate(), 600)
        assert fleet.returncode == 0, err.decode()[-3000:]
    finally:
        if fleet.returncode is None:
            fleet.kill()
        central.send_signal(signal.SIGTERM)
        await central.wait()
    summary = json.loads(out)
    store = await SqliteStore.open(db)
    try:
        sessions = await store.sessions()
        assert len(sessions) == STATIONS
        for session in sessions:
            assert session.status == "ended" and session.complete, session
            assert session.energy_wh == session.end_register_wh - session.begin_register_wh
            events = await store.events(session.station_id, session.transaction_id)
            assert [e["seq_no"] for e in events] == list(range(len(events)))
        assert sum(s.energy_wh for s in sessions) == summary["energy_wh"]
    finally:
        await store.close()
