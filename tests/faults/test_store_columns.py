"""A session's record reads back as it was written, whatever a station sent, and its
indexed columns (status, payer, start, premise) stay true to it: through a unit that
failed after changing them, and in a database an earlier version wrote, where the
premise was indexed inside the record's JSON."""

import asyncio
import json
import sqlite3
import sys

import pytest

from central.domain.sessions import Session
from central.store import SqliteStore
from central.store.sqlite import _session_data
from tests.helpers import ROOT

COLUMNS = "SELECT status, payer_account, premise_id FROM sessions WHERE transaction_id = ?"


async def test_a_unit_that_failed_after_binding_leaves_the_columns_as_committed(tmp_path):
    path = tmp_path / "central.db"
    store = await SqliteStore.open(path)
    try:
        async with store.unit():
            session = await store.save_session(Session("CP-1001", "tx-1"))
        with pytest.raises(RuntimeError):
            async with store.unit():
                session.payer_account, session.premise_id = "A-1001", "P-1001"
                await store.save_session(session)
                raise RuntimeError("the unit fails after the write")
        with sqlite3.connect(path) as db:
            assert db.execute(COLUMNS, ("tx-1",)).fetchone() == ("active", None, None)
        async with store.unit():  # the same change again: it must reach the columns
            await store.save_session(session)
        async with store.unit():  # and an event that changes nothing indexed
            session.energy_wh = 10
            await store.save_session(session)
        with sqlite3.connect(path) as db:
            assert db.execute(COLUMNS, ("tx-1",)).fetchone() == ("active", "A-1001", "P-1001")
        assert [s.energy_wh for s in await store.live_sessions_at("P-1001")] == [10]
    finally:
        await store.close()


def as_an_earlier_version_left_it(path, sessions=()):
    """A database without the premise column, its premise indexed inside the JSON, and
    `sessions` written as that version writes them."""
    with sqlite3.connect(path) as db:
        db.executescript("""
            DROP INDEX IF EXISTS sessions_live_by_premise;
            ALTER TABLE sessions DROP COLUMN premise_id;""")
        write_as_an_earlier_version(db, sessions)


def write_as_an_earlier_version(db, sessions):
    db.execute("CREATE INDEX IF NOT EXISTS sessions_live_at_premise ON sessions "
               "(json_extract(data, '$.premise_id')) WHERE status = 'active'")
    db.executemany("INSERT INTO sessions (station_id, transaction_id, data, status, "
                   "payer_account) VALUES (?, ?, ?, ?, ?)",
                   [(s.station_id, s.transaction_id, json.dumps(_session_data(s)), s.status,
                     s.payer_account) for s in sessions])


def live(transaction_id):
    return Session("CP-1001", transaction_id, payer_account="A-1001", premise_id="P-1001")


async def new_database(path):
    store = await SqliteStore.open(path)
    await store.close()


async def live_at_premise(path):
    store = await SqliteStore.open(path)
    try:
        return sorted(s.transaction_id for s in await store.live_sessions_at("P-1001"))
    finally:
        await store.close()


async def test_a_database_from_before_the_premise_column_finds_its_live_sessions(tmp_path):
    path = tmp_path / "central.db"
    await new_database(path)
    as_an_earlier_version_left_it(path, [live("tx-old")])
    assert await live_at_premise(path) == ["tx-old"]
    with sqlite3.connect(path) as db:
        indexes = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "sessions_live_by_premise" in indexes
    assert "sessions_live_at_premise" not in indexes

    # The earlier version, run again on the migrated file (a rollback), writes sessions
    # without the column: they are found when this version opens it again.
    with sqlite3.connect(path) as db:
        write_as_an_earlier_version(db, [live("tx-during-rollback")])
    assert await live_at_premise(path) == ["tx-during-rollback", "tx-old"]


async def test_two_processes_opening_an_earlier_database_together_both_start(tmp_path):
    """The migration of a year of sessions takes a while: another process (a CLI command
    next to the server) must wait for it, not fail on a half-done schema."""
    path = tmp_path / "central.db"
    await new_database(path)
    as_an_earlier_version_left_it(path, [Session("CP-1001", f"tx-{i}", status="ended")
                                         for i in range(20_000)])
    opening = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "dr", "list", "--db", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
        for _ in range(2)]
    results = [await process.communicate() for process in opening]
    assert [process.returncode for process in opening] == [0, 0], results


async def test_a_record_with_an_integer_beyond_64_bits_reads_back_exactly(tmp_path):
    """A schema integer has no upper bound: an absurd energy request is stored as sent."""
    store = await SqliteStore.open(tmp_path / "central.db")
    try:
        async with store.unit():
            await store.save_session(Session("CP-1001", "tx-big", energy_requested_wh=10**30,
                                             dr_energy_wh={"7": 2**64}))
        [stored] = await store.sessions()
        assert stored.energy_requested_wh == 10**30 and stored.dr_energy_wh == {"7": 2**64}
        with pytest.raises(TypeError, match="not JSON serializable"):  # a bug, not text
            async with store.unit():
                await store.save_session(Session("CP-1001", "tx-bug", schedule={"at": stored}))
    finally:
        await store.close()
