"""Group commit: units of work arriving within a moment of each other share one durable
transaction, and each returns only once that transaction is committed."""

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime

from central.store import SqliteStore
from central.store.sqlite import COMMIT_WINDOW_S
from tests.helpers import example_registry

AT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


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
