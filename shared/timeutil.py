"""UTC inside, ISO 8601 with `Z` on the wire and on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

# A live session's start is written again with each of its events, and an event's meter
# value is nearly always stamped with the event's own instant: each is formatted once.
INSTANTS_REMEMBERED = 4096


class InvalidTimestamp(ValueError):
    """Text that is not an ISO 8601 date-time (an OCPP FormatViolation on the wire)."""


def parse_timestamp(text: str) -> datetime:
    """Parse an OCPP timestamp; a value without a zone is taken as UTC. (fromisoformat
    reads a `Z` itself, a lowercase `z` not; an event carries two timestamps or more,
    and this way each costs half as much.)"""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text.replace("z", "+00:00"))
        except ValueError:
            raise InvalidTimestamp(f"{text[:40]!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_wire(moment: datetime) -> str:
    """UTC with `Z`, milliseconds only when there are any."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec)[:-6] + "Z"  # less its "+00:00"


@lru_cache(maxsize=INSTANTS_REMEMBERED)
def to_storage(moment: datetime) -> str:
    """Fixed-width UTC text (YYYY-MM-DDTHH:MM:SS.ffffffZ), so stored timestamps sort as
    text. (isoformat: strftime is several times slower, and this runs for every reading.)"""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:26] + "Z"  # less its "+00:00"


def wire_from_storage(text: str) -> str:
    """to_wire(parse_timestamp(text)) for to_storage's text, without making a datetime
    (a statement prints two for each of thousands of sessions)."""
    if len(text) != 27 or text[19] != "." or text[26] != "Z":
        return to_wire(parse_timestamp(text))
    return text[:19] + "Z" if text[20:26] == "000000" else text[:23] + "Z"


def require_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: times inside are timezone-aware UTC")
    return moment.astimezone(UTC)
