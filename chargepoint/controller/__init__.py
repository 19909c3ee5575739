"""EVSE controller backends: what sets the current the vehicle may draw and tells whether a
vehicle is there (IEC 61851 states A-F).

`modbus` drives a real controller through its register map. The simulated controller is
part of the simulated EVSE (`chargepoint.evse`), which integrates energy into the simulated
meter directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PLUGGED_IN = frozenset("BCD")  # connected (B), charging (C), charging with ventilation (D)


@dataclass(frozen=True)
class ControllerStatus:
    vehicle_state: str  # A-F
    current_setpoint_a: float
    enabled: bool | None  # None when the map has no enable register


class EvseController(Protocol):
    async def set_current(self, amps: float) -> None:
        """Let the vehicle draw up to `amps` per phase; below the minimum, pause charging."""

    async def status(self) -> ControllerStatus: ...
