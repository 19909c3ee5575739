"""Duplicates and reordering injected on purpose: every event sent twice, a replay
shuffled. The bills come out identical to the orderly session's."""

import json
import random
from datetime import timedelta

from tests.helpers import local
from tests.integration.conftest import next_frame, open_link, rpc


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
    """Send each event and collect the answers; meanwhile the central may ask, for an Ended
    that came before the rest, whether more is queued (it is)."""
    link = await open_link(central, station)
    replies = {}
    asked = 0
    for n, payload in enumerate(events):
        await link.send(json.dumps([2, f"m{n}", "TransactionEvent", payload]))
        while (message := await next_frame(link))[0] == 2:
            assert message[2] == "GetTransactionStatus"
            asked += 1
            await link.send(json.dumps([3, message[1], {"messagesInQueue": True}]))
        assert message[:2] == [3, f"m{n}"], message  # never a CALLERROR
        replies.setdefault(payload["seqNo"], []).append(message[2])
    await link.close()
    return replies, asked


async def test_duplicates_and_a_shuffled_replay_bill_the_same(central):
    orderly = transaction("tx-orderly", "PEV-0001")
    _, asked = await send_all(central, "CP-1001", orderly)
    assert asked == 0  # complete: nothing to ask
    messy = transaction("tx-messy", "PEV-0003")
    doubled = [e for e in messy for _ in range(2)]
    random.Random(4).shuffle(doubled)
    replies, _ = await send_all(central, "CP-1003", doubled)
    first, second = sorted(await central.store.sessions(), key=lambda s: s.station_id)
    assert (first.energy_wh, first.cost_by_period, first.cost_total) == \
        (second.energy_wh, second.cost_by_period, second.cost_total)
    assert second.energy_wh == 120 * 90 and second.complete
    assert len(await central.store.readings(second.id)) == len(messy)  # counted once
    for seq_no, answers in replies.items():  # a duplicate is answered as the first time
        assert all(json.dumps(a, sort_keys=True) == json.dumps(answers[0], sort_keys=True)
                   for a in answers), seq_no


async def test_an_incomplete_transaction_makes_the_central_ask_the_station(central):
    events = transaction("tx-gappy", "PEV-0001", minutes=5)
    del events[3]  # seqNo 3 never arrives
    link = await open_link(central, "CP-1001")
    for n, payload in enumerate(events):
        assert (await rpc(link, "TransactionEvent", payload, f"g{n}"))[0] == 3
    request = await next_frame(link)  # the central's question, after the reply
    assert request[0] == 2 and request[2] == "GetTransactionStatus"
    assert request[3] == {"transactionId": "tx-gappy"}
    await link.send(json.dumps([3, request[1], {"messagesInQueue": False}]))
    [session] = await central.store.sessions()
    assert not session.complete and session.status == "ended"
    await link.close()


async def test_a_replayed_zero_begin_register_does_not_bill_the_meter_lifetime(central):
    await send_all(central, "CP-1001", transaction("tx-before", "PEV-0001", minutes=5))
    later = transaction("tx-after", "PEV-0001", minutes=5)
    for payload in later:  # the same meter, an hour on; its Begin replayed as 0
        for value in payload["meterValue"][0]["sampledValue"]:
            value["value"] += 600
        payload["timestamp"] = payload["meterValue"][0]["timestamp"] = (
            payload["timestamp"].replace("T04:", "T05:", 1))
    later[0]["meterValue"][0]["sampledValue"][0]["value"] = 0
    await send_all(central, "CP-1001", later)
    before, after = sorted(await central.store.sessions(), key=lambda s: s.started_at)
    assert before.end_register_wh == 50_600
    assert after.energy_wh == 120 * 5  # not 51 kWh of meter lifetime
    assert after.begin_register_wh == 50_600
    assert any("below the previous session's end" in p for p in after.problems)
