"""A charging schedule: piecewise-constant power limits from a start instant."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from shared.timeutil import require_utc


class PowerLimits(Protocol):
    """Anything that says how much power is allowed when: a schedule, a profile stack."""

    def limit_at(self, moment: datetime) -> int: ...

    def pieces(self, begin: datetime,
               end: datetime) -> Iterator[tuple[datetime, datetime, int]]: ...


@dataclass(frozen=True)
class Schedule:
    """`periods` are (seconds after `start`, limit W), the first at 0, offsets increasing.

    The last period's limit holds on indefinitely; before `start` the limit is 0.
    """

    start: datetime
    periods: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        require_utc(self.start)
        offsets = [offset for offset, _ in self.periods]
        if not offsets or offsets[0] != 0 or offsets != sorted(set(offsets)):
            raise ValueError("schedule periods must start at 0 with increasing offsets")
        if any(limit < 0 for _, limit in self.periods):
            raise ValueError("schedule limits cannot be negative")

    def limit_at(self, moment: datetime) -> int:
        offset = (moment - self.start).total_seconds()
        limit = 0
        for start_offset, period_limit in self.periods:
            if start_offset > offset:
                break
            limit = period_limit
        return limit if offset >= 0 else 0

    def pieces(self, begin: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, int]]:
        """Constant-limit pieces covering [begin, end)."""
        edges = [self.start + timedelta(seconds=o) for o, _ in self.periods]
        cuts = sorted({begin, end, *(e for e in edges if begin < e < end)})
        for left, right in itertools.pairwise(cuts):
            yield left, right, self.limit_at(left)

    def energy_wh(self) -> int:
        """Energy the schedule allows while its limits are finite (last period must be 0)."""
        total = 0.0
        for (offset, limit), (next_offset, _) in zip(self.periods, self.periods[1:], strict=False):
            total += limit * (next_offset - offset) / 3600
        return round(total)

    @property
    def max_limit(self) -> int:
        return max(limit for _, limit in self.periods)
