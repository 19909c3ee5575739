"""A station flooding the central is slowed to its rate limit, logged, and still answered
in full; another station on the same server is answered at once meanwhile."""

import asyncio
import json
import signal
import time
from types import SimpleNamespace

from tests.faults.processes import start_central
from tests.helpers import EXAMPLE
from tests.integration.conftest import EVENING, free_port, open_link, pev_central, rpc

RATE, BURST, FLOOD = 50, 20, 300


async def test_a_flood_is_throttled_to_the_rate_answered_in_full_and_slows_no_one_else(
        tmp_path):
    db, log = tmp_path / "central.db", tmp_path / "central.log"
    code, _, err = await pev_central("registry", "import", str(EXAMPLE), "--db", str(db))
    assert code == 0, err
    port = free_port()
    central = await start_central(db, port, EVENING, log, 1,
                                  "--rate-limit", str(RATE), "--rate-burst", str(BURST))
    endpoint = SimpleNamespace(url=f"ws://127.0.0.1:{port}/ocpp")
    try:
        flooder = await open_link(endpoint, "CP-1001")
        started = time.monotonic()
        for n in range(FLOOD):  # no waiting for answers
            await flooder.send(json.dumps([2, f"f{n}", "Heartbeat", {}]))
        await asyncio.sleep(1)  # the flood is being worked through at the rate

        neighbour = await open_link(endpoint, "CP-1002")
        asked = time.monotonic()
        assert (await rpc(neighbour, "Heartbeat", {}, "n1"))[:2] == [3, "n1"]
        neighbour_wait = time.monotonic() - asked
        await neighbour.close()

        answers = [json.loads(await asyncio.wait_for(flooder.recv(), 30)) for _ in range(FLOOD)]
        flood_time = time.monotonic() - started
        await flooder.close()
    finally:
        central.send_signal(signal.SIGTERM)
        await central.wait()

    assert [a[:2] for a in answers] == [[3, f"f{n}"] for n in range(FLOOD)]  # none dropped
    assert flood_time >= (FLOOD - BURST) / RATE * 0.9  # held to the rate
    assert neighbour_wait < 2.0  # while the flood was still being worked through
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    throttled = [e for e in entries if e["msg"] == "rate limited"]
    assert throttled and throttled[0]["station"] == "CP-1001" and throttled[0]["per_s"] == RATE
