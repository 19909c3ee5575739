"""A simulated EVSE: lets the PEV draw what the schedule allows, through the EUMD.

Energy is integrated exactly over the schedule's constant-limit pieces, so the metered
energy does not depend on when the process happens to wake up.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from chargepoint.equipment import Sample, charging_state
from chargepoint.meter.simulated import SimulatedEumd
from chargepoint.pev import SimulatedPev
from shared.profiles import ProfileStack
from shared.schedule import PowerLimits
from shared.units import energy_wh


class SimulatedEvse:
    def __init__(self, meter: SimulatedEumd, max_power_w: int) -> None:
        self.meter = meter
        self.max_power_w = max_power_w

    def power_w(self, pev: SimulatedPev, limits: PowerLimits, at: datetime) -> int:
        return max(0, min(limits.limit_at(at), self.max_power_w, pev.wants_w()))

    def advance(self, pev: SimulatedPev, limits: PowerLimits, begin: datetime,
                end: datetime) -> float:
        """Charge from `begin` to `end` under `limits`; returns the AC Wh delivered."""
        if end <= begin:
            return 0.0
        delivered = 0.0
        for left, right, _limit in limits.pieces(begin, end):
            power = self.power_w(pev, limits, left)
            if power == 0:
                continue
            energy = min(energy_wh(power, (right - left).total_seconds()), pev.remaining_wh())
            pev.receive(energy)
            delivered += energy
        if delivered:
            self.meter.add(delivered)
        return delivered


class SimulatedEquipment:
    """The simulated EVSE and EUMD as a session's `Equipment`: energy is integrated exactly
    from one sample to the next under the limits in force, so a schedule change between
    samples counts from the instant it was made."""

    def __init__(self, evse: SimulatedEvse) -> None:
        self.evse = evse
        self._pev: SimulatedPev | None = None
        self._limits: PowerLimits = ProfileStack()
        self._since: datetime | None = None  # integrated up to here

    def connect(self, pev: SimulatedPev) -> None:
        self._pev = pev

    def follow(self, limits: PowerLimits, since: datetime) -> None:
        self._advance(since)
        self._limits = limits

    async def sample(self, at: datetime) -> Sample:
        self._advance(at)
        pev = self._vehicle()
        power = self.evse.power_w(pev, self._limits, at)
        allowed = min(self._limits.limit_at(at), self.evse.max_power_w)
        return Sample(at, self.evse.meter.register_wh, power, pev.running_total_wh,
                      charging_state(power, allowed))

    async def unplugged(self) -> datetime:
        """Never of itself: the simulated PEV leaves at its departure, when the session
        ends."""
        await asyncio.Future()
        raise AssertionError("unreachable")

    def _vehicle(self) -> SimulatedPev:
        if self._pev is None:
            raise RuntimeError("no PEV connected to the simulated EVSE")
        return self._pev

    def _advance(self, moment: datetime) -> None:
        if self._since is not None and moment > self._since:
            self.evse.advance(self._vehicle(), self._limits, self._since, moment)
        if self._since is None or moment > self._since:
            self._since = moment
