"""SQLite store: WAL, one writer at a time, the WAL synced after each COMMIT.

Every unit of work runs under one asyncio lock on one connection and commits before the
caller answers the station, so an acknowledged event survives a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextvars import ContextVar, Token
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson

from central.domain.billing import Reading
from central.domain.demand import DrEvent
from central.domain.device_reports import ReportPart
from central.domain.registry import (
    ENTRY_KINDS,
    Account,
    Identifier,
    Pev,
    Premise,
    Program,
    Registry,
    Station,
    Utility,
)
from central.domain.sessions import LIVE_VIEW, Session, SessionLine
from central.store.appends import Appends, check_storable
from central.store.batch import Batch
from central.store.errors import StorageUnavailable
from central.store.seqnos import SeqNos
from central.store.walsync import WalSync
from shared.metering import MeterSample
from shared.tariff import Tariff, parse_tariff, tariff_definition
from shared.timeutil import parse_timestamp, to_storage, to_wire, wire_from_storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS utility (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL, timezone TEXT NOT NULL, currency TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tariffs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, illustrative INTEGER NOT NULL,
    definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS programs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, tariff_id TEXT NOT NULL REFERENCES tariffs(id),
    economy INTEGER NOT NULL, max_power_w INTEGER NOT NULL, randomized_delay_s INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS premises (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), address TEXT NOT NULL,
    territory TEXT NOT NULL, rate_plan TEXT NOT NULL REFERENCES tariffs(id),
    service_limit_w INTEGER NOT NULL, guest_policy TEXT NOT NULL, host_pays_for TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stations (
    id TEXT PRIMARY KEY, premise_id TEXT NOT NULL REFERENCES premises(id), kind TEXT NOT NULL,
    eumd_serial TEXT NOT NULL, max_power_w INTEGER NOT NULL, password_hash TEXT NOT NULL,
    security_profile INTEGER NOT NULL DEFAULT 1,
    ocpp_versions TEXT NOT NULL DEFAULT '2.1,2.0.1,1.6');
CREATE TABLE IF NOT EXISTS pevs (
    id TEXT PRIMARY KEY, vin TEXT, owner_account TEXT NOT NULL REFERENCES accounts(id),
    home_premise TEXT NOT NULL REFERENCES premises(id),
    program_id TEXT NOT NULL REFERENCES programs(id), territory TEXT NOT NULL,
    status TEXT NOT NULL, valid_until TEXT, group_id TEXT);
CREATE TABLE IF NOT EXISTS pev_identifiers (
    id_token TEXT NOT NULL, token_type TEXT NOT NULL,
    pev_id TEXT NOT NULL REFERENCES pevs(id) ON DELETE CASCADE,
    PRIMARY KEY (id_token, token_type));
CREATE TABLE IF NOT EXISTS station_state (
    station_id TEXT PRIMARY KEY, vendor TEXT, model TEXT, firmware TEXT, booted_at TEXT,
    last_seen TEXT, connectors TEXT NOT NULL DEFAULT '{}', ocpp_version TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, station_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
    data TEXT NOT NULL, status TEXT NOT NULL, payer_account TEXT, started_at TEXT,
    premise_id TEXT, UNIQUE (station_id, transaction_id));
CREATE TABLE IF NOT EXISTS transaction_events (
    station_id TEXT NOT NULL, transaction_id TEXT NOT NULL, seq_no INTEGER NOT NULL,
    event_type TEXT NOT NULL, trigger_reason TEXT NOT NULL, timestamp TEXT NOT NULL,
    offline INTEGER NOT NULL, reply TEXT NOT NULL,
    PRIMARY KEY (station_id, transaction_id, seq_no));
CREATE TABLE IF NOT EXISTS meter_readings (
    session_id INTEGER NOT NULL REFERENCES sessions(id), seq_no INTEGER NOT NULL,
    timestamp TEXT NOT NULL, context TEXT NOT NULL, register_wh INTEGER,
    power_w INTEGER, ev_total_wh INTEGER);
CREATE TABLE IF NOT EXISTS assigned_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT NOT NULL, start TEXT NOT NULL,
    UNIQUE (station_id, start));
CREATE TABLE IF NOT EXISTS premise_credits (
    session_id INTEGER PRIMARY KEY REFERENCES sessions(id), premise_id TEXT NOT NULL,
    account_id TEXT NOT NULL, started_at TEXT NOT NULL, energy_wh INTEGER NOT NULL,
    value TEXT NOT NULL, by_period TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dr_events (
    id INTEGER PRIMARY KEY, start TEXT NOT NULL, end TEXT NOT NULL, scope TEXT NOT NULL,
    limit_w INTEGER, reduce_pct INTEGER, randomize_s INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0, cancelled_at TEXT,
    changed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS station_messages (
    id INTEGER PRIMARY KEY, station_id TEXT NOT NULL, received_at TEXT NOT NULL,
    action TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS report_parts (
    station_id TEXT NOT NULL, action TEXT NOT NULL, request_id INTEGER NOT NULL,
    seq_no INTEGER NOT NULL, tbc INTEGER NOT NULL, generated_at TEXT NOT NULL,
    received_at TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (station_id, action, request_id, seq_no));
"""

# After _migrate: they may index columns an earlier version did not have.
INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_payer ON sessions (payer_account, started_at);
CREATE INDEX IF NOT EXISTS credits_account ON premise_credits (account_id, started_at);
CREATE INDEX IF NOT EXISTS meter_readings_session ON meter_readings (session_id, timestamp);
CREATE INDEX IF NOT EXISTS pev_identifiers_pev ON pev_identifiers (pev_id);
CREATE INDEX IF NOT EXISTS sessions_live_by_premise ON sessions (premise_id)
    WHERE status = 'active';
CREATE INDEX IF NOT EXISTS station_messages_by_station ON station_messages (station_id);
"""


log = logging.getLogger("central.store")
_in_unit: ContextVar[bool] = ContextVar("in_unit", default=False)
T = TypeVar("T")
LIVE_SESSIONS_KEPT = 50_000
# Counted in units, not commits: under a heavy load a commit carries hundreds of them,
# and a hundred commits left 37,000 frames in the WAL for the first checkpoint.
UNITS_PER_CHECKPOINT = 1000
WAL_FRAMES_KEPT = 4096  # frames (16 MB of 4 KiB pages): past this, the WAL is restarted
WAL_FRAMES_LEFT = 500  # ... when a checkpoint left no more than this for the writer to wait on
UNHELD_PASSES = 3  # ... within this many checkpoints that do not hold the writer
WAL_BYTES_LIMIT = 64 * 2**20  # a WAL that a burst grew past this is cut back on restart
# A commit waits this long for more units to join it: at a moderate rate (1,000 events/s)
# a lone event per transaction paid a thread hop, a BEGIN and an fsync of its own.
COMMIT_WINDOW_S = 0.001
# The writer's page cache. Each event inserts into two indexes at its station's own place
# (events by station, readings by session) and rewrites its session's row: with a
# thousand stations live, those pages outgrew SQLite's default 2 MB as the tables grew,
# and every event then read several back from the OS (14 -> 9 us of SQL per event at
# 80,000 events in a micro-benchmark).
WRITER_CACHE_KIB = 64 * 1024
BUSY_TIMEOUT_MS = 5000  # how long a write waits for another process's lock


class NotFound(LookupError):
    """A registry entry the caller asked for does not exist."""


def _storage_failure(error: BaseException) -> bool:
    """The database could not do the work (locked, full, I/O error: OperationalError;
    corrupt or not a database: DatabaseError itself), as opposed to refusing it (a
    constraint: IntegrityError) or a bug (ProgrammingError, InterfaceError)."""
    return isinstance(error, sqlite3.OperationalError | sqlite3.InternalError) \
        or type(error) is sqlite3.DatabaseError


class SqliteStore:
    """Writes go through units of work on one connection; reads outside a unit use a
    second one, in a worker thread, which sees only what is committed.

    Group commit: a unit's writes join the open transaction (from its first statement
    in a savepoint of its own, so a failing unit leaves the others whole; rows that are
    only appended are queued, central/store/appends.py), and the unit returns only once a
    COMMIT and an fdatasync of the WAL after it (walsync) have made them durable. Units
    that arrive while a commit runs share the next one, so one fdatasync serves many
    events: those that run no statement run meanwhile, the others once it is written,
    and the next units' statements run while the disk syncs. A commit that fails fails
    the units that ran on top of it too. Statements run on
    the event loop's thread (microseconds: the pages are cached, nothing is synced); what
    may wait, COMMIT with the queued rows before it, the fdatasync and the write lock
    (BEGIN) while another process holds it, runs in a worker thread.
    """

    _unit_token: Token[bool]  # the running unit's (one at a time, under the lock)

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection,
                 checkpointer: sqlite3.Connection, wal: WalSync) -> None:
        self._db = writer
        # The loop's statements on the writer share one cursor, each read to its end at
        # once (Connection.execute makes a cursor per call: 1 % of what an event costs the
        # central). COMMIT and ROLLBACK, in worker threads, make their own.
        self._sql = writer.cursor()
        self._wal = wal
        self._reader = reader
        # The writer never checkpoints (a checkpoint inside a COMMIT would hold up every
        # reply waiting for it); a third connection copies the WAL into the database in a
        # thread, now and then, while units carry on.
        self._checkpointer = checkpointer
        self._checkpoint: asyncio.Task[None] | None = None
        self._units_uncopied = 0  # committed since the last checkpoint began
        self._lock = asyncio.Lock()  # one unit or commit on the writer at a time
        self._read_lock = asyncio.Lock()  # one read on the reader at a time
        self._batch: Batch | None = None  # the units of the open transaction
        # Live sessions as the units saved them, so an event need not decode its session
        # again. Whatever a unit or a commit that failed touched is forgotten.
        self._live: dict[tuple[str, str], Session] = {}
        # ... and, for those, the seqNos of every event stored, so that telling a new
        # event from a duplicate needs no lookup (loaded at a live session's 2nd event).
        self._seq_nos: dict[tuple[str, str], SeqNos] = {}
        # ... and the indexed columns of their rows as last written, so that an event that
        # leaves them as they were rewrites only the record.
        self._columns: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._unit_touched: set[tuple[str, str]] = set()
        self._batch_touched: set[tuple[str, str]] = set()
        self._batch_units = 0
        self._tariffs: dict[str, Tariff] = {}  # parsed once; cleared when tariffs change
        self._commits: set[asyncio.Task[None]] = set()  # the open batches' commits, pending
        # Appended rows not yet inserted: the open transaction's finished units', and the
        # running unit's own. A statement inserts them first: it sees every row before it.
        self._batch_rows = Appends()
        self._unit_rows = Appends()
        self._savepoint = False  # the running unit has made a statement, in a savepoint
        self._writing: asyncio.Future[None] | None = None  # a commit, writing: units go on
        self._losses = 0  # transactions lost so far: a unit that saw one during it fails
        self._unit_losses = 0

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        def connect() -> tuple[sqlite3.Connection, sqlite3.Connection, sqlite3.Connection,
                               WalSync]:
            writer = _connect(path)
            try:
                mode = writer.execute("PRAGMA journal_mode").fetchone()[0]
                if mode != "wal":
                    raise StorageUnavailable(f"{path}: SQLite keeps no write-ahead log there "
                                             f"(journal mode {mode}); use a file on a local "
                                             "disk")
                writer.executescript(SCHEMA)
                _migrate(writer)
                writer.executescript(INDEXES)
                writer.execute("PRAGMA wal_autocheckpoint = 0")
                writer.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
                writer.execute(f"PRAGMA journal_size_limit = {WAL_BYTES_LIMIT}")
                writer.execute("PRAGMA synchronous = NORMAL")  # WalSync syncs after COMMIT
                # the file as SQLite names it (a symlink's target, not the link)
                database = writer.execute("PRAGMA database_list").fetchone()["file"]
                wal = WalSync(Path(f"{database}-wal"))
            except BaseException:
                writer.close()
                raise
            return writer, _connect(path), _connect(path), wal
        return cls(*await asyncio.to_thread(connect))

    async def close(self) -> None:
        async with self._lock:
            await self._commit_open()  # units finished, their commit not yet run
            if (checkpoint := self._checkpoint) is not None:  # it may wait for this lock
                checkpoint.cancel()
                await asyncio.wait([checkpoint])
            await self._wal.close()
            self._db.close()
            async with self._read_lock:
                self._reader.close()
            self._checkpointer.close()

    def unit(self) -> _Unit:
        """One atomic unit of work, durable when its `async with` returns; nothing of it
        is kept if it fails."""
        return _Unit(self)

    async def _enter_unit(self) -> None:
        if self._wal.failure is not None:
            raise StorageUnavailable(self._wal.failure)
        await self._lock.acquire()
        self._unit_touched, self._savepoint = set(), False
        self._unit_losses = self._losses
        self._unit_token = _in_unit.set(True)

    async def _exit_unit(self, error: BaseException | None) -> None:
        """Keep the unit's work for the open transaction's commit and wait for it; or, if
        the unit failed, undo it (StorageUnavailable for what the database could not do)."""
        try:
            if error is None and self._losses != self._unit_losses:
                # a commit failed while this unit ran on what it had left in the caches
                error = StorageUnavailable("transaction lost: the commit before it failed")
            if error is not None:
                try:
                    if not self._savepoint:  # it ran no statement: nothing to undo there
                        self._forget(self._unit_touched)
                    elif self._db.in_transaction:
                        self._sql.execute("ROLLBACK TO unit")
                        self._sql.execute("RELEASE unit")
                        self._forget(self._unit_touched)
                    else:  # SQLite rolled back the whole transaction (disk full, I/O error)
                        self._batch_lost(error)
                finally:
                    self._unit_rows.clear()
                    _in_unit.reset(self._unit_token)
                if isinstance(error, StorageUnavailable):
                    raise error
                if _storage_failure(error):
                    raise StorageUnavailable(str(error)) from error
                return
            _in_unit.reset(self._unit_token)
            if self._savepoint:
                self._sql.execute("RELEASE unit")
            self._unit_rows.move_to(self._batch_rows)
            self._batch_touched |= self._unit_touched
            self._batch_units += 1
            if self._batch is None:
                self._batch = Batch()
                commit = asyncio.create_task(self._commit())
                self._commits.add(commit)
                commit.add_done_callback(self._commits.discard)
            durable = self._batch.join()
        finally:
            self._lock.release()
        await durable

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, here if the write lock is free (nearly always: in WAL mode
        readers and checkpoints do not take it), sparing each commit a thread hop; else
        in a worker thread, waiting up to busy_timeout for the process that holds it."""
        self._sql.execute("PRAGMA busy_timeout = 0")
        try:
            self._sql.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
        finally:
            self._sql.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await _in_thread(self._db.execute, "BEGIN IMMEDIATE")

    def _batch_lost(self, error: BaseException) -> None:
        """The open transaction is gone: its units finished earlier are told, not
        committed, and nothing they touched stays cached."""
        self._forget(self._unit_touched | self._batch_touched)
        self._batch_touched, self._batch_units = set(), 0
        self._batch_rows.clear()
        if self._batch is not None:
            self._batch.settle(f"transaction rolled back: {error}")
            self._batch = None

    async def _connection_free(self) -> None:
        """Once no commit is writing on the connection."""
        while self._writing is not None:
            await asyncio.shield(self._writing)

    async def _commit(self) -> None:
        """The batch's commit, a moment after its first unit. Units go on while it writes:
        they join the next batch, and wait for the connection only for a statement."""
        await asyncio.sleep(COMMIT_WINDOW_S)
        while True:
            await self._connection_free()  # the previous batch's commit is done
            async with self._lock:  # after the units already waiting: they join this batch
                if self._writing is not None:
                    continue  # another commit got in first
                if self._batch is None:  # lost, or committed by an earlier _commit
                    return
                writing = self._start_commit()
            break
        await self._end_commit(*writing)

    async def _commit_open(self) -> None:
        """Commit the open batch, if any, here (the caller holds the lock)."""
        await self._connection_free()
        if self._batch is not None or self._db.in_transaction:
            await self._end_commit(*self._start_commit())

    def _start_commit(self) -> tuple[Batch | None, set[tuple[str, str]], int, Appends]:
        """Take the open batch for a commit, and the connection with it."""
        self._writing = asyncio.get_running_loop().create_future()
        batch, self._batch = self._batch, None
        touched, self._batch_touched = self._batch_touched, set()
        units, self._batch_units = self._batch_units, 0
        rows, self._batch_rows = self._batch_rows, Appends()
        return batch, touched, units, rows

    async def _end_commit(self, batch: Batch | None, touched: set[tuple[str, str]],
                          units: int, rows: Appends) -> None:
        writing = self._writing
        assert writing is not None
        try:
            await _in_thread(self._insert_and_commit, rows)
        except Exception as error:  # whatever it was (a bug too), the batch is not kept
            self._forget(touched)
            if batch is not None:
                batch.settle(str(error))
            # ... nor what the units since built on it (they read what it left cached)
            self._losses += 1
            self._batch_lost(error)
        else:
            if batch is not None:
                self._wal.committed(batch)
            self._units_uncopied += units
            if self._units_uncopied >= UNITS_PER_CHECKPOINT and self._checkpoint is None:
                self._units_uncopied = 0
                self._checkpoint = asyncio.create_task(self._copy_wal())
        finally:
            self._writing = None
            writing.set_result(None)

    def _insert_and_commit(self, rows: Appends) -> None:
        """In the commit's worker thread: BEGIN if no unit's statement did (waiting up to
        busy_timeout for another process's write lock), the queued rows, COMMIT; or, if
        any fails, ROLLBACK."""
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            rows.insert(self._db.cursor())
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    async def _copy_wal(self) -> None:
        """PASSIVE checkpoints, which copy what they can without waiting for anyone.

        SQLite starts the WAL again from its top at a commit whose transaction began with
        all of it copied, if no reader is using it then; under steady load that never
        happens by itself (units append while the copy runs), and the WAL grew by some
        2,000 frames a second, without end. So once it is past WAL_FRAMES_KEPT, and a copy
        has left at most WAL_FRAMES_LEFT behind it, those are copied with the writer held
        (about a millisecond), and the next unit's commit can start the WAL again."""
        try:
            frames, left = await self._checkpoint_passive()
            for _ in range(UNHELD_PASSES - 1):  # what the units appended meanwhile
                if left <= WAL_FRAMES_LEFT:
                    break
                frames, left = await self._checkpoint_passive()
            if frames > WAL_FRAMES_KEPT and left <= WAL_FRAMES_LEFT:
                async with self._lock:
                    await self._commit_open()  # units done, their commit not yet run
                    await self._checkpoint_passive()
        except sqlite3.DatabaseError as error:  # the next one tries again; the WAL keeps all
            log.warning("checkpoint failed", extra={"error": str(error)})
        except Exception:  # a bug; logged here, as nobody awaits this task
            log.exception("checkpoint failed")
        finally:
            self._checkpoint = None

    async def _checkpoint_passive(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: the WAL's length in frames, and how many it left."""
        def checkpoint() -> tuple[int, int]:
            _, frames, copied = self._checkpointer.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(frames), int(frames) - int(copied)
        return await _in_thread(checkpoint)

    def _forget(self, keys: Iterable[tuple[str, str]]) -> None:
        for key in keys:
            self._live.pop(key, None)
            self._seq_nos.pop(key, None)
            self._columns.pop(key, None)

    async def _statement(self) -> sqlite3.Cursor:
        """The shared cursor, for a unit's statement, once the connection is free of any
        commit, a transaction begun, and every row queued before it in: the transaction's,
        outside the unit's savepoint (begun at its first statement, so that its work can
        be undone), then the unit's own, inside it. Rows that cannot go in lose the
        transaction they were promised to."""
        if not self._savepoint:
            await self._connection_free()
            if not self._db.in_transaction:
                try:
                    await self._begin()
                except sqlite3.DatabaseError as error:  # BEGIN refuses nothing: a failure
                    raise StorageUnavailable(str(error)) from error
            try:
                self._batch_rows.insert(self._sql)
            except sqlite3.DatabaseError as error:
                if self._db.in_transaction:
                    self._sql.execute("ROLLBACK")
                self._batch_lost(error)
                raise StorageUnavailable(f"transaction lost: {error}") from error
            self._sql.execute("SAVEPOINT unit")
            self._savepoint = True
        self._unit_rows.insert(self._sql)
        return self._sql

    async def _write(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """The shared cursor: read its rowcount or lastrowid before the next statement."""
        assert _in_unit.get(), "writes go inside store.unit()"
        return (await self._statement()).execute(sql, args)

    async def _write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        assert _in_unit.get(), "writes go inside store.unit()"
        (await self._statement()).executemany(sql, rows)

    async def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        rows = await self._all(sql, *args)
        return rows[0] if rows else None

    async def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """In a unit: on the writer, here (it sees the unit's own writes). Outside: on the
        reader, in a thread, so a long report never holds up the event loop."""
        if _in_unit.get():
            return (await self._statement()).execute(sql, args).fetchall()
        async with self._read_lock:  # one thread at a time on a connection
            return await _in_thread(lambda: self._reader.execute(sql, args).fetchall())

    # --- registry -------------------------------------------------------------------

    async def known_ids(self) -> dict[str, set[str]]:
        return {table: {row[0] for row in await self._all(f"SELECT id FROM {table}")}
                for table in ("tariffs", "programs", "accounts", "premises")}

    async def import_registry(self, registry: Registry) -> None:
        """Insert or update every entry of `registry` in one transaction."""
        u = registry.utility
        async with self.unit():
            await self._write(
                "INSERT INTO utility VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "name = excluded.name, timezone = excluded.timezone, currency = excluded.currency",
                (u.name, u.timezone.key, u.currency))
            for kind in ENTRY_KINDS:  # in an order that satisfies the references
                await self._upsert_entries(kind, getattr(registry, kind))

    async def upsert_entry(self, kind: str, entry: Any) -> None:
        """Insert or update one registry entry (already validated)."""
        async with self.unit():
            await self._upsert_entries(kind, [entry])

    async def delete_entry(self, kind: str, entry_id: str) -> bool:
        """Delete one registry entry; False if there is none. Raises sqlite3.IntegrityError
        while anything still refers to it."""
        assert kind in ENTRY_KINDS
        async with self.unit():
            if kind == "pevs":
                await self._write("DELETE FROM pev_identifiers WHERE pev_id = ?",
                                       (entry_id,))
            cursor = await self._write(f"DELETE FROM {kind} WHERE id = ?", (entry_id,))
            return cursor.rowcount == 1

    async def _upsert_entries(self, kind: str, entries: Sequence[Any]) -> None:
        self._tariffs.clear()
        await self._upsert(kind, [_row(kind, e) for e in entries])
        if kind == "pevs":
            # Replace the identifiers of all these PEVs at once, so one may move from
            # one PEV to another within a single import.
            await self._write_many("DELETE FROM pev_identifiers WHERE pev_id = ?",
                                       [(pev.id,) for pev in entries])
            await self._write_many(
                "INSERT INTO pev_identifiers VALUES (?, ?, ?)",
                [(i.id_token, i.type, pev.id) for pev in entries
                 for i in pev.all_identifiers()])

    async def _upsert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        columns = [row[1] for row in await self._all(f"PRAGMA table_info({table})")]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        marks = ", ".join("?" for _ in columns)
        await self._write_many(
            f"INSERT INTO {table} VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates}", rows)

    async def utility(self) -> Utility:
        row = await self._one("SELECT * FROM utility")
        if row is None:
            raise NotFound("no utility in the registry: import a registry file first")
        return Utility(row["name"], ZoneInfo(row["timezone"]), row["currency"])

    async def tariff(self, tariff_id: str) -> Tariff:
        if tariff_id in self._tariffs:
            return self._tariffs[tariff_id]
        row = await self._one("SELECT * FROM tariffs WHERE id = ?", tariff_id)
        if row is None:
            raise NotFound(f"unknown tariff {tariff_id!r}")
        utility = await self.utility()
        tariff = parse_tariff(row["id"], row["name"], utility.timezone,
                              json.loads(row["definition"]), bool(row["illustrative"]))
        self._tariffs[tariff_id] = tariff
        return tariff

    async def program(self, program_id: str) -> Program:
        row = await self._one("SELECT * FROM programs WHERE id = ?", program_id)
        if row is None:
            raise NotFound(f"unknown program {program_id!r}")
        return _program(row)

    async def premise(self, premise_id: str) -> Premise:
        row = await self._one("SELECT * FROM premises WHERE id = ?", premise_id)
        if row is None:
            raise NotFound(f"unknown premise {premise_id!r}")
        return _premise(row)

    async def station(self, station_id: str) -> Station | None:
        row = await self._one("SELECT * FROM stations WHERE id = ?", station_id)
        return _station(row) if row else None

    async def pev(self, pev_id: str) -> Pev:
        row = await self._one("SELECT * FROM pevs WHERE id = ?", pev_id)
        if row is None:
            raise NotFound(f"unknown PEV {pev_id!r}")
        identifiers = await self._all(
            "SELECT id_token, token_type FROM pev_identifiers WHERE pev_id = ? "
            "AND token_type NOT IN ('Central', 'VIN') ORDER BY rowid", pev_id)
        return _pev(row, identifiers)

    async def find_pev(self, identifiers: Iterable[Identifier]) -> Pev | None:
        """The PEV any of these identifiers belongs to (the first one that matches)."""
        for identifier in identifiers:
            row = await self._one(
                "SELECT pev_id FROM pev_identifiers WHERE id_token = ? AND token_type = ?",
                identifier.id_token, identifier.type)
            if row:
                return await self.pev(row["pev_id"])
        return None

    async def registry(self) -> Registry:
        utility = await self.utility()
        tariffs = [await self.tariff(r["id"]) for r in await self._all(
            "SELECT id FROM tariffs ORDER BY id")]
        return Registry(
            utility, tuple(tariffs),
            tuple(_program(r) for r in await self._all("SELECT * FROM programs ORDER BY id")),
            tuple(Account(r["id"], r["name"]) for r in await self._all(
                "SELECT * FROM accounts ORDER BY id")),
            tuple(_premise(r) for r in await self._all("SELECT * FROM premises ORDER BY id")),
            tuple(_station(r) for r in await self._all("SELECT * FROM stations ORDER BY id")),
            tuple([await self.pev(r["id"]) for r in await self._all(
                "SELECT id FROM pevs ORDER BY id")]))

    # --- connected stations -----------------------------------------------------------

    async def record_boot(self, station_id: str, vendor: str, model: str,
                          firmware: str | None, at: datetime, ocpp_version: str) -> None:
        async with self.unit():
            await self._write(
                "INSERT INTO station_state (station_id, vendor, model, firmware, booted_at, "
                "last_seen, ocpp_version) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(station_id) DO UPDATE SET vendor = excluded.vendor, "
                "model = excluded.model, firmware = excluded.firmware, "
                "booted_at = excluded.booted_at, last_seen = excluded.last_seen, "
                "ocpp_version = excluded.ocpp_version",
                (station_id, vendor, model, firmware, to_storage(at), to_storage(at),
                 ocpp_version))

    async def record_seen(self, station_id: str, at: datetime) -> None:
        async with self.unit():
            await self._write(
                "INSERT INTO station_state (station_id, last_seen) VALUES (?, ?) "
                "ON CONFLICT(station_id) DO UPDATE SET last_seen = excluded.last_seen",
                (station_id, to_storage(at)))

    async def record_connector_status(self, station_id: str, evse_id: int, connector_id: int,
                                      status: str, at: datetime) -> None:
        async with self.unit():
            row = await self._one("SELECT connectors FROM station_state WHERE station_id = ?",
                                  station_id)
            connectors = json.loads(row["connectors"]) if row else {}
            connectors[f"{evse_id}/{connector_id}"] = {"status": status, "at": to_storage(at)}
            await self._write(
                "INSERT INTO station_state (station_id, last_seen, connectors) VALUES (?, ?, ?) "
                "ON CONFLICT(station_id) DO UPDATE SET last_seen = excluded.last_seen, "
                "connectors = excluded.connectors",
                (station_id, to_storage(at), _json(connectors)))

    async def station_state(self, station_id: str) -> dict[str, Any]:
        """What the station told us: boot info, last message, connector statuses."""
        row = await self._one("SELECT * FROM station_state WHERE station_id = ?", station_id)
        if row is None:
            return {"vendor": None, "model": None, "ocpp_version": None, "booted_at": None,
                    "last_seen": None, "connectors": {}}
        return {"vendor": row["vendor"], "model": row["model"],
                "ocpp_version": row["ocpp_version"],
                "booted_at": _wire(row["booted_at"]), "last_seen": _wire(row["last_seen"]),
                "connectors": {k: {"status": v["status"], "at": _wire(v["at"])}
                               for k, v in json.loads(row["connectors"]).items()}}

    # --- what stations report ---------------------------------------------------------

    async def add_station_message(self, station_id: str, action: str, received_at: datetime,
                                  payload: dict[str, Any]) -> None:
        """Keep one message a station sent (an event, a status, a security event ...)."""
        async with self.unit():
            await self._write(
                "INSERT INTO station_messages (station_id, received_at, action, payload) "
                "VALUES (?, ?, ?, ?)", (station_id, to_storage(received_at), action,
                                        _json(payload)))

    async def station_messages(self, station_id: str, actions: Sequence[str] = (),
                               limit: int = 100, before: int | None = None,
                               ) -> list[dict[str, Any]]:
        """The station's kept messages, newest first: id, received_at, action, payload."""
        wanted = f" AND action IN ({', '.join('?' for _ in actions)})" if actions else ""
        rows = await self._all(
            f"SELECT * FROM station_messages WHERE station_id = ?{wanted} AND id < ? "
            "ORDER BY id DESC LIMIT ?", station_id, *actions,
            before if before is not None else 2**63 - 1, limit)
        return [{"id": r["id"], "received_at": wire_from_storage(r["received_at"]),
                 "action": r["action"], "payload": json.loads(r["payload"])} for r in rows]

    async def add_report_part(self, station_id: str, action: str, part: ReportPart,
                              received_at: datetime) -> list[ReportPart]:
        """Keep one part of a multi-part report; returns every part of its report so far,
        in seqNo order. A part 0 generated at another time than the one kept starts a new
        report: a station's request ids repeat (they are the central's, and it restarts),
        while the same part 0 sent again (a retry after a reconnect) keeps the others."""
        key = (station_id, action, part.request_id)
        async with self.unit():
            if part.seq_no == 0:
                await self._write(
                    "DELETE FROM report_parts WHERE station_id = ? AND action = ? AND "
                    "request_id = ? AND (SELECT generated_at FROM report_parts WHERE "
                    "station_id = ? AND action = ? AND request_id = ? AND seq_no = 0) IS NOT ?",
                    (*key, *key, to_storage(part.generated_at)))
            await self._write(
                "INSERT INTO report_parts VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET tbc = excluded.tbc, generated_at = excluded.generated_at, "
                "received_at = excluded.received_at, payload = excluded.payload",
                (*key, part.seq_no, int(part.tbc), to_storage(part.generated_at),
                 to_storage(received_at), _json(part.payload)))
            rows = await self._all(
                "SELECT * FROM report_parts WHERE station_id = ? AND action = ? AND "
                "request_id = ? ORDER BY seq_no", *key)
        return [_report_part(row) for row in rows]

    async def report_parts(self, station_id: str, action: str | None = None,
                           request_id: int | None = None) -> list[tuple[str, ReportPart]]:
        """(action, part) of the station's reports, by action, request id and seqNo."""
        rows = await self._all(
            "SELECT * FROM report_parts WHERE station_id = ? AND (? IS NULL OR action = ?) "
            "AND (? IS NULL OR request_id = ?) ORDER BY action, request_id, seq_no",
            station_id, action, action, request_id, request_id)
        return [(row["action"], _report_part(row)) for row in rows]

    # --- transactions (call inside unit()) ---------------------------------------------

    async def event_reply(self, station_id: str, transaction_id: str,
                          seq_no: int) -> dict[str, Any] | None:
        """The reply stored for this event, if it was stored before: a duplicate."""
        if seq_no not in await self._stored_seq_nos(station_id, transaction_id):
            return None
        row = await self._one(
            "SELECT reply FROM transaction_events WHERE station_id = ? AND transaction_id = ? "
            "AND seq_no = ?", station_id, transaction_id, seq_no)
        return json.loads(row["reply"]) if row else None

    async def add_event(self, station_id: str, transaction_id: str, seq_no: int,
                        event_type: str, trigger_reason: str, timestamp: datetime,
                        offline: bool, reply: dict[str, Any]) -> None:
        assert _in_unit.get(), "writes go inside store.unit()"
        check_storable(transaction_id)
        self._unit_rows.events.append(
            (station_id, transaction_id, seq_no, event_type, trigger_reason,
             to_storage(timestamp), int(offline), _json(reply)))
        key = (station_id, transaction_id)
        if key in self._seq_nos:
            self._seq_nos[key].add(seq_no)
            self._unit_touched.add(key)

    async def events(self, station_id: str, transaction_id: str) -> list[dict[str, Any]]:
        """The transaction's events as received: seq_no, type, trigger, time, offline."""
        rows = await self._all(
            "SELECT seq_no, event_type, trigger_reason, timestamp, offline FROM "
            "transaction_events WHERE station_id = ? AND transaction_id = ? ORDER BY seq_no",
            station_id, transaction_id)
        return [{"seq_no": r["seq_no"], "event_type": r["event_type"],
                 "trigger_reason": r["trigger_reason"],
                 "timestamp": parse_timestamp(r["timestamp"]), "offline": bool(r["offline"])}
                for r in rows]

    async def event_seq_nos(self, station_id: str, transaction_id: str) -> list[int]:
        return list(await self._stored_seq_nos(station_id, transaction_id))

    async def _stored_seq_nos(self, station_id: str, transaction_id: str) -> SeqNos:
        key = (station_id, transaction_id)
        if _in_unit.get() and key in self._seq_nos:
            self._unit_touched.add(key)
            return self._seq_nos[key]
        rows = await self._all(
            "SELECT seq_no FROM transaction_events WHERE station_id = ? AND transaction_id = ?",
            station_id, transaction_id)
        seq_nos = SeqNos(row[0] for row in rows)
        if _in_unit.get() and key in self._live:
            self._seq_nos[key] = seq_nos
            self._unit_touched.add(key)
        return seq_nos

    async def session(self, station_id: str, transaction_id: str) -> Session | None:
        """In a unit, a live session comes from the cache of what units saved (it is read
        for every meter value); outside, from the committed database."""
        key = (station_id, transaction_id)
        if _in_unit.get() and key in self._live:
            self._unit_touched.add(key)
            self._live[key] = self._live.pop(key)  # last in the order: the latest used
            return self._live[key]
        row = await self._one(f"SELECT {_SESSION} FROM sessions s WHERE station_id = ? AND "
                              "transaction_id = ?", station_id, transaction_id)
        return self._as_read(_session(row)) if row else None

    def _as_read(self, session: Session) -> Session:
        """In a unit, the cached object of a live session rather than a copy decoded from
        its row (which has no running cost: the next event would rate it again), and the
        session remembered for the next event."""
        if not _in_unit.get():
            return session
        cached = self._live.get((session.station_id, session.transaction_id))
        if cached is not None and cached.id == session.id:
            session = cached
        self._remember(session)
        return session

    def _remember(self, session: Session) -> None:
        """Keep a live session (as this unit has it) for the next event; not an ended one."""
        key = (session.station_id, session.transaction_id)
        self._unit_touched.add(key)
        if session.status != "active":
            self._forget([key])
            return
        self._live.pop(key, None)
        self._live[key] = session  # last in the order: the first is the longest unused
        if len(self._live) > LIVE_SESSIONS_KEPT:
            self._forget([next(iter(self._live))])

    async def previous_end_register(self, station_id: str, before: datetime) -> int | None:
        """The end register of the station's last session that started before `before`."""
        row = await self._one(
            "SELECT data FROM sessions WHERE station_id = ? AND started_at < ? AND "
            "status != 'active' ORDER BY started_at DESC LIMIT 1",
            station_id, to_storage(before))
        if row is None:
            return None
        end: int | None = json.loads(row["data"]).get("end_register_wh")
        return end

    async def session_by_id(self, session_id: int) -> Session | None:
        row = await self._one(f"SELECT {_SESSION} FROM sessions s WHERE id = ?", session_id)
        return _session(row) if row else None

    async def live_sessions_at(self, premise_id: str) -> list[Session]:
        rows = await self._all(
            f"SELECT {_SESSION} FROM sessions s WHERE status = 'active' AND premise_id = ?",
            premise_id)
        return [self._as_read(_session(row)) for row in rows]

    async def live_session(self, station_id: str, evse_id: int) -> Session | None:
        """The newest active session at this EVSE."""
        rows = await self._all(f"SELECT {_SESSION} FROM sessions s WHERE station_id = ? AND "
                               "status = 'active' ORDER BY id DESC", station_id)
        for row in rows:
            session = _session(row)
            if session.evse_id in (None, evse_id):
                return self._as_read(session)
        return None

    async def awaiting_binding(self, station_id: str) -> Session | None:
        """The station's newest live session that no PEV is bound to yet."""
        row = await self._one(
            f"SELECT {_SESSION} FROM sessions s WHERE station_id = ? AND status = 'active' "
            "AND payer_account IS NULL ORDER BY id DESC LIMIT 1", station_id)
        return self._as_read(_session(row)) if row else None

    async def save_session(self, session: Session) -> Session:
        record = _session_data(session)
        data = _json(record)
        columns = (session.status, session.payer_account, record["started_at"],
                   session.premise_id)
        key = (session.station_id, session.transaction_id)
        if session.id is None:
            cursor = await self._write(
                "INSERT INTO sessions (station_id, transaction_id, data, status, payer_account, "
                "started_at, premise_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.station_id, session.transaction_id, data, *columns))
            session.id = cursor.lastrowid
        elif self._columns.get(key) == columns:  # nearly every event: no index to update
            await self._write("UPDATE sessions SET data = ? WHERE id = ?", (data, session.id))
        else:
            await self._write(
                "UPDATE sessions SET data = ?, status = ?, payer_account = ?, started_at = ?, "
                "premise_id = ? WHERE id = ?", (data, *columns, session.id))
        self._remember(session)
        if key in self._live:
            self._columns[key] = columns
        return session

    async def assign_transaction_id(self, station_id: str, start: str) -> int:
        """The id assigned to this start at this station, assigned now if it has none
        (ids never repeat, across stations too: 1.6 carries them as integers)."""
        await self._write("INSERT INTO assigned_transactions (station_id, start) VALUES "
                          "(?, ?) ON CONFLICT DO NOTHING", (station_id, start))
        row = await self._one("SELECT id FROM assigned_transactions WHERE station_id = ? "
                              "AND start = ?", station_id, start)
        assert row is not None
        return int(row["id"])

    async def add_readings(self, session_id: int, seq_no: int,
                           samples: Iterable[MeterSample]) -> None:
        assert _in_unit.get(), "writes go inside store.unit()"
        for s in samples:
            check_storable(s.context, s.register_wh, s.power_w, s.ev_total_wh)
        self._unit_rows.readings += [
            (session_id, seq_no, to_storage(s.timestamp), s.context, s.register_wh, s.power_w,
             s.ev_total_wh) for s in samples]

    async def readings(self, session_id: int) -> list[MeterSample]:
        rows = await self._all(
            "SELECT * FROM meter_readings WHERE session_id = ? ORDER BY timestamp, seq_no",
            session_id)
        return [MeterSample(parse_timestamp(r["timestamp"]), r["context"], r["register_wh"],
                            r["power_w"], r["ev_total_wh"]) for r in rows]

    async def save_credit(self, session: Session, account_id: str, energy_wh: int,
                          value: Decimal, by_period: dict[str, Any]) -> None:
        """The host premise's credit for a guest session its owner did not pay (L2-B)."""
        started = session.started_at or session.ended_at
        assert session.id is not None and session.premise_id and started
        await self._write(
            "INSERT INTO premise_credits VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(session_id) "
            "DO UPDATE SET energy_wh = excluded.energy_wh, value = excluded.value, "
            "by_period = excluded.by_period",
            (session.id, session.premise_id, account_id, to_storage(started),
             energy_wh, str(value), _json(by_period)))

    async def account(self, account_id: str) -> Account:
        row = await self._one("SELECT * FROM accounts WHERE id = ?", account_id)
        if row is None:
            raise NotFound(f"unknown account {account_id!r}")
        return Account(row["id"], row["name"])

    async def billed_sessions(self, account_id: str, start: datetime,
                              end: datetime) -> list[SessionLine]:
        """Sessions billed to this account that started in [start, end)."""
        rows = await self._all(
            f"SELECT s.id, {_LINE_FIELDS} FROM sessions s WHERE payer_account = ? AND "
            "started_at >= ? AND started_at < ? ORDER BY started_at, id",
            account_id, to_storage(start), to_storage(end))
        return [_session_line(row) for row in rows]

    async def credited_sessions(self, account_id: str, start: datetime, end: datetime,
                                ) -> list[tuple[SessionLine, dict[str, Any]]]:
        """Guest sessions credited to this account's premises, with their credit."""
        rows = await self._all(
            f"SELECT s.id, {_LINE_FIELDS}, c.energy_wh, c.value, c.by_period FROM "
            "premise_credits c JOIN sessions s ON s.id = c.session_id WHERE "
            "c.account_id = ? AND c.started_at >= ? AND c.started_at < ? "
            "ORDER BY c.started_at, s.id", account_id, to_storage(start), to_storage(end))
        return [(_session_line(row), {"energy_wh": row["energy_wh"], "value": row["value"],
                                      "by_period": json.loads(row["by_period"])})
                for row in rows]

    async def live_sessions(self) -> list[Session]:
        rows = await self._all(f"SELECT {_SESSION} FROM sessions s WHERE status = 'active' "
                               "ORDER BY id")
        return [self._as_read(_session(row)) for row in rows]

    # --- demand response --------------------------------------------------------------

    async def add_dr_event(self, start: datetime, end: datetime, scope: str,
                           limit_w: int | None, reduce_pct: int | None, randomize_s: int,
                           at: datetime) -> DrEvent:
        kind, _, target = scope.partition(":")
        if kind in ("premise", "station") and \
                await self._one(f"SELECT 1 FROM {kind}s WHERE id = ?", target) is None:
            raise NotFound(f"unknown {kind} {target!r} in scope {scope!r}")
        async with self.unit():
            cursor = await self._write(
                "INSERT INTO dr_events (start, end, scope, limit_w, reduce_pct, randomize_s, "
                "changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (to_storage(start), to_storage(end), scope, limit_w, reduce_pct, randomize_s,
                 to_storage(at)))
            event_id = cursor.lastrowid  # now: other units use the cursor while this commits
            assert event_id is not None
        return DrEvent(event_id, start, end, scope, limit_w, reduce_pct, randomize_s)

    async def request_dr_cancel(self, event_id: int, at: datetime) -> bool:
        """Ask the running central to cancel an event; False if unknown or cancelled."""
        async with self.unit():
            cursor = await self._write(
                "UPDATE dr_events SET cancel_requested = 1, changed_at = ? WHERE id = ? AND "
                "cancel_requested = 0", (to_storage(at), event_id))
            return cursor.rowcount == 1

    async def mark_dr_cancelled(self, event_id: int, at: datetime) -> None:
        async with self.unit():
            await self._write("UPDATE dr_events SET cancelled_at = ? WHERE id = ?",
                                   (to_storage(at), event_id))

    async def dr_events(self) -> list[DrEvent]:
        rows = await self._all("SELECT * FROM dr_events ORDER BY id")
        return [DrEvent(r["id"], parse_timestamp(r["start"]), parse_timestamp(r["end"]),
                        r["scope"], r["limit_w"], r["reduce_pct"], r["randomize_s"],
                        parse_timestamp(r["cancelled_at"]) if r["cancelled_at"] else None,
                        bool(r["cancel_requested"]))
                for r in rows]

    async def dr_revision(self) -> tuple[int, str]:
        """Changes when an event is created or cancelled (cheap to poll)."""
        row = await self._one("SELECT COUNT(*), COALESCE(MAX(changed_at), '') FROM dr_events")
        assert row is not None
        return int(row[0]), str(row[1])

    async def sessions(self) -> list[Session]:
        rows = await self._all(f"SELECT {_SESSION} FROM sessions s ORDER BY started_at, id")
        return [_session(row) for row in rows]


class _Unit:
    """`async with store.unit():` a class, not an asynccontextmanager, whose generator
    machinery cost 2 us of every TransactionEvent."""

    __slots__ = ("_store",)

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    # The store's coroutines themselves, not coroutines awaiting them: each frame between
    # is walked again whenever the event's task resumes (for the lock, for the commit).
    def __aenter__(self) -> Coroutine[Any, Any, None]:
        return self._store._enter_unit()

    def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                  traceback: TracebackType | None) -> Coroutine[Any, Any, None]:
        return self._store._exit_unit(error)


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """`function` in a worker thread, waited for to the end even if the caller is
    cancelled: the connection it uses is busy until then, and the caller's locks must
    stay held (a cancelled await would release them with the thread still running)."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        raise


def _connect(path: Path | str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON",
                   f"busy_timeout = {BUSY_TIMEOUT_MS}"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database written by an earlier version up to this schema, checked under
    the write lock (another process may be opening it at the same moment), and fill in
    what an earlier version may have written since: it leaves the premise column empty."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if "security_profile" not in _columns_of(db, "stations"):
            db.execute("ALTER TABLE stations ADD COLUMN security_profile INTEGER NOT NULL "
                       "DEFAULT 1")
        if "ocpp_version" not in _columns_of(db, "station_state"):
            db.execute("ALTER TABLE station_state ADD COLUMN ocpp_version TEXT")
        if "ocpp_versions" not in _columns_of(db, "stations"):
            db.execute("ALTER TABLE stations ADD COLUMN ocpp_versions TEXT NOT NULL "
                       "DEFAULT '2.1,2.0.1,1.6'")
        if "premise_id" not in _columns_of(db, "sessions"):  # was indexed inside the JSON
            db.execute("ALTER TABLE sessions ADD COLUMN premise_id TEXT")
            db.execute("UPDATE sessions SET premise_id = json_extract(data, '$.premise_id')")
        db.execute("UPDATE sessions SET premise_id = json_extract(data, '$.premise_id') "
                   "WHERE status = 'active' AND premise_id IS NULL")
        # the earlier version's index inside the JSON, a cost to every event (it makes it
        # again when it opens the database)
        db.execute("DROP INDEX IF EXISTS sessions_live_at_premise")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _columns_of(db: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


def _wire(stored: str | None) -> str | None:
    return to_wire(parse_timestamp(stored)) if stored else None


def _row(kind: str, e: Any) -> tuple[Any, ...]:
    """A registry entry as its table's row."""
    if kind == "tariffs":
        return (e.id, e.name, int(e.illustrative), _json(tariff_definition(e)))
    if kind == "programs":
        return (e.id, e.name, e.tariff_id, int(e.economy), e.max_power_w, e.randomized_delay_s)
    if kind == "accounts":
        return (e.id, e.name)
    if kind == "premises":
        return (e.id, e.account_id, e.address, e.territory, e.rate_plan, e.service_limit_w,
                e.guest_policy, _json(list(e.host_pays_for)))
    if kind == "stations":
        return (e.id, e.premise_id, e.kind, e.eumd_serial, e.max_power_w, e.password_hash,
                e.security_profile, ",".join(e.ocpp_versions))
    return (e.id, e.vin, e.owner_account, e.home_premise, e.program_id, e.territory, e.status,
            to_storage(e.valid_until) if e.valid_until else None, e.group_id)


def _report_part(row: sqlite3.Row) -> ReportPart:
    return ReportPart(row["request_id"], row["seq_no"], bool(row["tbc"]),
                      parse_timestamp(row["generated_at"]), json.loads(row["payload"]))


def _program(row: sqlite3.Row) -> Program:
    return Program(row["id"], row["name"], row["tariff_id"], bool(row["economy"]),
                   row["max_power_w"], row["randomized_delay_s"])


def _premise(row: sqlite3.Row) -> Premise:
    return Premise(row["id"], row["account_id"], row["address"], row["territory"],
                   row["rate_plan"], row["service_limit_w"], row["guest_policy"],
                   tuple(json.loads(row["host_pays_for"])))


def _station(row: sqlite3.Row) -> Station:
    return Station(row["id"], row["premise_id"], row["kind"], row["eumd_serial"],
                   row["max_power_w"], row["password_hash"], row["security_profile"],
                   tuple(row["ocpp_versions"].split(",")))


def _pev(row: sqlite3.Row, identifiers: list[sqlite3.Row]) -> Pev:
    return Pev(row["id"], row["vin"], row["owner_account"], row["home_premise"],
               row["program_id"], row["territory"], row["status"],
               parse_timestamp(row["valid_until"]) if row["valid_until"] else None,
               row["group_id"], tuple(Identifier(i["id_token"], i["token_type"])
                                      for i in identifiers))


_TIME_FIELDS = ("started_at", "ended_at", "departure")


def _json(value: Any) -> str:
    """json.dumps's JSON (int keys made strings too) in a tenth of the time: a live
    session's record is written again at every TransactionEvent. Like json.dumps it
    refuses a datetime or a dataclass (a bug: the record holds them as text and dicts);
    orjson refuses integers beyond 64 bits, which json.dumps writes (and json.loads, not
    orjson, reads back). NaN would be written null: no path leads one here."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS
                            | orjson.OPT_PASSTHROUGH_DATETIME
                            | orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _session_data(session: Session) -> dict[str, Any]:
    data = dict(vars(session))
    for key in ("id", *LIVE_VIEW):
        del data[key]
    for key in _TIME_FIELDS:
        if data[key] is not None:
            data[key] = to_storage(data[key])
    if data["cost_total"] is not None:
        data["cost_total"] = str(data["cost_total"])
    return data


# A statement's sessions, read from their records by SQLite: decoding each whole record
# into a Session had been half the time of a 10,000-session statement.
_LINE_FIELDS = "json_extract(s.data, {}) AS line".format(", ".join(
    f"'$.{name}'" for name in ("station_id", "premise_id", "pev_id", "scenario", "started_at",
                               "ended_at", "energy_wh", "cost_total", "cost_by_period",
                               "reconciliation.status", "ocpp_version")))


def _session_line(row: sqlite3.Row) -> SessionLine:
    (station, premise, pev, scenario, start, end, energy, cost, by_period,
     reconciliation, ocpp_version) = json.loads(row["line"])
    return SessionLine(row["id"], station, premise, pev, scenario,
                       wire_from_storage(start) if start is not None else None,
                       wire_from_storage(end) if end is not None else None, energy,
                       Decimal(cost) if cost is not None else None, by_period or {},
                       reconciliation, ocpp_version)


# A session as read: its record, and its newest EUMD reading for the live view (the
# readings' index holds it at the end of the session's entries).
_SESSION = ("s.id, s.data, (SELECT json_array(r.timestamp, r.register_wh) FROM meter_readings r "
            "WHERE r.session_id = s.id AND r.register_wh IS NOT NULL "
            "ORDER BY r.timestamp DESC LIMIT 1) AS last_reading")


def _session(row: sqlite3.Row) -> Session:
    data = json.loads(row["data"])
    for key in ("last_reading", "cost_so_far"):  # an earlier version kept them, stale
        data.pop(key, None)
    for key in _TIME_FIELDS:
        if data[key] is not None:
            data[key] = parse_timestamp(data[key])
    if data["cost_total"] is not None:
        data["cost_total"] = Decimal(data["cost_total"])
    session = Session(id=row["id"], **data)
    if row["last_reading"] is not None:
        at, register = json.loads(row["last_reading"])
        session.last_reading = Reading(parse_timestamp(at), register)
    return session
