"""Energy negotiation: what the PEV asks for vs what it may have, and when.

Pure: the request, the limits and the tariff in; energy available, a schedule of power
limits and a note for the driver out.

- Constant limits (program, station, EV) cap the power everywhere; `caps` are limits that
  hold for a while (the premise service capacity other sessions leave, a DR event).
- Economy programs take the cheapest tariff periods before departure, others the earliest,
  whole periods at a time until the request fits: the PEV stops drawing when it has what it
  asked for, and the room to spare lets it catch up after a late profile or a DR cut. A
  request that only just fits also gets the period after those, to catch up in.
- A randomized delay pushes the first charging instant back, so PEVs whose windows open
  together (00:00 off-peak) do not all start in the same second.
- `overlays` (DR events) are not written into the schedule, which stays the normal one;
  the central sends them as separate, higher-stack profiles. They do count when choosing
  windows and when telling the PEV how much energy it will get.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from shared.schedule import PowerLimits, Schedule
from shared.tariff import Tariff
from shared.timeutil import require_utc

DEFAULT_HORIZON = timedelta(hours=24)  # when the PEV gives no departure time
PLAN_CHECKED_BEYOND = timedelta(hours=24)  # an EV plan's last period, checked this long
EXCESS_TOLERANCE_W = 1  # an EV's plan in A or with decimals, rounded: not an excess
CATCH_UP_SHARE = 0.1  # room to spare, as a share of the request, before departure


@dataclass(frozen=True)
class EnergyRequest:
    energy_wh: int
    departure: datetime | None
    ev_max_power_w: int | None
    ev_voltage_v: int | None = None  # to read an EV's plan given in A (not for planning)
    phases: int = 1


# What a PEV that states no needs (a station with no way to tell them) is planned for: a
# day's horizon, and the energy of a mid-size battery from near empty.
UNSTATED_NEEDS = EnergyRequest(energy_wh=40_000, departure=None, ev_max_power_w=None)


@dataclass(frozen=True)
class EvPlan:
    """What the EV means to draw (ISO 15118, via NotifyEVChargingSchedule): limits in W or
    A, each period from `offset` seconds after `start` to the next (the last holds on)."""

    start: datetime
    unit: str  # "W" | "A"
    periods: tuple[tuple[int, float, int | None], ...]  # (offset, limit, phases or None)


@dataclass(frozen=True)
class Limit:
    name: str  # "program", "station", "EV", ...
    power_w: int


@dataclass(frozen=True)
class Cap:
    """A power limit that holds from `start` to `end`."""

    name: str
    start: datetime
    end: datetime
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


@dataclass(frozen=True)
class _Slot:
    start: int  # seconds after now
    end: int
    price: Decimal
    power_w: int  # what the schedule allows
    effective_w: int  # what the PEV can expect, overlays (DR) included

    @property
    def energy_ws(self) -> int:
        return self.effective_w * (self.end - self.start)


def plan(now: datetime, request: EnergyRequest, limits: Sequence[Limit], tariff: Tariff,
         economy: bool, caps: Sequence[Cap] = (), overlays: Sequence[Cap] = (),
         delay_s: int = 0) -> Plan:
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
    slots = _slots(now, departure, power, tariff, caps, overlays)
    chosen = _choose(slots, requested * 3600, economy)
    if delay_s and chosen:  # push the first charging instant back, then choose again
        first = now + timedelta(seconds=chosen[0].start)
        delay = Cap("randomized delay", first, first + timedelta(seconds=delay_s), 0)
        slots = _slots(now, departure, power, tariff, [*caps, delay], overlays)
        chosen = _choose(slots, requested * 3600, economy)
    available = min(requested, sum(s.energy_ws for s in chosen) // 3600)
    schedule = Schedule(now, _periods(chosen))
    how = "economy: cheapest periods before departure" if economy else "charging now"
    if available < requested:
        tightest = _tightest(binding, [*caps, *overlays])
        note = (f"{available} of {requested} Wh can be delivered by departure "
                f"{departure.isoformat()} at up to {power} W ({tightest} limit); {how}")
    else:
        note = f"{available} Wh at up to {power} W ({binding.name} limit); {how}"
    return Plan(requested, available, power, schedule, departure, note)


def _tightest(binding: Limit, caps: Sequence[Cap]) -> str:
    """The name of the limit most to blame for a shortfall."""
    lowest = min(caps, key=lambda c: c.power_w, default=None)
    return lowest.name if lowest and lowest.power_w < binding.power_w else binding.name


def _slots(now: datetime, departure: datetime, power: int, tariff: Tariff,
           caps: Sequence[Cap], overlays: Sequence[Cap]) -> list[_Slot]:
    """The horizon cut at every tariff, cap and overlay edge, each piece with its power."""
    edges = {c for cap in [*caps, *overlays] for c in (cap.start, cap.end) if now < c < departure}
    slots = []
    for segment in tariff.segments(now, departure):
        inner = sorted({segment.start, segment.end,
                        *(e for e in edges if segment.start < e < segment.end)})
        for left, right in itertools.pairwise(inner):
            allowed = min([power, *(c.power_w for c in caps if c.start <= left < c.end)])
            effective = min([allowed, *(c.power_w for c in overlays
                                        if c.start <= left < c.end)])
            slots.append(_Slot(int((left - now).total_seconds()),
                               int((right - now).total_seconds()), segment.price,
                               max(0, allowed), max(0, effective)))
    return slots


def _choose(slots: list[_Slot], needed_ws: int, economy: bool) -> list[_Slot]:
    """Whole slots, cheapest (economy) or earliest first, until the need is covered; if
    that leaves less than CATCH_UP_SHARE of it to spare, the next slot after them too,
    for the PEV to catch up in (a profile applied late, a PEV drawing a little under its
    limit). It comes after the others, so a PEV on time never draws in it."""
    order = sorted(slots, key=lambda s: (s.price, s.start)) if economy else slots
    chosen = []
    uncovered = needed_ws
    for slot in order:
        if uncovered <= 0:
            break
        if slot.effective_w > 0:
            chosen.append(slot)
            uncovered -= slot.energy_ws
    chosen.sort(key=lambda s: s.start)
    if chosen and -uncovered < needed_ws * CATCH_UP_SHARE:
        after = next((s for s in slots if s.start >= chosen[-1].end and s.effective_w > 0),
                     None)
        if after is not None:
            chosen.append(after)
    return chosen


def _periods(chosen: list[_Slot]) -> tuple[tuple[int, int], ...]:
    """Schedule periods: each chosen slot at its power, 0 elsewhere, ending at 0."""
    periods: list[tuple[int, int]] = [(0, 0)]
    for slot in chosen:
        for offset, limit in ((slot.start, slot.power_w), (slot.end, 0)):
            if periods[-1][0] == offset:
                periods[-1] = (offset, limit)
            else:
                periods.append((offset, limit))
    merged: list[tuple[int, int]] = []
    for offset, limit in periods:
        if not merged or merged[-1][1] != limit:
            merged.append((offset, limit))
    return tuple(merged)


def first_excess(given: PowerLimits, plan: EvPlan, voltage_v: int, phases: int,
                 ) -> tuple[datetime, int, int] | None:
    """The first instant at which the EV's plan draws more than the limits the central
    gave (OCPP K15.FR.12): (instant, planned W, given W); None if it keeps to them. A
    plan in A is read at the EV's voltage, on the period's phases (else `phases`)."""
    starts = [plan.start + timedelta(seconds=offset) for offset, _, _ in plan.periods]
    ends = [*starts[1:], starts[-1] + PLAN_CHECKED_BEYOND]
    for begin, end, (_, limit, period_phases) in zip(starts, ends, plan.periods, strict=True):
        planned_w = limit if plan.unit == "W" else limit * voltage_v * (period_phases or phases)
        for left, _right, allowed_w in given.pieces(begin, end):
            if planned_w > allowed_w + EXCESS_TOLERANCE_W:
                return left, round(planned_w), allowed_w
    return None


def premise_caps(service_limit_w: int, others: Sequence[Schedule]) -> list[Cap]:
    """What other sessions' schedules leave of the premise's service limit, over time."""
    edges = sorted({s.start + timedelta(seconds=offset) for s in others
                    for offset, _ in s.periods})
    caps = []
    for left, right in itertools.pairwise(edges):
        used = sum(s.limit_at(left) for s in others)
        if used:
            caps.append(Cap("premise service", left, right, max(0, service_limit_w - used)))
    return caps
