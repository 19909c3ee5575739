"""A TransactionEvent the central keeps answering with a CALLERROR is retried at growing
intervals (OCPP MessageAttemptInterval x preceding attempts), then set aside on disk, never
deleted, and the messages behind it go on. The peer is a real OCPP-J server on a socket."""

import asyncio
import itertools
import json
import time

import websockets

from chargepoint import agent as agent_module
from chargepoint.agent import MESSAGE_ATTEMPTS, Agent
from chargepoint.outbox import Outbox
from shared.clock import Clock


def event(seq_no):
    return {"event_type": "Updated", "timestamp": "2026-11-23T04:00:00Z",
            "trigger_reason": "MeterValuePeriodic", "seq_no": seq_no,
            "transaction_info": {"transaction_id": "tx-1"}}


async def test_a_refused_event_is_retried_then_set_aside_and_the_queue_moves_on(
        tmp_path, monkeypatch):
    monkeypatch.setattr(agent_module, "RETRY_INTERVAL_S", 0.2)
    attempts: list[tuple[int, float]] = []

    async def central(connection):  # refuses seqNo 0, accepts the rest
        async for raw in connection:
            _, message_id, action, payload = json.loads(raw)
            if action == "BootNotification":
                reply = [3, message_id, {"currentTime": "2026-11-23T04:00:00Z",
                                         "interval": 300, "status": "Accepted"}]
            elif payload["seqNo"] == 0:
                attempts.append((0, time.monotonic()))
                reply = [4, message_id, "InternalError", "cannot process", {}]
            else:
                attempts.append((payload["seqNo"], time.monotonic()))
                reply = [3, message_id, {}]
            await connection.send(json.dumps(reply))

    async with websockets.serve(central, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:
        port = server.sockets[0].getsockname()[1]
        outbox = Outbox(tmp_path / "outbox.db")
        agent = Agent(f"ws://127.0.0.1:{port}/ocpp", "CP-1", "a-password-of-16+", Clock(),
                      outbox=outbox)
        running = asyncio.create_task(agent.run())
        await outbox.put(event(0))
        await asyncio.wait_for((await outbox.put(event(1))), 10)
        running.cancel()

    assert [seq for seq, _ in attempts] == [0] * MESSAGE_ATTEMPTS + [1]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts[:MESSAGE_ATTEMPTS])]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # the interval grows with each attempt
    [(payload, error)] = Outbox(tmp_path / "outbox.db").set_aside_messages()
    assert payload == event(0) and "cannot process" in error
    assert len(outbox) == 0
