"""Energy negotiation: what the PEV asks for vs what it may have, and when.

Pure: the request, the limits and the tariff in; energy available, a schedule of power
limits and a note for the driver out. Economy programs put the energy in the cheapest
periods that still finish by departure; others charge at once.

Charging windows are whole tariff periods (or now..departure), not just long enough: the
PEV stops drawing when it has what it asked for, and a window with room to spare lets it
catch up after a late profile, a randomized start or a demand-response cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.schedule import Schedule
from shared.tariff import Tariff
from shared.timeutil import require_utc
from shared.units import seconds_for

DEFAULT_HORIZON = timedelta(hours=24)  # when the PEV gives no departure time


@dataclass(frozen=True)
class EnergyRequest:
    energy_wh: int
    departure: datetime | None
    ev_max_power_w: int | None


@dataclass(frozen=True)
class Limit:
    name: str  # "program", "station", "premise service", "EV", ...
    power_w: int


@dataclass(frozen=True)
class Plan:
    requested_wh: int
    available_wh: int
    power_w: int
    schedule: Schedule
    departure: datetime
    note: str

    @property
    def start(self) -> datetime | None:
        """When charging first may draw power."""
        for offset, limit in self.schedule.periods:
            if limit > 0:
                return self.schedule.start + timedelta(seconds=offset)
        return None


def plan(now: datetime, request: EnergyRequest, limits: Sequence[Limit], tariff: Tariff,
         economy: bool) -> Plan:
    now = require_utc(now).replace(microsecond=0)
    departure = request.departure if request.departure and request.departure > now \
        else now + DEFAULT_HORIZON
    all_limits = [*limits, *([Limit("EV", request.ev_max_power_w)]
                             if request.ev_max_power_w is not None else [])]
    binding = min(all_limits, key=lambda limit: limit.power_w)
    power = max(0, binding.power_w)
    requested = max(0, request.energy_wh)
    if power == 0 or requested == 0:
        return Plan(requested, 0, power, Schedule(now, ((0, 0),)), departure,
                    f"no energy can be delivered ({binding.name} limit is {power} W)"
                    if power == 0 else "no energy requested")
    horizon = int((departure - now).total_seconds())
    needed = min(seconds_for(requested, power), horizon)
    windows = _cheapest_windows(now, departure, needed, tariff) if economy \
        else [(0, horizon)]
    charged_seconds = sum(end - start for start, end in windows)
    available = min(requested, power * charged_seconds // 3600)
    schedule = Schedule(now, _periods(windows, power))
    how = "economy: cheapest periods before departure" if economy else "charging now"
    if available < requested:
        note = (f"{available} of {requested} Wh can be delivered by departure "
                f"{departure.isoformat()} at {power} W ({binding.name} limit); {how}")
    else:
        note = f"{available} Wh at up to {power} W ({binding.name} limit); {how}"
    return Plan(requested, available, power, schedule, departure, note)


def _cheapest_windows(now: datetime, departure: datetime, needed: int,
                      tariff: Tariff) -> list[tuple[int, int]]:
    """The cheapest whole periods (seconds after now) that hold `needed` seconds of charging,
    earliest first among equal prices."""
    segments = sorted(tariff.segments(now, departure), key=lambda s: (s.price, s.start))
    windows = []
    remaining = needed
    for segment in segments:
        if remaining <= 0:
            break
        start = int((segment.start - now).total_seconds())
        windows.append((start, start + int(segment.seconds)))
        remaining -= int(segment.seconds)
    return sorted(windows)


def _periods(windows: list[tuple[int, int]], power: int) -> tuple[tuple[int, int], ...]:
    """Schedule periods: `power` inside the windows, 0 elsewhere, ending at 0."""
    periods: list[tuple[int, int]] = [(0, 0)]
    for start, end in windows:
        if end <= start:
            continue
        if periods[-1][0] == start:
            periods[-1] = (start, power)
        elif periods[-1][1] != power:
            periods.append((start, power))
        periods.append((end, 0))
    merged: list[tuple[int, int]] = []
    for offset, limit in periods:
        if merged and merged[-1][0] == offset:
            merged[-1] = (offset, limit)
        elif not merged or merged[-1][1] != limit:
            merged.append((offset, limit))
    return tuple(merged)
