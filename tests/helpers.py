"""What several tests share: the example registry and local-time helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from central.registry import Registry, load_registry
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
