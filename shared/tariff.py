"""Time-of-use tariffs: local time enters here and nowhere else.

A tariff has seasons (sets of months), each dividing the local day into named periods
with a price per kWh. `segments` cuts a UTC span where the period changes, DST included;
`split_energy` shares an interval's Wh among those segments in proportion to time, in
whole Wh that add up exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from shared.timeutil import require_utc

DAY_MINUTES = 24 * 60


class TariffError(ValueError):
    """A tariff definition that cannot be used.

    `season_index` and `token` (text that appears on the offending line) let a caller
    that knows the file point at the line.
    """

    def __init__(self, message: str, season_index: int | None = None,
                 token: str | None = None) -> None:
        super().__init__(message)
        self.season_index, self.token = season_index, token


@dataclass(frozen=True)
class Period:
    name: str
    start_minute: int  # minutes after local midnight, inclusive
    end_minute: int  # exclusive; 1440 is midnight at the end of the day
    price: Decimal  # per kWh

    def contains(self, minute_of_day: int) -> bool:
        return self.start_minute <= minute_of_day < self.end_minute


@dataclass(frozen=True)
class Season:
    name: str
    months: frozenset[int]
    periods: tuple[Period, ...]

    def period_at(self, minute_of_day: int) -> Period:
        for period in self.periods:
            if period.contains(minute_of_day):
                return period
        raise AssertionError("periods of a validated season cover the whole day")


@dataclass(frozen=True)
class Segment:
    """A span of UTC time inside one tariff period."""

    start: datetime
    end: datetime
    season: str
    period: str
    price: Decimal

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Tariff:
    id: str
    name: str
    timezone: ZoneInfo
    seasons: tuple[Season, ...]
    illustrative: bool = False
    # The span of one period found last: consecutive meter readings of every station
    # nearly always fall inside it, so most intervals are priced without a time zone.
    _last_span: Segment | None = field(default=None, init=False, repr=False, compare=False)

    def season_of(self, local_day: date) -> Season:
        for season in self.seasons:
            if local_day.month in season.months:
                return season
        raise AssertionError("seasons of a validated tariff cover every month")

    def at(self, moment: datetime) -> tuple[Season, Period]:
        local = require_utc(moment).astimezone(self.timezone)
        season = self.season_of(local.date())
        return season, season.period_at(local.hour * 60 + local.minute)

    def price_at(self, moment: datetime) -> Decimal:
        return self.at(moment)[1].price

    def segments(self, start: datetime, end: datetime) -> list[Segment]:
        """Cut [start, end) wherever the period (or season) changes."""
        start, end = require_utc(start), require_utc(end)
        if end <= start:
            return []
        span = self.period_holding(start, end)
        if span is not None:  # inside one period: nearly every interval
            return [Segment(start, end, span.season, span.period, span.price)]
        cuts = sorted({c for c in self._boundaries(start, end) if start < c < end})
        edges = [start, *cuts, end]
        result: list[Segment] = []
        for left, right in itertools.pairwise(edges):
            season, period = self.at(left)
            previous = result[-1] if result else None
            if previous and (previous.season, previous.period) == (season.name, period.name):
                result[-1] = Segment(previous.start, right, season.name, period.name, period.price)
            else:
                result.append(Segment(left, right, season.name, period.name, period.price))
        return result

    def time_of_day_prices(self, start: datetime,
                           end: datetime) -> list[tuple[time, time, Decimal]]:
        """The price over [start, end), by local time of day: (from, to, price)."""
        return [(s.start.astimezone(self.timezone).time(),
                 s.end.astimezone(self.timezone).time(), s.price)
                for s in self.segments(start, end)]

    def period_holding(self, start: datetime, end: datetime) -> Segment | None:
        """The span of the one period that holds all of [start, end), if one does (nearly
        every metered interval): what `segments` would cut it into, without the cutting."""
        start, end = require_utc(start), require_utc(end)
        span = self._span_around(start)
        return span if start < end <= span.end else None

    def span_at(self, moment: datetime) -> Segment:
        """The span of one period (up to midnight at most) that holds `moment`."""
        return self._span_around(require_utc(moment))

    def _boundaries(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every local period start (and midnight) around the span, as UTC instants."""
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        last = end.astimezone(self.timezone).date() + timedelta(days=1)
        while day <= last:
            yield from _period_starts(self.timezone, self._start_minutes, day)
            day += timedelta(days=1)

    def _span_around(self, moment: datetime) -> Segment:
        """From the last period start (or midnight) at or before `moment` to the next."""
        last = self._last_span
        if last is not None and last.start <= moment < last.end:
            return last
        boundaries = list(self._boundaries(moment, moment))
        season, period = self.at(moment)
        span = Segment(max(c for c in boundaries if c <= moment),
                       min(c for c in boundaries if c > moment),
                       season.name, period.name, period.price)
        object.__setattr__(self, "_last_span", span)  # a cache, not the tariff's value
        return span

    @cached_property
    def _start_minutes(self) -> tuple[int, ...]:
        return tuple(sorted({p.start_minute for s in self.seasons for p in s.periods} | {0}))


@lru_cache(maxsize=4096)
def _period_starts(zone: ZoneInfo, minutes: tuple[int, ...], day: date) -> tuple[datetime, ...]:
    """The UTC instants at which a local day's period may change: each period start (and
    midnight), both times where the clock falls back and shows it twice, and the DST
    switch itself, where the clock jumps. Between two of them the local clock runs on
    without a jump past a period start, so the period is the same throughout. Worked
    out once per zone, periods and day, as every metered minute is rated with them."""
    starts = {datetime.combine(day, time(m // 60, m % 60, fold=fold), zone).astimezone(UTC)
              for m in minutes for fold in (0, 1)}
    switch = _offset_change(zone, day)
    return tuple(sorted(starts if switch is None else {*starts, switch}))


def _offset_change(zone: ZoneInfo, day: date) -> datetime | None:
    """The first instant of the local day's new UTC offset, if it changes that day."""
    low = datetime.combine(day, time(), zone).astimezone(UTC)
    high = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    offset = low.astimezone(zone).utcoffset()
    if high.astimezone(zone).utcoffset() == offset:
        return None
    while high - low > timedelta(seconds=1):  # the old offset at low, the new at high
        middle = low + (high - low) // 2
        low, high = (middle, high) if middle.astimezone(zone).utcoffset() == offset \
            else (low, middle)
    return high.replace(microsecond=0)


def split_energy(segments: Sequence[Segment], wh: int) -> list[int]:
    """Share `wh` among segments by duration; whole Wh, summing exactly (largest remainder)."""
    if len(segments) <= 1:
        return [wh] * len(segments)
    total = sum(s.seconds for s in segments)
    if total <= 0:
        return [wh] + [0] * (len(segments) - 1)
    exact = [wh * s.seconds / total for s in segments]
    shares = [int(x) for x in exact]
    leftover = wh - sum(shares)
    by_remainder = sorted(range(len(segments)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return shares


def parse_tariff(
    tariff_id: str, name: str, timezone: ZoneInfo, definition: Mapping[str, Any],
    illustrative: bool = False,
) -> Tariff:
    """Build a tariff from its registry definition (`seasons`, or `periods` for all year)."""
    if "seasons" in definition and "periods" in definition:
        raise TariffError("give either 'seasons' or 'periods', not both")
    if "seasons" in definition:
        raw_seasons = definition["seasons"]
        if not isinstance(raw_seasons, list) or not raw_seasons:
            raise TariffError("'seasons' must be a non-empty list")
        seasons = tuple(_parse_season(raw, index) for index, raw in enumerate(raw_seasons))
    elif "periods" in definition:
        seasons = (_parse_season({"name": "all-year", "months": list(range(1, 13)),
                                  "periods": definition["periods"]}),)
    else:
        raise TariffError("a tariff needs 'periods' (all year) or 'seasons'")
    months = [m for s in seasons for m in s.months]
    if sorted(months) != list(range(1, 13)):
        raise TariffError("seasons must cover each month 1-12 exactly once")
    return Tariff(tariff_id, name, timezone, seasons, illustrative)


def tariff_definition(tariff: Tariff) -> dict[str, Any]:
    """The inverse of parse_tariff, for storage."""
    return {"seasons": [
        {"name": s.name, "months": sorted(s.months), "periods": [
            {"name": p.name, "start": _hhmm(p.start_minute), "end": _hhmm(p.end_minute),
             "price": str(p.price)} for p in s.periods]}
        for s in tariff.seasons]}


def _parse_season(raw: Any, index: int = 0) -> Season:
    try:
        return _season(raw)
    except TariffError as error:
        raise TariffError(str(error), index, error.token) from None


def _season(raw: Any) -> Season:
    if not isinstance(raw, Mapping):
        raise TariffError("a season must be a table")
    name = str(raw.get("name", "")).strip()
    if not name:
        raise TariffError("a season needs a 'name'")
    months = raw.get("months")
    if (not isinstance(months, list) or not months
            or not all(isinstance(m, int) and 1 <= m <= 12 for m in months)):
        raise TariffError(f"season {name!r}: 'months' must list month numbers 1-12")
    raw_periods = raw.get("periods")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise TariffError(f"season {name!r}: 'periods' must be a non-empty list")
    periods = tuple(sorted((_parse_period(name, p) for p in raw_periods),
                           key=lambda p: p.start_minute))
    covered = 0
    for period in periods:
        if period.start_minute != covered:
            raise TariffError(f"season {name!r}: periods must cover 00:00-24:00 without gaps "
                              f"or overlaps (check around {_hhmm(covered)})",
                              token=_hhmm(covered))
        covered = period.end_minute
    if covered != DAY_MINUTES:
        raise TariffError(f"season {name!r}: periods end at {_hhmm(covered)}, not 24:00")
    return Season(name, frozenset(months), periods)


def _parse_period(season: str, raw: Any) -> Period:
    try:
        return _period(season, raw)
    except TariffError as error:
        name = raw.get("name") if isinstance(raw, Mapping) else None
        raise TariffError(str(error), token=error.token or (f'"{name}"' if name else None)
                          ) from None


def _period(season: str, raw: Any) -> Period:
    if not isinstance(raw, Mapping):
        raise TariffError(f"season {season!r}: a period must be a table")
    name = str(raw.get("name", "")).strip()
    if not name:
        raise TariffError(f"season {season!r}: a period needs a 'name'")
    start = _minute_of_day(raw.get("start"), f"period {name!r} start")
    end = _minute_of_day(raw.get("end"), f"period {name!r} end")
    if end == 0:
        end = DAY_MINUTES  # "00:00" as an end means midnight at the end of the day
    if end <= start:
        raise TariffError(f"period {name!r}: end must be after start (split periods that "
                          "wrap midnight in two)")
    try:
        price = Decimal(str(raw.get("price")))
    except InvalidOperation:
        raise TariffError(f"period {name!r}: price {raw.get('price')!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise TariffError(f"period {name!r}: price must be a non-negative number")
    return Period(name, start, end, price)


def _minute_of_day(value: Any, what: str) -> int:
    text = str(value) if value is not None else ""
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2):
        raise TariffError(f"{what}: {value!r} is not HH:MM")
    minute = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minute > DAY_MINUTES:
        raise TariffError(f"{what}: {value!r} is not a time of day")
    return minute


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
