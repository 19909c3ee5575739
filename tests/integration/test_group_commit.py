"""Group commit: units of work arriving within a moment of each other share one durable
transaction, and each returns only once that transaction is committed."""

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

from central.store import SqliteStore
from central.store import sqlite as sqlite_store
from central.store.sqlite import COMMIT_WINDOW_S
from shared.timeutil import to_storage
from tests.helpers import example_registry

AT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
MINUTES = 600
WAL_HEADER, WAL_FRAME_HEADER, PAGE_BYTES = 32, 24, 4096


async def test_units_arriving_within_the_window_share_one_commit_and_return_committed(
        tmp_path):
    store = await SqliteStore.open(tmp_path / "central.db")
    await store.import_registry(example_registry())
    commits: list[str] = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    try:
        async def seen(station: str, after_s: float) -> None:
            await asyncio.sleep(after_s)
            await store.record_seen(station, AT)
            with contextlib.closing(sqlite3.connect(tmp_path / "central.db")) as other:
                assert other.execute("SELECT last_seen FROM station_state WHERE "
                                     "station_id = ?", (station,)).fetchone() is not None

        # the second arrives after the first has written, but inside the commit's window
        await asyncio.gather(seen("CP-1001", 0), seen("CP-1002", COMMIT_WINDOW_S / 4))
        assert commits == ["COMMIT"]

        await seen("CP-1003", 0)  # alone: committed on its own, without waiting for more
        assert commits == ["COMMIT", "COMMIT"]
    finally:
        await store.close()


async def test_units_sharing_a_commit_each_get_the_id_of_their_own_new_row(tmp_path):
    """The writer's statements share one cursor: a unit reads its new row's id before the
    others of its commit run theirs."""
    store = await SqliteStore.open(tmp_path / "central.db")
    await store.import_registry(example_registry())
    try:
        limits = (3000, 4000, 5000)
        made = await asyncio.gather(*(store.add_dr_event(
            AT, AT + timedelta(hours=1), "all", limit, None, 0, AT) for limit in limits))
        stored = {event.id: event.limit_w for event in await store.dr_events()}
        assert {event.id: event.limit_w for event in made} == stored
        assert sorted(stored.values()) == list(limits)
    finally:
        await store.close()


async def test_under_a_steady_stream_of_units_the_wal_starts_again_instead_of_growing(
        tmp_path, monkeypatch):
    """Units never stop arriving, so SQLite would never find the WAL wholly copied at the
    start of a transaction; the store's checkpoints make it so now and then."""
    monkeypatch.setattr(sqlite_store, "UNITS_PER_CHECKPOINT", 40)
    monkeypatch.setattr(sqlite_store, "WAL_FRAMES_KEPT", 50)
    store = await SqliteStore.open(tmp_path / "central.db")
    await store.import_registry(example_registry())
    stations = [f"CP-{n:04d}" for n in range(4)]
    wal = tmp_path / "central.db-wal"
    commits: list[str] = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    try:
        async def stream(station: str) -> None:
            for minute in range(MINUTES):
                await store.record_seen(station, AT + timedelta(minutes=minute))
        await asyncio.gather(*(stream(s) for s in stations))
        assert len(commits) > 300  # the units kept coming, checkpoint after checkpoint
        frames = (wal.stat().st_size - WAL_HEADER) // (WAL_FRAME_HEADER + PAGE_BYTES)
        assert frames < 200  # 670 pages, a page a commit, without the restarts
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "central.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM station_state WHERE last_seen = ?",
                          (to_storage(AT + timedelta(minutes=MINUTES - 1)),)).fetchone()[0] == 4
