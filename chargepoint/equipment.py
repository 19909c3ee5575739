"""What a charging session needs of the premise hardware: the EVSE and its EUMD as one.

The session asks for a sample (the EUMD register, the power) at each metering interval,
tells the equipment the limits to charge under whenever its schedule changes, and learns
when the vehicle leaves. The simulated pair (`chargepoint.evse.SimulatedEquipment`)
integrates energy exactly under the limits; the hardware-backed one
(`chargepoint.hardware.HardwareEquipment`) reads a real meter and drives a real
controller. The session does not know which it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chargepoint.pev import SimulatedPev
from shared.schedule import PowerLimits

CHARGING_W = 50  # metered power above this means the vehicle is drawing


@dataclass(frozen=True)
class Sample:
    """The station at one instant, as metered."""

    at: datetime  # when the register was read
    register_wh: int  # EUMD import register: the billing truth
    power_w: int | None
    ev_total_wh: int | None  # the PEV's own running total, when the station knows it
    charging_state: str  # OCPP ChargingStateEnum: Charging, SuspendedEV, SuspendedEVSE


def charging_state(power_w: int | None, limit_w: float) -> str:
    """OCPP's charging state from what is metered and what the EVSE allows: the EVSE
    suspends when it allows nothing, else the EV does when it draws nothing."""
    if power_w is not None and power_w > CHARGING_W:
        return "Charging"
    return "SuspendedEVSE" if limit_w <= 0 else "SuspendedEV"


class MeterUnavailable(Exception):
    """No trustworthy reading could be had this interval (refused, timed out, absent)."""


class Equipment(Protocol):
    def connect(self, pev: SimulatedPev) -> None:
        """The vehicle this session is for (what it declared; a simulation also draws)."""

    def follow(self, limits: PowerLimits, since: datetime) -> None:
        """Charge under `limits` from `since` on; `limits` is the caller's snapshot."""

    async def sample(self, at: datetime) -> Sample:
        """The EUMD now (`at` on the session's clock); raises MeterUnavailable."""

    async def unplugged(self) -> datetime:
        """Returns when the vehicle is unplugged, with the time it was seen gone."""
