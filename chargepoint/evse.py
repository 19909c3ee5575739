"""A simulated EVSE: lets the PEV draw what the schedule allows, through the EUMD.

Energy is integrated exactly over the schedule's constant-limit pieces, so the metered
energy does not depend on when the process happens to wake up.
"""

from __future__ import annotations

from datetime import datetime

from chargepoint.meter.simulated import SimulatedEumd
from chargepoint.pev import SimulatedPev
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
