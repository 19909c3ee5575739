"""Persistence behind one interface; SQLite (aiosqlite) is the default backend."""

from central.store.sqlite import SqliteStore

__all__ = ["SqliteStore"]
