"""Transaction messages waiting for the central's acknowledgement, in order, on disk.

Each TransactionEvent is written to a SQLite file (WAL) before it is sent and leaves it
only when the central has answered, so neither a lost connection nor a killed process
loses one. The same write records the session's journal (what a restart needs to carry
on), so a seqNo is never used twice nor skipped. If the queue grows past its limit it
sheds every other periodic meter value, never a Started, Ended or binding event. A message
the central keeps refusing is set aside in the same file, never deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("chargepoint.outbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, sheddable INTEGER NOT NULL,
    queue TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS journal (key TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY, payload TEXT NOT NULL, error TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT '');
"""


def open_db(path: Path | None) -> sqlite3.Connection:
    """The outbox file at `path` (None: in memory, for tests of the agent alone)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None)
    # WAL with synchronous=NORMAL survives a killed process (not a power cut) without
    # an fsync per meter value.
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(SCHEMA)
    for table in ("outbox", "set_aside"):  # files written before queues were shared
        if "queue" not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN queue TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (queue, id)")
    return db


@dataclass
class Pending:
    id: int
    payload: dict[str, Any]
    attempts: int = 0
    done: asyncio.Future[Any] | None = field(default=None, repr=False)


class Outbox:
    def __init__(self, path: Path | None = None, max_messages: int = 20_000, *,
                 shared: sqlite3.Connection | None = None, queue: str = "") -> None:
        """One station's queue, in its own file at `path`, or as `queue` in the `shared`
        file of a fleet (one connection for all, not three open files per station)."""
        self._db = shared if shared is not None else open_db(path)
        self.queue = queue
        self.max_messages = max_messages
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._attempts: dict[int, int] = {}  # failed deliveries, per message
        self._changed = asyncio.Condition()

    async def put(self, payload: dict[str, Any],
                  journal: tuple[str, dict[str, Any]] | None = None) -> asyncio.Future[Any]:
        """Queue a TransactionEvent (and save a journal entry in the same commit)."""
        sheddable = payload.get("trigger_reason") == "MeterValuePeriodic"
        self._db.execute("BEGIN")
        cursor = self._db.execute(
            "INSERT INTO outbox (payload, sheddable, queue) VALUES (?, ?, ?)",
            (json.dumps(payload), int(sheddable), self.queue))
        if journal:
            self._db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?)",
                             (self._key(journal[0]), json.dumps(journal[1])))
        self._db.execute("COMMIT")
        assert cursor.lastrowid is not None
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[cursor.lastrowid] = done
        if len(self) > self.max_messages:
            self._shed()
        async with self._changed:
            self._changed.notify_all()
        return done

    def _shed(self) -> None:
        ids = [row[0] for row in self._db.execute(
            "SELECT id FROM outbox WHERE queue = ? AND sheddable = 1 ORDER BY id", (self.queue,))]
        dropped = ids[::2]
        self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in dropped])
        for message_id in dropped:
            future = self._futures.pop(message_id, None)
            if future and not future.done():
                future.set_result({})
        log.warning("outbox full: shed periodic meter values",
                    extra={"dropped": len(dropped), "kept": len(self)})

    async def head(self) -> Pending:
        """The oldest unacknowledged message (waits for one)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self) > 0)
        row = self._db.execute("SELECT id, payload FROM outbox WHERE queue = ? ORDER BY id "
                               "LIMIT 1", (self.queue,)).fetchone()
        return Pending(row[0], json.loads(row[1]), self._attempts.get(row[0], 0),
                       self._futures.get(row[0]))

    def failed(self, pending: Pending) -> int:
        """Count a failed delivery; returns how many there have been."""
        self._attempts[pending.id] = pending.attempts + 1
        return self._attempts[pending.id]

    async def set_aside(self, pending: Pending, error: str) -> None:
        """Take a message the central keeps refusing out of the queue, keeping it on disk
        (for an operator to look at) so the messages behind it can go."""
        self._db.execute("BEGIN")
        self._db.execute("INSERT INTO set_aside SELECT id, payload, ?, queue FROM outbox "
                         "WHERE id = ?", (error, pending.id))
        self._db.execute("DELETE FROM outbox WHERE id = ?", (pending.id,))
        self._db.execute("COMMIT")
        await self._done(pending, {})

    def set_aside_messages(self) -> list[tuple[dict[str, Any], str]]:
        return [(json.loads(payload), error) for payload, error in self._db.execute(
            "SELECT payload, error FROM set_aside WHERE queue = ? ORDER BY id", (self.queue,))]

    async def acknowledge(self, pending: Pending, response: Any) -> None:
        self._db.execute("DELETE FROM outbox WHERE id = ?", (pending.id,))
        await self._done(pending, response)

    async def _done(self, pending: Pending, response: Any) -> None:
        self._attempts.pop(pending.id, None)
        future = self._futures.pop(pending.id, None)
        if future and not future.done():
            future.set_result(response)
        async with self._changed:
            self._changed.notify_all()

    async def drained(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self) == 0)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE queue = ?",
                                    (self.queue,)).fetchone()[0])

    # --- the session journal ------------------------------------------------------------

    def _key(self, key: str) -> str:
        return f"{self.queue}/{key}" if self.queue else key

    def journal(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT state FROM journal WHERE key = ?",
                               (self._key(key),)).fetchone()
        return json.loads(row[0]) if row else None

    def save_journal(self, key: str, state: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?)",
                         (self._key(key), json.dumps(state)))

    def forget(self, key: str) -> None:
        self._db.execute("DELETE FROM journal WHERE key = ?", (self._key(key),))
