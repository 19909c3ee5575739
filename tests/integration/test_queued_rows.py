"""Transaction events and meter readings are queued by the unit that appends them and go
in with their transaction's COMMIT: what a unit has returned from is durable, a
statement sees every row queued before it, and a failing unit takes its own rows, and
only those, with it."""

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from central.domain.sessions import Session
from central.store import SqliteStore
from central.store.errors import StorageUnavailable
from shared.metering import MeterSample
from tests.helpers import example_registry, writes_locked

AT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
STATION = "CP-1001"


@pytest.fixture
async def store(tmp_path):
    store = await SqliteStore.open(tmp_path / "central.db")
    await store.import_registry(example_registry())
    yield store
    await store.close()


async def new_session(store: SqliteStore, transaction_id: str) -> int:
    async with store.unit():
        session = await store.save_session(Session(STATION, transaction_id))
    assert session.id is not None
    return session.id


async def meter_value(store: SqliteStore, session_id: int, seq_no: int,
                      fails: bool = False, appended: asyncio.Event | None = None) -> None:
    """A meter value's unit: a reading and the event, appended, nothing else; the unit
    sets `appended` once they are (before its commit)."""
    async with store.unit():
        await store.add_readings(session_id, seq_no, [MeterSample(
            AT + timedelta(minutes=seq_no), "Sample.Periodic", 1000 + seq_no, 7000, None)])
        await store.add_event(STATION, f"tx-{session_id}", seq_no, "Updated",
                              "MeterValuePeriodic", AT + timedelta(minutes=seq_no), False, {})
        if appended is not None:
            appended.set()
        if fails:
            raise ValueError("a bug after the rows were appended")


def committed(db: Path) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]:
    """(transaction id, seqNo) of every event and (session id, seqNo) of every reading
    that another connection sees."""
    with contextlib.closing(sqlite3.connect(db)) as other:
        events = other.execute("SELECT transaction_id, seq_no FROM transaction_events")
        readings = other.execute("SELECT session_id, seq_no FROM meter_readings")
        return set(events.fetchall()), set(readings.fetchall())


async def test_a_meter_value_is_durable_when_its_unit_returns_without_a_statement_of_its_own(
        store, tmp_path):
    session_id = await new_session(store, "tx-live")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)

    async def watched() -> None:
        await meter_value(store, session_id, 1)
        events, readings = committed(tmp_path / "central.db")
        assert (f"tx-{session_id}", 1) in events and (session_id, 1) in readings

    await asyncio.gather(watched(), meter_value(store, session_id, 2))
    assert not any("SAVEPOINT" in sql for sql in statements)
    assert statements[-1] == "COMMIT"  # one commit for both, the inserts just before it
    assert committed(tmp_path / "central.db") == (
        {(f"tx-{session_id}", 1), (f"tx-{session_id}", 2)}, {(session_id, 1), (session_id, 2)})


async def test_a_unit_failing_after_it_appended_rows_leaves_the_rest_of_its_commit_whole(
        store, tmp_path):
    first, doomed, after = [await new_session(store, f"tx-{n}") for n in range(3)]
    outcomes = await asyncio.gather(meter_value(store, first, 1),
                                    meter_value(store, doomed, 1, fails=True),
                                    meter_value(store, after, 1), return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert committed(tmp_path / "central.db") == (
        {(f"tx-{first}", 1), (f"tx-{after}", 1)}, {(first, 1), (after, 1)})


async def test_a_statement_sees_the_rows_queued_before_it_and_a_failing_unit_undoes_its_own(
        store, tmp_path):
    session_id = await new_session(store, "tx-read")
    seen: list[list[int]] = []

    async def reads_then_fails() -> None:
        async with store.unit():
            await store.add_readings(session_id, 2, [MeterSample(
                AT + timedelta(minutes=2), "Sample.Periodic", 1002, 7000, None)])
            # the earlier unit's reading (not committed yet) and this unit's own
            seen.append([r.register_wh for r in await store.readings(session_id)])
            raise ValueError("a bug after the read")

    outcomes = await asyncio.gather(meter_value(store, session_id, 1), reads_then_fails(),
                                    meter_value(store, session_id, 3), return_exceptions=True)
    assert seen == [[1001, 1002]]
    assert outcomes[0] is None and isinstance(outcomes[1], ValueError) and outcomes[2] is None
    _, readings = committed(tmp_path / "central.db")
    assert readings == {(session_id, 1), (session_id, 3)}


@pytest.mark.parametrize("statement_after", [False, True], ids=["at COMMIT", "at a statement"])
async def test_rows_that_cannot_go_in_fail_every_unit_of_their_transaction(
        store, tmp_path, statement_after):
    """The store does not tell a duplicate event (the services do, before they append
    one): two units appending one key cannot both go in, and their transaction is lost
    as a whole, whether its COMMIT or a later unit's statement finds it so. Every unit
    of it hears so; none was answered as kept."""
    session_id = await new_session(store, "tx-twice")

    async def saves_a_session() -> None:
        async with store.unit():
            await store.save_session(Session(STATION, "tx-later"))

    units = [meter_value(store, session_id, 1), meter_value(store, session_id, 1)]
    if statement_after:
        units.append(saves_a_session())
    outcomes = await asyncio.gather(*units, return_exceptions=True)
    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
    assert committed(tmp_path / "central.db") == (set(), set())
    assert await store.session(STATION, "tx-later") is None

    await meter_value(store, session_id, 2)  # the store goes on
    assert committed(tmp_path / "central.db") == ({(f"tx-{session_id}", 2)}, {(session_id, 2)})


async def test_a_meter_value_runs_while_the_commit_before_it_waits_and_is_durable_after(
        store, tmp_path):
    """Units that run no statement do not wait for a commit that is writing (or, here,
    waiting for another process's write lock): they join the next one. A unit with a
    statement waits for the connection, then runs."""
    first, second = await new_session(store, "tx-a"), await new_session(store, "tx-b")
    async with writes_locked(tmp_path / "central.db"):
        waiting = asyncio.create_task(meter_value(store, first, 1))
        await asyncio.sleep(0.1)  # its commit has begun, and waits for the lock
        assert not waiting.done()
        appended = asyncio.Event()
        joining = asyncio.create_task(meter_value(store, second, 1, appended=appended))
        await asyncio.wait_for(appended.wait(), 1)  # not held up behind that commit
        with_statement = asyncio.create_task(new_session(store, "tx-c"))
        await asyncio.sleep(0.1)
        assert not with_statement.done()  # its statement waits for the connection
    await asyncio.wait_for(asyncio.gather(waiting, joining, with_statement), 5)
    events, readings = committed(tmp_path / "central.db")
    assert events == {(f"tx-{first}", 1), (f"tx-{second}", 1)}
    assert readings == {(first, 1), (second, 1)}
    assert await store.session_by_id(with_statement.result()) is not None


async def test_a_failed_commit_fails_the_units_that_ran_on_top_of_it(store, tmp_path):
    """Units that ran while a commit was writing read what its units left in the caches:
    if it fails, they are failed too (and the stations replay them), not committed on a
    state that is gone."""
    doubled, after = await new_session(store, "tx-twice"), await new_session(store, "tx-on")
    async with writes_locked(tmp_path / "central.db"):
        lost = [asyncio.create_task(meter_value(store, doubled, 1)) for _ in range(2)]
        await asyncio.sleep(0.1)  # their commit waits for the lock
        on_top = asyncio.create_task(meter_value(store, after, 1))
        waits = asyncio.create_task(new_session(store, "tx-waits"))  # for the connection
        await asyncio.sleep(0.1)
    outcomes = await asyncio.gather(*lost, on_top, waits, return_exceptions=True)
    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
    assert committed(tmp_path / "central.db") == (set(), set())
    assert await store.session(STATION, "tx-waits") is None

    await meter_value(store, after, 2)  # the store goes on
    assert committed(tmp_path / "central.db") == ({(f"tx-{after}", 2)}, {(after, 2)})


@pytest.mark.parametrize("transaction_id, register", [
    ("tx-big", 2**70), ("tx-\ud800", 1000)], ids=["beyond 64 bits", "lone surrogate"])
async def test_a_row_sqlite_cannot_take_fails_its_own_unit_not_its_commit(
        store, tmp_path, transaction_id, register):
    """What the wire brought and SQLite cannot store is refused when it is appended, as
    the insert would have refused it, so the units queued with it are kept."""
    first, after = await new_session(store, "tx-first"), await new_session(store, "tx-after")

    async def unstorable() -> None:
        async with store.unit():
            await store.add_readings(first, 1, [MeterSample(
                AT, "Sample.Periodic", register, None, None)])
            await store.add_event(STATION, transaction_id, 1, "Updated",
                                  "MeterValuePeriodic", AT, False, {})

    outcomes = await asyncio.wait_for(asyncio.gather(
        meter_value(store, first, 1), unstorable(), meter_value(store, after, 1),
        return_exceptions=True), 5)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], OverflowError | UnicodeEncodeError), outcomes[1]
    assert committed(tmp_path / "central.db") == (
        {(f"tx-{first}", 1), (f"tx-{after}", 1)}, {(first, 1), (after, 1)})
