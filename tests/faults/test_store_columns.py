"""A session's record reads back as it was written, whatever a station sent, and its
indexed columns (status, payer, start, premise) stay true to it: through a unit that
failed after changing them, and in a database an earlier version wrote, where the
premise was indexed inside the record's JSON."""

import json
import sqlite3

import pytest

from central.sessions import Session
from central.store import SqliteStore
from central.store.sqlite import _session_data

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


async def test_a_database_from_before_the_premise_column_finds_its_live_sessions(tmp_path):
    path = tmp_path / "central.db"
    store = await SqliteStore.open(path)
    await store.close()
    old = Session("CP-1001", "tx-old", status="active", payer_account="A-1001",
                  premise_id="P-1001")
    with sqlite3.connect(path) as db:  # as the earlier version left it
        db.executescript("""
            DROP INDEX sessions_live_by_premise;
            ALTER TABLE sessions DROP COLUMN premise_id;
            CREATE INDEX sessions_live_at_premise ON sessions
                (json_extract(data, '$.premise_id')) WHERE status = 'active';""")
        db.execute("INSERT INTO sessions (station_id, transaction_id, data, status, "
                   "payer_account) VALUES ('CP-1001', 'tx-old', ?, 'active', 'A-1001')",
                   (json.dumps(_session_data(old)),))
    store = await SqliteStore.open(path)
    try:
        assert [s.transaction_id for s in await store.live_sessions_at("P-1001")] == ["tx-old"]
        with sqlite3.connect(path) as db:
            indexes = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "sessions_live_by_premise" in indexes
        assert "sessions_live_at_premise" not in indexes
    finally:
        await store.close()


async def test_a_record_with_an_integer_beyond_64_bits_reads_back_exactly(tmp_path):
    """A schema integer has no upper bound: an absurd energy request is stored as sent."""
    store = await SqliteStore.open(tmp_path / "central.db")
    try:
        async with store.unit():
            await store.save_session(Session("CP-1001", "tx-big", energy_requested_wh=10**30,
                                             dr_energy_wh={"7": 2**64}))
        [stored] = await store.sessions()
        assert stored.energy_requested_wh == 10**30 and stored.dr_energy_wh == {"7": 2**64}
    finally:
        await store.close()
