"""A live session's view (energy so far, running cost) comes from its readings: a meter
value rewrites no session record, and a restarted central carries the view on exactly."""

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.timeutil import parse_timestamp
from tests.helpers import local
from tests.integration.conftest import Central, open_link, rpc, running_central

BEGIN = local(2026, 11, 22, 23, 35)  # an interval spans midnight: partial-peak, off-peak
TRANSACTION = "tx-live"


def event(event_type: str, seq_no: int, minute: int, register_wh: int,
          **extra: Any) -> dict[str, Any]:
    at = (BEGIN + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(
        event_type, "Sample.Periodic")
    return {"eventType": event_type, "timestamp": at, "seqNo": seq_no,
            "triggerReason": "MeterValuePeriodic", "transactionInfo": {"transactionId":
                                                                       TRANSACTION},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": at, "sampledValue": [
                {"value": register_wh, "context": context, "location": "Outlet",
                 "measurand": "Energy.Active.Import.Register"},
                {"value": register_wh - 50_000, "context": context, "location": "EV",
                 "measurand": "Energy.Active.Import.Register"}]}], **extra}


PEV = {"idToken": "PEV-0001", "type": "Central"}
def reading(payload: dict[str, Any]) -> tuple[datetime, int]:
    """An event's EUMD reading: (when, register Wh)."""
    sampled = payload["meterValue"][0]
    return parse_timestamp(sampled["timestamp"]), sampled["sampledValue"][0]["value"]


STARTED = event("Started", 0, 0, 50_000, triggerReason="CablePluggedIn", idToken=PEV)
BEFORE_RESTART = [event("Updated", n, 10 * n, 50_000 + 1_200 * n) for n in range(1, 4)]
AFTER_RESTART = [event("Updated", n, 10 * n, 50_000 + 1_200 * n) for n in range(4, 8)]
ENDED = event("Ended", 8, 80, 59_600, triggerReason="EVDeparted")

# The same evening as stations also send it: bound at plug-in and metered in order; with
# an offline replay arriving after a newer reading (seqNo 3, metered at midnight, between
# 1 and 2: it moves energy from off-peak to partial-peak); and with the PEV bound only at
# its third event (a charger that authorizes late).
IN_ORDER = (STARTED, *BEFORE_RESTART), (*AFTER_RESTART, ENDED)
LATE_READING = ((STARTED, BEFORE_RESTART[0], event("Updated", 2, 30, 53_600),
                 event("Updated", 3, 25, 53_400)), (*AFTER_RESTART, ENDED))
BOUND_LATE = ((event("Started", 0, 0, 50_000, triggerReason="CablePluggedIn"),
               BEFORE_RESTART[0], event("Updated", 2, 20, 52_400, idToken=PEV),
               BEFORE_RESTART[2]), (*AFTER_RESTART, ENDED))


async def live_costs(central: Central, events: list[dict[str, Any]]) -> list[str | None]:
    """Send `events` from CP-1001; the running cost the live feed showed after each."""
    costs = []
    async with central.router.bus.subscribe() as feed:
        link = await open_link(central)
        try:
            for n, payload in enumerate(events):
                reply = await rpc(link, "TransactionEvent", payload, f"m{n}")
                assert reply[0] == 3, reply
                while (shown := await asyncio.wait_for(feed.get(), 5))["type"] != \
                        "transaction":
                    pass
                costs.append(shown["cost"])
        finally:
            await link.close()
    return costs


async def unwatched(central: Central, events: list[dict[str, Any]]) -> None:
    """Send `events` from CP-1001 with nobody watching the live feed."""
    assert not central.router.bus.listened
    link = await open_link(central)
    try:
        for n, payload in enumerate(events):
            assert (await rpc(link, "TransactionEvent", payload, f"u{n}"))[0] == 3
    finally:
        await link.close()


def count_record_writes(db: Path) -> None:
    """From now on, every write of a session's row is counted in the table `writes`."""
    with sqlite3.connect(db) as connection:
        connection.executescript(
            "CREATE TABLE writes (session_id INTEGER);"
            "CREATE TRIGGER count_writes AFTER UPDATE ON sessions "
            "BEGIN INSERT INTO writes VALUES (new.id); END;")


def record_writes(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM writes").fetchone()
    return int(count)


def stored_record(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as connection:
        (data,) = connection.execute("SELECT data FROM sessions WHERE transaction_id = ?",
                                     (TRANSACTION,)).fetchone()
    record: dict[str, Any] = json.loads(data)
    return record


@pytest.mark.parametrize(("before_restart", "after_restart"), [IN_ORDER, LATE_READING,
                                                               BOUND_LATE])
async def test_a_restarted_central_carries_the_live_view_on_from_the_readings(
        tmp_path, before_restart, after_restart):
    reference, restarted = tmp_path / "reference", tmp_path / "restarted"
    reference.mkdir()
    restarted.mkdir()
    async with running_central(reference, start=BEGIN) as central:
        uninterrupted = await live_costs(central, [*before_restart, *after_restart])

    async with running_central(restarted, start=BEGIN) as central:
        before = await live_costs(central, list(before_restart))
    async with running_central(restarted, start=BEGIN) as central:
        session = await central.store.session("CP-1001", TRANSACTION)
        assert session is not None and session.status == "active"
        # the newest reading, read with the record, before any new event
        assert session.last_reading == max(reading(e) for e in before_restart)
        after = await live_costs(central, list(after_restart))
        session = await central.store.session("CP-1001", TRANSACTION)

    assert before + after == uninterrupted
    assert Decimal(uninterrupted[-2]) > Decimal(uninterrupted[len(before_restart)]) > 0
    assert session is not None and session.status == "ended"
    assert session.energy_wh == 9_600
    # the PEV's own total at its last reading, though the central restarted meanwhile
    assert session.pev_total_wh == 9_600
    assert session.reconciliation is not None and session.reconciliation["status"] == "pass"


async def test_a_meter_value_rewrites_no_session_record(tmp_path):
    async with running_central(tmp_path, start=BEGIN) as central:
        link = await open_link(central)
        try:
            await rpc(link, "TransactionEvent", STARTED, "m0")
            count_record_writes(central.db)
            for n, payload in enumerate(BEFORE_RESTART, 1):
                assert (await rpc(link, "TransactionEvent", payload, f"m{n}"))[0] == 3
            assert record_writes(central.db) == 0
            live = await central.store.session("CP-1001", TRANSACTION)
            assert live is not None and live.last_reading == (BEGIN + timedelta(minutes=30),
                                                              53_600)
            assert (await rpc(link, "TransactionEvent", ENDED, "end"))[0] == 3
            assert record_writes(central.db) == 1  # the bill
        finally:
            await link.close()
        record = stored_record(central.db)
        assert record["status"] == "ended"
        assert "last_reading" not in record and "cost_so_far" not in record


@pytest.mark.parametrize("events", [[*IN_ORDER[0], *IN_ORDER[1]],
                                    [*LATE_READING[0], *LATE_READING[1]],
                                    [*BOUND_LATE[0], *BOUND_LATE[1]]])
async def test_a_watcher_who_comes_back_sees_the_cost_of_the_readings_sent_meanwhile(
        tmp_path, events):
    """Unwatched, the live view is not kept (it cost 5 % of the event loop): whoever
    watches again sees it rated from every reading, a late one or the binding included."""
    reference, watched_by_turns = tmp_path / "reference", tmp_path / "turns"
    reference.mkdir()
    watched_by_turns.mkdir()
    async with running_central(reference, start=BEGIN) as central:
        uninterrupted = await live_costs(central, events)
    async with running_central(watched_by_turns, start=BEGIN) as central:
        first = await live_costs(central, events[:2])
        await unwatched(central, events[2:5])
        again = await live_costs(central, events[5:])
    assert first + again == uninterrupted[:2] + uninterrupted[5:]
    assert all(cost is not None for cost in again)
