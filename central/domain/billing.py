"""Rating: per-interval energy from EUMD register deltas, priced by TOU period.

Pure: readings and a tariff in, a bill out. The EUMD register (location Outlet) is the
billing truth; each interval between two readings is shared among the TOU periods it
spans in proportion to time, in whole Wh.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from shared.tariff import Tariff, split_energy
from shared.units import kwh, money


class Reading(NamedTuple):  # made twice for every meter value's running cost
    timestamp: datetime
    register_wh: int


@dataclass(frozen=True)
class PeriodCharge:
    period: str
    energy_wh: int
    cost: Decimal


@dataclass(frozen=True)
class Bill:
    energy_wh: int
    periods: tuple[PeriodCharge, ...]
    total: Decimal
    problems: tuple[str, ...] = ()  # e.g. a register that went backwards (never billed)

    def by_period(self) -> dict[str, dict[str, object]]:
        return {p.period: {"energy_wh": p.energy_wh, "cost": str(p.cost)} for p in self.periods}


def rate(readings: Sequence[Reading], tariff: Tariff) -> Bill:
    ordered = sorted(readings, key=lambda r: r.timestamp)
    energy: dict[str, int] = {}
    exact_cost: dict[str, Decimal] = {}
    problems = []
    for before, after in itertools.pairwise(ordered):
        if after.register_wh < before.register_wh:
            problems.append(f"register went back {before.register_wh - after.register_wh} Wh "
                            f"at {after.timestamp.isoformat()}")
            continue
        _price(exact_cost, before, after, tariff, energy)
    periods = tuple(PeriodCharge(name, energy[name], money(exact_cost[name])) for name in energy)
    return Bill(sum(energy.values()), periods, sum((p.cost for p in periods), Decimal("0.00")),
                tuple(problems))


def _price(exact_cost: dict[str, Decimal], before: Reading, after: Reading, tariff: Tariff,
           energy: dict[str, int] | None = None) -> None:
    """Add one interval's exact price (and Wh) to each period it falls in."""
    for period_name, price, wh in _shares(before, after, tariff):
        exact_cost[period_name] = exact_cost.get(period_name, Decimal(0)) + kwh(wh) * price
        if energy is not None:
            energy[period_name] = energy.get(period_name, 0) + wh


class RunningCost:
    """A live session's cost so far, as its bill would be if it ended at the newest
    reading (each period's exact cost rounded to cents, then summed), at a few
    comparisons per reading: the readings inside one tariff span (a period, up to
    midnight at most) are priced once a later reading leaves it, their register delta at
    its price (what the bill's intervals there add up to), and the interval that leaves
    it is shared among periods as the bill shares it."""

    __slots__ = ("_costs", "_last_at", "_last_wh", "_rated", "_span_end", "tariff")

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        self._costs: dict[str, Decimal] = {}  # period -> exact cost, up to _rated
        self._rated: Reading | None = None
        self._last_at: datetime | None = None  # the newest reading (no Reading is made
        self._last_wh = 0  # for each: this runs for every meter value)
        self._span_end: datetime | None = None  # of the span _rated is in

    @classmethod
    def rated(cls, tariff: Tariff, readings: Sequence[Reading]) -> RunningCost:
        """The cost of these readings (any order) as the bill rates them, interval by
        interval (nothing for a register that went back), kept from there on."""
        running = cls(tariff)
        ordered = sorted(readings, key=lambda r: r.timestamp)
        for before, after in itertools.pairwise(ordered):
            if after.register_wh >= before.register_wh:
                _price(running._costs, before, after, tariff)
        if ordered:
            running._restart_at(ordered[-1])
        return running

    def add(self, at: datetime, register_wh: int) -> bool:
        """Take the next reading; False, and nothing taken, for one older than the newest
        or below its register: the caller rates the readings again."""
        last_at = self._last_at
        if last_at is None:
            self._restart_at(Reading(at, register_wh))
            return True
        if at < last_at or register_wh < self._last_wh:
            return False
        assert self._rated is not None and self._span_end is not None
        if at > self._span_end:
            last, reading = Reading(last_at, self._last_wh), Reading(at, register_wh)
            _price(self._costs, self._rated, last, self.tariff)
            _price(self._costs, last, reading, self.tariff)
            self._restart_at(reading)
        else:
            self._last_at, self._last_wh = at, register_wh
        return True

    @property
    def total(self) -> Decimal:
        costs = dict(self._costs)
        if self._rated is not None and self._last_at is not None:
            _price(costs, self._rated, Reading(self._last_at, self._last_wh), self.tariff)
        return sum((money(cost) for cost in costs.values()), Decimal("0.00"))

    def _restart_at(self, reading: Reading) -> None:
        self._rated = reading
        self._last_at, self._last_wh = reading
        self._span_end = self.tariff.span_at(reading.timestamp).end


def _shares(before: Reading, after: Reading, tariff: Tariff) -> list[tuple[str, Decimal, int]]:
    """(period, price, Wh) for each period an interval's energy fell in, none with 0 Wh
    (a period the PEV drew nothing in does not appear on the bill)."""
    delta = after.register_wh - before.register_wh
    if delta == 0:
        return []
    span = tariff.period_holding(before.timestamp, after.timestamp)
    if span is not None:  # nearly every interval: no segments to share it among
        return [(span.period, span.price, delta)]
    segments = tariff.segments(before.timestamp, after.timestamp)
    if not segments:  # two readings at the same instant
        _season, period = tariff.at(after.timestamp)
        shares = [(period.name, period.price, delta)]
    else:
        shares = [(s.period, s.price, wh)
                  for s, wh in zip(segments, split_energy(segments, delta), strict=True)]
    return [share for share in shares if share[2] != 0]


def energy_within(readings: Sequence[Reading], start: datetime, end: datetime) -> int:
    """Metered Wh inside [start, end), intervals shared pro rata by time."""
    ordered = sorted(readings, key=lambda r: r.timestamp)
    total = 0.0
    for before, after in itertools.pairwise(ordered):
        delta = after.register_wh - before.register_wh
        span = (after.timestamp - before.timestamp).total_seconds()
        overlap = (min(end, after.timestamp) - max(start, before.timestamp)).total_seconds()
        if delta > 0 and span > 0 and overlap > 0:
            total += delta * overlap / span
    return round(total)


def trusted_baseline(readings: Sequence[Reading],
                     previous_end: int | None) -> tuple[list[Reading], str | None]:
    """Guard against a replayed Transaction.Begin of 0 (a reset meter or a buggy replay)
    billing the meter's whole lifetime: an EUMD register does not move between sessions,
    so a begin below the station's previous session's end, followed by readings above it,
    is replaced by that end. Returns the readings to bill and a problem to flag, if any."""
    ordered = sorted(readings, key=lambda r: r.timestamp)
    if previous_end is None or len(ordered) < 2:
        return ordered, None
    first, following = ordered[0], ordered[1]
    if first.register_wh < previous_end <= following.register_wh:
        return ([Reading(first.timestamp, previous_end), *ordered[1:]],
                f"begin register {first.register_wh} Wh is below the previous session's end "
                f"{previous_end} Wh: billed from {previous_end} Wh")
    return ordered, None
