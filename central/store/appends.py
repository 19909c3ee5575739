"""Rows that are only ever appended (transaction events, meter readings), queued to go in
with one statement per table.

A meter value's unit writes nothing else, so queued, it runs no statement at all: its
rows go in with those of the other units of its transaction, in the commit's worker
thread just before COMMIT. That spares every such unit a savepoint and two statements
(together 4 % of the instructions an event cost the central), and the inserts run beside
the event loop rather than on it (bench.compare: 4,723 -> 5,225 round trips/s).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from shared.units import INT64

INSERT_EVENT = "INSERT INTO transaction_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_READING = "INSERT INTO meter_readings VALUES (?, ?, ?, ?, ?, ?, ?)"


class Appends:
    __slots__ = ("events", "readings")

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.readings: list[tuple[Any, ...]] = []

    def __bool__(self) -> bool:
        return bool(self.events or self.readings)

    def move_to(self, other: Appends) -> None:
        """Hand these rows on (a finished unit's, to its transaction's), in order."""
        other.events += self.events
        other.readings += self.readings
        self.clear()

    def insert(self, cursor: sqlite3.Cursor) -> None:
        """Insert the rows (in the open transaction) and forget them."""
        try:
            if self.events:
                cursor.executemany(INSERT_EVENT, self.events)
            if self.readings:
                cursor.executemany(INSERT_READING, self.readings)
        finally:
            self.clear()  # in, or failed with their transaction: never inserted twice

    def clear(self) -> None:
        self.events, self.readings = [], []


def check_storable(*from_wire: Any) -> None:
    """Values a station sent, before their row is queued: one SQLite cannot take (an
    integer beyond 64 bits, text with a lone surrogate) fails the unit that appends it,
    with the error the insert would raise, not the commit of every unit queued with it.
    (The row's other values are the central's own.)"""
    for value in from_wire:
        if type(value) is int and value not in INT64:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        if type(value) is str and not value.isascii():
            value.encode()  # UnicodeEncodeError, as the insert's
