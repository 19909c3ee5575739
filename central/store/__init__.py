"""Persistence behind one interface; SQLite (WAL, group commit) is the backend."""

from central.store.sqlite import SqliteStore

__all__ = ["SqliteStore"]
