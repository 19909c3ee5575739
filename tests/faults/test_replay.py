"""Duplicates and reordering injected on purpose: every event sent twice, a replay
shuffled. The bills come out identical to the orderly session's."""

import json
import random
from datetime import timedelta

from tests.helpers import local
from tests.integration.conftest import open_link, rpc


def transaction(transaction_id: str, pev: str, minutes: int = 90) -> list[list]:
    """A charging session as its TransactionEvent payloads, 20:30 onwards, 7.2 kW."""
    start = local(2026, 11, 22, 20, 30)

    def meter(at, register, context):
        return [{"timestamp": at.isoformat(), "sampledValue": [
            {"value": register, "context": context, "location": "Outlet",
             "measurand": "Energy.Active.Import.Register"}]}]

    def event(seq, kind, at, trigger, context, register, **extra):
        return {"eventType": kind, "timestamp": at.isoformat(), "triggerReason": trigger,
                "seqNo": seq, "transactionInfo": {"transactionId": transaction_id},
                "meterValue": meter(at, register, context), **extra}

    events = [event(0, "Started", start, "CablePluggedIn", "Transaction.Begin", 50_000,
                    evse={"id": 1, "connectorId": 1}),
              event(1, "Updated", start + timedelta(seconds=20), "Authorized",
                    "Sample.Periodic", 50_000,
                    idToken={"idToken": pev, "type": "Central"})]
    for minute in range(1, minutes):
        events.append(event(minute + 1, "Updated", start + timedelta(minutes=minute),
                            "MeterValuePeriodic", "Sample.Periodic", 50_000 + 120 * minute))
    events.append(event(minutes + 1, "Ended", start + timedelta(minutes=minutes),
                        "EVDeparted", "Transaction.End", 50_000 + 120 * minutes,
                        **{"transactionInfo": {"transactionId": transaction_id,
                                               "stoppedReason": "EVDisconnected"}}))
    return events


async def send_all(central, station, events):
    link = await open_link(central, station)
    replies = {}
    for n, payload in enumerate(events):
        reply = await rpc(link, "TransactionEvent", payload, f"m{n}")
        assert reply[0] == 3, reply  # never a CALLERROR
        replies.setdefault(payload["seqNo"], []).append(reply[2])
    await link.close()
    return replies


async def test_duplicates_and_a_shuffled_replay_bill_the_same(central):
    orderly = transaction("tx-orderly", "PEV-0001")
    await send_all(central, "CP-1001", orderly)
    messy = transaction("tx-messy", "PEV-0003")
    doubled = [e for e in messy for _ in range(2)]
    random.Random(4).shuffle(doubled)
    replies = await send_all(central, "CP-1003", doubled)
    first, second = sorted(await central.store.sessions(), key=lambda s: s.station_id)
    assert (first.energy_wh, first.cost_by_period, first.cost_total) == \
        (second.energy_wh, second.cost_by_period, second.cost_total)
    assert second.energy_wh == 120 * 90 and second.complete
    assert len(await central.store.readings(second.id)) == len(messy)  # counted once
    for seq_no, answers in replies.items():  # a duplicate is answered as the first time
        assert all(json.dumps(a, sort_keys=True) == json.dumps(answers[0], sort_keys=True)
                   for a in answers), seq_no
