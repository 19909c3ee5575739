"""Meter readings as the utility uses them, whatever OCPP version carried them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from shared.units import INT64


class MeterSample(NamedTuple):
    """One reading reduced to what the utility uses (a NamedTuple: one is made for every
    meter value sent or received)."""

    timestamp: datetime
    context: str
    register_wh: int | None  # EUMD register, location Outlet
    power_w: int | None
    ev_total_wh: int | None  # PEV running total, location EV


class InvalidReading(ValueError):
    """A sampled value that no meter can have measured."""


_SCALE = {"Wh": 1, "kWh": 1000, "W": 1, "kW": 1000}
# 10**18 Wh is beyond any meter; and 10 to the power of a billion, which a station's frame
# could ask for, would hold up the central's event loop for minutes.
MULTIPLIERS = range(-18, 19)


def in_base_unit(value: int | float | str, unit: str, multiplier: int = 0) -> int | None:
    """A sampled value in Wh or W; None for a unit the utility does not use."""
    scale = _SCALE.get(unit)
    if scale is None:
        return None
    if multiplier not in MULTIPLIERS:
        raise InvalidReading(f"unitOfMeasure multiplier {multiplier} is out of range "
                             f"({MULTIPLIERS.start}..{MULTIPLIERS.stop - 1})")
    if type(value) is int and multiplier >= 0:  # nearly every reading: exact without Decimal
        reading: int = value * scale * 10 ** multiplier
    else:
        try:
            exact = Decimal(str(value)) * scale * (Decimal(10) ** multiplier)
            reading = int(exact.to_integral_value())
        except ArithmeticError:  # "abc", "NaN", "Infinity": a 1.6 value is a string
            raise InvalidReading(f"sampled value {value!r} is not a number") from None
    if reading not in INT64:  # a register is a 64-bit integer
        raise InvalidReading(f"sampled value {value} (multiplier {multiplier}) is beyond "
                             "any meter's register")
    return reading
