"""A hardware-backed station as a session's `Equipment`: a real EUMD is read, a real EVSE
controller is given the schedule as a current limit and tells when the vehicle comes and
goes.

Readings are checked (`chargepoint.meter.checks`) and retried; when none is good the
interval goes without one (`MeterUnavailable`), never with a made-up value: the register
carries the energy to the next good reading. The schedule is applied as the current of
its period at each of its edges, never above the station's maximum.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from chargepoint.controller import PLUGGED_IN, EvseController
from chargepoint.equipment import MeterUnavailable, Sample, charging_state
from chargepoint.meter.base import Eumd
from chargepoint.meter.checks import refusal
from chargepoint.modbus.link import DeviceError
from chargepoint.pev import SimulatedPev
from shared.clock import Clock
from shared.profiles import ProfileStack
from shared.schedule import PowerLimits
from shared.timeutil import to_wire
from shared.units import ac_current_a

log = logging.getLogger("chargepoint.hardware")

def current_limit_a(limit_w: int, max_power_w: int, voltage_v: float, phases: int) -> float:
    """A power limit as a per-phase current, never above the station's maximum; whole
    amperes, rounded down (controllers take whole amperes; rounding up would exceed)."""
    return float(math.floor(ac_current_a(min(limit_w, max_power_w), voltage_v, phases)))


class HardwareEquipment:
    def __init__(self, meter: Eumd, controller: EvseController, clock: Clock, *,
                 max_power_w: int, voltage_v: float, phases: int, retries: int = 3,
                 retry_s: float = 0.5, poll_s: float = 1.0) -> None:
        self.meter, self.controller, self.clock = meter, controller, clock
        self.max_power_w, self.voltage_v, self.phases = max_power_w, voltage_v, phases
        self.retries, self.retry_s, self.poll_s = retries, retry_s, poll_s
        self._limits: PowerLimits = ProfileStack()
        self._changed = asyncio.Event()
        self._setpoint_a: float | None = None  # as last written to the controller
        self._last: tuple[datetime, int] | None = None  # the last good register reading
        self._controller_ok = True

    def connect(self, pev: SimulatedPev) -> None:
        """The real vehicle draws what it draws: nothing to simulate."""

    def follow(self, limits: PowerLimits, since: datetime) -> None:
        self._limits = limits
        self._changed.set()

    async def sample(self, at: datetime) -> Sample:
        reason = ""
        for attempt in range(1, self.retries + 1):
            try:
                reading = await self.meter.read()
            except DeviceError as error:
                reason = str(error)
            else:
                now = self.clock.now()
                refused = refusal(reading, now, self._last, self.max_power_w)
                if refused is None:
                    register = round(reading.energy_wh)
                    self._last = (now, register)
                    power = round(reading.power_w) if reading.power_w is not None else None
                    return Sample(now, register, power, None,
                                  charging_state(power, self._setpoint_a or 0))
                reason = f"reading refused: {refused}"
            log.warning("meter reading failed", extra={
                "meter": self.meter.serial, "attempt": attempt, "error": reason})
            if attempt < self.retries:
                await asyncio.sleep(self.retry_s)
        raise MeterUnavailable(reason)

    async def plugged_in(self) -> datetime:
        """Returns when the controller sees a vehicle (state B, C or D)."""
        return await self._until_vehicle(lambda state: state in PLUGGED_IN)

    async def unplugged(self) -> datetime:
        return await self._until_vehicle(lambda state: state == "A")

    async def _until_vehicle(self, seen: Callable[[str], bool]) -> datetime:
        # polling: a Modbus device tells nothing unless asked
        while not ((state := await self._vehicle_state()) and seen(state)):  # noqa: ASYNC110
            await asyncio.sleep(self.poll_s)
        return self.clock.now()

    async def _vehicle_state(self) -> str | None:
        """The controller's vehicle state; None (not A) when it cannot be read. A failure
        is logged when it begins and when it ends, not at every poll."""
        try:
            state = (await self.controller.status()).vehicle_state
        except DeviceError as error:
            if self._controller_ok:
                log.warning("controller status failed", extra={"error": str(error)})
            self._controller_ok = False
            return None
        if not self._controller_ok:
            log.info("controller status read again", extra={"vehicle_state": state})
        self._controller_ok = True
        return state

    async def follow_schedule(self) -> None:
        """Apply the limit in force to the controller at every edge of the schedule, until
        cancelled; a write that fails is tried again."""
        while True:
            self._changed.clear()
            now = self.clock.now()
            amps = current_limit_a(self._limits.limit_at(now), self.max_power_w,
                                   self.voltage_v, self.phases)
            if amps != self._setpoint_a:
                try:
                    await self.controller.set_current(amps)
                except DeviceError as error:
                    log.warning("setpoint not applied", extra={"error": str(error)})
                    await asyncio.sleep(self.retry_s)
                    continue
                self._setpoint_a = amps
                log.info("setpoint applied", extra={"current_a": amps, "at": to_wire(now)})
            edge = next((right for _, right, _ in self._limits.pieces(now, now + timedelta(
                days=1)) if right > now), now + timedelta(days=1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(),
                                       (edge - now).total_seconds() / self.clock.speed)
