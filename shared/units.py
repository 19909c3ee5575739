"""Units: energy is integer Wh, power integer W, money Decimal."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
INT64 = range(-(2**63), 2**63)  # a 64-bit integer, as SQLite's INTEGER holds


def ac_power_w(current_a: float, voltage_v: float, phases: int) -> int:
    return math.floor(current_a * voltage_v * phases)


def ac_current_a(power_w: int, voltage_v: float, phases: int) -> float:
    return power_w / (voltage_v * phases)


def energy_wh(power_w: float, seconds: float) -> float:
    return power_w * seconds / 3600.0


def seconds_for(energy: int, power_w: int) -> int:
    """Whole seconds at `power_w` to deliver at least `energy` Wh."""
    return math.ceil(energy * 3600 / power_w)


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def kwh(wh: int) -> Decimal:
    return Decimal(wh) / 1000
