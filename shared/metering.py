"""Meter readings as the utility uses them, whatever OCPP version carried them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from shared.timeutil import parse_timestamp
from shared.units import INT64

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
OUTLET = "Outlet"  # the EUMD: billing truth
EV = "EV"  # the PEV's own running total: a cross-check


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
        except (ArithmeticError, ValueError):  # "abc", "NaN", "Infinity": 1.6 sends strings
            raise InvalidReading(f"sampled value {value!r} is not a number") from None
    if reading not in INT64:  # a register is a 64-bit integer
        raise InvalidReading(f"sampled value {value} (multiplier {multiplier}) is beyond "
                             "any meter's register")
    return reading


def reduce_meter_values(
    meter_values: Iterable[Mapping[str, Any]],
    unit_of: Callable[[Mapping[str, Any]], tuple[str, int]],
) -> list[MeterSample]:
    """The wire's meterValue elements (camelCase, as OCPP 1.6 and 2.x share them but for
    where the unit is: `unit_of` gives a sampled value's unit and multiplier), reduced to
    what the utility uses."""
    samples = []
    for meter_value in meter_values:
        register = power = ev_total = None
        context = "Sample.Periodic"
        for sampled in meter_value.get("sampledValue", []):
            context = sampled.get("context", context)
            measurand = sampled.get("measurand", ENERGY_REGISTER)
            location = sampled.get("location", OUTLET)
            if sampled.get("phase") is not None:
                continue  # per-phase values: we bill on the totals
            if measurand == ENERGY_REGISTER and location == OUTLET:
                register = in_base_unit(sampled["value"], *unit_of(sampled))
            elif measurand == ENERGY_REGISTER and location == EV:
                ev_total = in_base_unit(sampled["value"], *unit_of(sampled))
            elif measurand == POWER and location == OUTLET:
                power = in_base_unit(sampled["value"], *unit_of(sampled))
        samples.append(MeterSample(parse_timestamp(meter_value["timestamp"]), context,
                                   register, power, ev_total))
    return samples
