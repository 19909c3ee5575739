"""The EUMD interface: one reading of the meter, in base units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MeterReading:
    energy_wh: float  # cumulative import register
    power_w: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None


class Eumd(Protocol):
    serial: str

    async def read(self) -> MeterReading:
        """One reading; raises an exception (e.g. DeviceError) when the meter fails."""
