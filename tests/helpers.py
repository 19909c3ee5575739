"""What several tests share: the example registry, local-time helpers, another process's
write lock on a database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from central.domain.registry import Registry, load_registry
from shared.tariff import Tariff

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "utility.toml"
LA = ZoneInfo("America/Los_Angeles")


@cache
def example_registry() -> Registry:
    return load_registry(EXAMPLE)


def tariff(tariff_id: str = "ev-tou") -> Tariff:
    return next(t for t in example_registry().tariffs if t.id == tariff_id)


def local(*args: int) -> datetime:
    """A wall-clock time at the example utility, as UTC."""
    return datetime(*args, tzinfo=LA).astimezone(UTC)


@asynccontextmanager
async def writes_locked(db: Path) -> AsyncIterator[None]:
    """Another connection, as another process's, holds the write lock: the central's
    writes and commits wait for it, up to busy_timeout (5 s), then fail. (Taken in a
    thread: the central in this event loop must finish the unit it may be in.)"""
    holder = sqlite3.connect(db, isolation_level=None, timeout=60, check_same_thread=False)
    await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
