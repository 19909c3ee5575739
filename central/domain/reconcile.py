"""Reconciliation: the EUMD's energy (billing truth) against the PEV's own running total.

Pure. Pass within max(2 %, 100 Wh); warn when the meter is ahead by up to 5 %; flag beyond
that, or whenever the PEV saw more than the meter beyond tolerance (the meter may be
under-registering). Missing EUMD data means the bill is estimated from the PEV's total.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    pass_pct: Decimal = Decimal(2)
    pass_wh: int = 100
    warn_pct: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        if not (0 <= self.pass_pct <= self.warn_pct) or self.pass_wh < 0:
            raise ValueError("thresholds must satisfy 0 <= pass % <= warn % and pass Wh >= 0")


@dataclass(frozen=True)
class Reconciliation:
    status: str  # pass | warn | flag | estimated | unchecked
    meter_wh: int | None
    pev_wh: int | None
    difference_wh: int | None  # PEV minus meter
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def reconcile(meter_wh: int | None, pev_wh: int | None,
              thresholds: Thresholds = Thresholds()) -> Reconciliation:
    if meter_wh is None:
        if pev_wh is None:
            return Reconciliation("unchecked", None, None, None, "no meter or PEV data")
        return Reconciliation("estimated", None, pev_wh, None,
                              "no EUMD data: billed on the PEV's running total")
    if pev_wh is None:
        return Reconciliation("unchecked", meter_wh, None, None, "the PEV reported no total")
    difference = pev_wh - meter_wh
    tolerance = max(thresholds.pass_pct / 100 * meter_wh, Decimal(thresholds.pass_wh))
    if abs(difference) <= tolerance:
        return Reconciliation("pass", meter_wh, pev_wh, difference, "within tolerance")
    if difference > 0:
        return Reconciliation("flag", meter_wh, pev_wh, difference,
                              "the PEV received more than the EUMD recorded")
    if -difference <= thresholds.warn_pct / 100 * meter_wh:
        return Reconciliation("warn", meter_wh, pev_wh, difference,
                              f"the EUMD is ahead by up to {thresholds.warn_pct} %")
    return Reconciliation("flag", meter_wh, pev_wh, difference,
                          f"the EUMD is ahead by more than {thresholds.warn_pct} %")
