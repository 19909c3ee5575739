"""A database that cannot take a write (held locked by another process here) never turns
into a CALLERROR, which would make a station give up on the event (OCPP E13): the event
is not answered, the link is closed 1011, and the station's replay is billed once."""

import asyncio
import contextlib
import json
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosedError

from central.domain.sessions import Session
from central.store import SqliteStore
from central.store.errors import StorageUnavailable
from tests.helpers import example_registry, writes_locked
from tests.integration.conftest import open_link, rpc, run_agent, tonight

STARTED = {"eventType": "Started", "timestamp": "2026-11-23T04:00:00Z",
           "triggerReason": "CablePluggedIn", "seqNo": 0,
           "transactionInfo": {"transactionId": "tx-locked"}, "evse": {"id": 1},
           "meterValue": [{"timestamp": "2026-11-23T04:00:00Z", "sampledValue": [
               {"value": 1000, "measurand": "Energy.Active.Import.Register",
                "context": "Transaction.Begin", "location": "Outlet"}]}]}


async def test_an_event_the_store_cannot_keep_is_not_answered_and_its_replay_counts_once(
        central):
    link = await open_link(central)
    async with writes_locked(central.db):
        await link.send(json.dumps([2, "e0", "TransactionEvent", STARTED]))
        # busy_timeout is 5 s: then the write fails and the link is closed unanswered
        await asyncio.wait_for(link.wait_closed(), 15)
        assert link.close_code == 1011
        assert "storage unavailable" in link.close_reason
    with pytest.raises(ConnectionClosedError):  # nothing first: no CALLRESULT, no CALLERROR
        await link.recv()
    assert await central.store.sessions() == []

    link = await open_link(central)
    reply = await rpc(link, "TransactionEvent", STARTED, "e0-replayed")
    assert reply[:2] == [3, "e0-replayed"]
    await link.close()
    [session] = await central.store.sessions()
    assert session.transaction_id == "tx-locked" and session.begin_register_wh == 1000


async def test_a_session_through_a_locked_database_is_billed_completely(
        slow_central, tmp_path):
    """The 6,000 Wh take 50 minutes and the program's randomized delay up to 15: the
    departure leaves room for a plan that comes late on a slow host (a second is ten
    minutes here)."""
    agent = asyncio.create_task(run_agent(
        slow_central, "CP-1001", "--pev", "PEV-0001", "--energy-wh", "6000",
        "--plug-in-at", tonight("20:05"), "--departure", "22:00", "--backoff-cap-s", "1",
        state_dir=tmp_path))
    # polls the database until the session is planned: a lock taken during the binding
    # handshake delays the plan past the departure (noted on issue 6), which is not what
    # this test is about
    while not (sessions := await slow_central.store.sessions()) or \
            sessions[0].schedule is None:
        assert not agent.done(), agent.result()
        await asyncio.sleep(0.1)
    async with writes_locked(slow_central.db):
        await asyncio.sleep(7)  # over an hour of the clock: the agent meters on, queued
    run = await agent
    assert run.returncode == 0, run.stderr
    [session] = await slow_central.store.sessions()
    seq = await slow_central.store.event_seq_nos("CP-1001", session.transaction_id)
    assert seq == list(range(len(seq))) and session.complete
    assert session.energy_wh == session.end_register_wh - session.begin_register_wh
    assert session.energy_wh == run.summary["energy_wh"] == 6000
    assert any(entry.get("msg") == "connection lost" for entry in run.logs)


async def test_a_write_error_that_rolled_back_the_whole_batch_fails_every_unit_in_it(
        tmp_path):
    """On some errors (disk full, I/O error) SQLite rolls back the whole transaction, not
    just the statement: the units of the batch that already finished are gone too, and
    must hear so rather than that they were committed."""
    store = await SqliteStore.open(tmp_path / "central.db")

    async def unit(transaction_id: str, fails: bool = False) -> None:
        async with store.unit():
            await store.save_session(Session("CP-1001", transaction_id))
            if fails:
                store._db.execute("ROLLBACK")  # what SQLite itself does on such an error
                raise sqlite3.OperationalError("database or disk is full")

    try:
        results = await asyncio.gather(unit("tx-first"), unit("tx-doomed", fails=True),
                                       unit("tx-after"), return_exceptions=True)
        stored = {s.transaction_id for s in await store.sessions()}
        outcomes = dict(zip(("tx-first", "tx-doomed", "tx-after"), results, strict=True))
        assert isinstance(outcomes["tx-doomed"], StorageUnavailable)
        assert isinstance(outcomes["tx-first"], StorageUnavailable)  # rolled back with it
        for transaction_id, outcome in outcomes.items():
            assert (outcome is None) == (transaction_id in stored), (transaction_id, outcome)
        assert stored == {"tx-after"}  # a unit after the loss starts a new transaction
        async with store.unit():  # and the caches hold nothing of the lost units
            assert await store.session("CP-1001", "tx-first") is None
    finally:
        await store.close()


async def test_an_event_waits_out_a_lock_held_for_a_moment_and_is_answered(central):
    """Another process (a registry import) holds the write lock for a second: the event
    waits for it, up to busy_timeout, rather than closing the link for a replay."""
    link = await open_link(central)
    holder = sqlite3.connect(central.db, isolation_level=None, check_same_thread=False)
    await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(1.0, holder.execute, "ROLLBACK")
    try:
        reply = await rpc(link, "TransactionEvent", STARTED, "e-waits")
    finally:
        holder.close()
    assert reply[:2] == [3, "e-waits"]
    await link.close()
    [session] = await central.store.sessions()
    assert session.transaction_id == "tx-locked"


async def test_a_corrupt_table_fails_the_unit_as_storage_unavailable_keeping_nothing(
        tmp_path):
    """SQLite reports corruption as a bare DatabaseError: like a full disk, a reason to
    leave the event with the station (which keeps it), never a CALLERROR."""
    db = tmp_path / "central.db"
    store = await SqliteStore.open(db)
    await store.import_registry(example_registry())
    await store.close()
    with contextlib.closing(sqlite3.connect(db)) as raw:
        page_bytes = raw.execute("PRAGMA page_size").fetchone()[0]
        root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = "
                           "'transaction_events'").fetchone()[0]
    with db.open("r+b") as file:
        file.seek((root - 1) * page_bytes)
        file.write(b"\xff" * page_bytes)

    store = await SqliteStore.open(db)
    try:
        with pytest.raises(StorageUnavailable, match="malformed"):
            async with store.unit():
                await store.save_session(Session("CP-1001", "tx-corrupt"))
                await store.add_event("CP-1001", "tx-corrupt", 0, "Started", "CablePluggedIn",
                                      datetime(2026, 11, 23, 4, tzinfo=UTC), False, {})
        assert await store.sessions() == []  # the session row of that unit was not kept
    finally:
        await store.close()


async def test_a_binding_caught_by_a_lock_is_planned_as_soon_as_the_lock_goes(
        slow_central, tmp_path):
    """The central closes the link on the Authorized event it cannot store; the agent
    sends it again on the next link at once, not after the response timeout (30 s,
    which at 600x let the departure pass unplanned and the PEV go uncharged). The 7 s
    lock is 70 minutes here and the program's randomized delay up to 15 more: the
    departure leaves room to charge after both."""
    agent = asyncio.create_task(run_agent(
        slow_central, "CP-1001", "--pev", "PEV-0001", "--energy-wh", "6000",
        "--plug-in-at", tonight("20:05"), "--departure", "22:30", "--backoff-cap-s", "1",
        state_dir=tmp_path))
    while not await slow_central.store.sessions():  # the Started event is in
        assert not agent.done(), agent.result()
        await asyncio.sleep(0.001)
    async with writes_locked(slow_central.db):  # the binding handshake is not through
        await asyncio.sleep(7)
    released = time.monotonic()
    while (await slow_central.store.sessions())[0].schedule is None:
        assert time.monotonic() - released < 5, "not planned 5 s after the lock went"
        await asyncio.sleep(0.05)
    run = await agent
    assert run.returncode == 0, run.stderr
    [session] = await slow_central.store.sessions()
    assert session.complete and session.energy_wh > 0
