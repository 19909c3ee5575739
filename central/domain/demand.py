"""Demand response: events that limit charging for a while, in a scope.

Pure. An event limits each station in scope to `limit_w`, or cuts its normal schedule by
`reduce_pct`, between start and end; each station's window is shifted by its own random
offset (0..randomize_s, reproducible from the event and the station) so load does not
drop and return in one step. The limit goes to the station as an overlay profile: a
higher stack level valid only in that window, so the normal schedule comes back by itself
when it ends (or when the central clears it on cancel).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from central.domain.planner import Cap
from shared.schedule import Schedule

DR_STACK_LEVEL = 1
OVERLAY_ID_BASE = 1_000_000_000


class BadEvent(ValueError):
    pass


@dataclass(frozen=True)
class DrEvent:
    id: int
    start: datetime
    end: datetime
    scope: str  # "all" | "premise:<id>" | "station:<id>"
    limit_w: int | None = None
    reduce_pct: int | None = None
    randomize_s: int = 0
    cancelled_at: datetime | None = None  # set by the running central, on its clock
    cancel_requested: bool = False  # set by the operator

    @property
    def ends(self) -> datetime:
        """When it stops applying: its end, or when it was cancelled if earlier."""
        return min(self.end, self.cancelled_at) if self.cancelled_at else self.end

    def describe(self) -> str:
        cut = f"limit {self.limit_w} W" if self.limit_w is not None \
            else f"reduce {self.reduce_pct} %"
        return f"DR {self.id}: {cut}, {self.scope}"


def validate(start: datetime, end: datetime, scope: str, limit_w: int | None,
             reduce_pct: int | None, randomize_s: int) -> None:
    if end <= start:
        raise BadEvent("the event must end after it starts")
    if (limit_w is None) == (reduce_pct is None):
        raise BadEvent("give exactly one of --limit-w or --reduce-pct")
    if limit_w is not None and limit_w < 0:
        raise BadEvent("--limit-w must be >= 0")
    if reduce_pct is not None and not 0 < reduce_pct <= 100:
        raise BadEvent("--reduce-pct must be from 1 to 100")
    if randomize_s < 0:
        raise BadEvent("--randomize-s must be >= 0")
    kind, _, target = scope.partition(":")
    if not (scope == "all" or (kind in ("premise", "station") and target)):
        raise BadEvent(f"scope {scope!r} must be all, premise:ID or station:ID")


def applies_to(event: DrEvent, station_id: str, premise_id: str) -> bool:
    return event.scope in ("all", f"station:{station_id}", f"premise:{premise_id}")


def offset_s(event: DrEvent, station_id: str) -> int:
    """This station's randomized shift, the same every time it is computed."""
    if event.randomize_s == 0:
        return 0
    digest = hashlib.sha256(f"{event.id}/{station_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (event.randomize_s + 1)


def window(event: DrEvent, station_id: str) -> tuple[datetime, datetime]:
    shift = timedelta(seconds=offset_s(event, station_id))
    return event.start + shift, event.ends + shift


def overlay_id(event: DrEvent, session_id: int) -> int:
    """Charging profile id of the event's overlay for one session (unique per station)."""
    return OVERLAY_ID_BASE + event.id * 10_000 + session_id % 10_000


def overlay(event: DrEvent, station_id: str, normal: Schedule) -> tuple[datetime, datetime,
                                                                          Schedule]:
    """The limit to apply in the station's window, as (valid from, valid to, schedule)."""
    begin, end = window(event, station_id)
    edges = sorted({begin, end, *(normal.start + timedelta(seconds=o)
                                  for o, _ in normal.periods)})
    periods: list[tuple[int, int]] = []
    for left, _right in itertools.pairwise(e for e in edges if begin <= e <= end):
        limit = _cut(event, normal.limit_at(left))
        if not periods or periods[-1][1] != limit:
            periods.append((int((left - begin).total_seconds()), limit))
    return begin, end, Schedule(begin, tuple(periods or [(0, 0)]))


def cap(event: DrEvent, station_id: str, power_w: int) -> Cap:
    """The event as a planning cap for a session that charges at up to `power_w`."""
    begin, end = window(event, station_id)
    return Cap("demand response", begin, end, _cut(event, power_w))


def _cut(event: DrEvent, normal_w: int) -> int:
    if event.limit_w is not None:
        return min(normal_w, event.limit_w)
    assert event.reduce_pct is not None
    return normal_w * (100 - event.reduce_pct) // 100
