"""The charging profiles installed at a station, stacked as OCPP composes them.

At any instant the valid profile with the highest stack level sets the limit; with none
valid the limit is 0 (the utility's program sends a schedule before charging starts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.schedule import Schedule
from shared.tariff import Segment


@dataclass(frozen=True)
class ChargingProfile:
    """A transaction's charging profile, whatever OCPP version carries it: limits in W
    from the schedule's start, at a stack level, within an optional validity window."""

    id: int
    stack_level: int
    schedule: Schedule
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    # the rate's prices over the schedule, that a station may show as price levels
    price_segments: tuple[Segment, ...] = ()

    def valid_at(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and \
            (self.valid_to is None or moment < self.valid_to) and moment >= self.schedule.start


class ProfileStack:
    def __init__(self) -> None:
        self._profiles: dict[int, ChargingProfile] = {}

    def install(self, profile: ChargingProfile) -> None:
        """Add a profile; one with the same id, or the same stack level, is replaced."""
        for other in list(self._profiles.values()):
            if other.stack_level == profile.stack_level and other.id != profile.id:
                del self._profiles[other.id]
        self._profiles[profile.id] = profile

    @property
    def installed(self) -> list[ChargingProfile]:
        return list(self._profiles.values())

    def copy(self) -> ProfileStack:
        """A snapshot: later installs and clears here do not change it."""
        snapshot = ProfileStack()
        snapshot._profiles = dict(self._profiles)
        return snapshot

    def clear(self, profile_id: int) -> bool:
        return self._profiles.pop(profile_id, None) is not None

    def __bool__(self) -> bool:
        return bool(self._profiles)

    def limit_at(self, moment: datetime) -> int:
        valid = [p for p in self._profiles.values() if p.valid_at(moment)]
        if not valid:
            return 0
        return max(valid, key=lambda p: p.stack_level).schedule.limit_at(moment)

    def pieces(self, begin: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, int]]:
        """Constant-limit pieces covering [begin, end)."""
        edges = {begin, end}
        for p in self._profiles.values():
            edges |= {p.schedule.start + timedelta(seconds=o) for o, _ in p.schedule.periods}
            edges |= {e for e in (p.valid_from, p.valid_to) if e is not None}
        cuts = sorted(e for e in edges if begin <= e <= end)
        for left, right in itertools.pairwise(cuts):
            yield left, right, self.limit_at(left)
