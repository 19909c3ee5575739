"""A simulated PEV: battery, on-board charger efficiency, and its own running total."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SimulatedPev:
    pev_id: str
    vin: str | None
    energy_wanted_wh: int  # AC energy the driver asks for
    max_power_w: int = 7360  # 32 A single phase at 230 V
    voltage_v: int = 230
    phases: int = 1
    efficiency: float = 0.92  # on-board charger: AC in -> DC into the battery
    meter_error: float = 0.0  # the PEV's own AC measurement vs the EUMD (e.g. 0.01 = +1 %)
    battery_wh: float = 0.0  # DC energy stored during this session
    ac_received_wh: float = 0.0

    @property
    def full(self) -> bool:
        return self.ac_received_wh >= self.energy_wanted_wh

    def wants_w(self) -> int:
        """Power the PEV draws when allowed (0 once it has what it asked for)."""
        return 0 if self.full else self.max_power_w

    def remaining_wh(self) -> float:
        return max(0.0, self.energy_wanted_wh - self.ac_received_wh)

    def receive(self, ac_wh: float) -> None:
        self.ac_received_wh += ac_wh
        self.battery_wh += ac_wh * self.efficiency

    @property
    def running_total_wh(self) -> int:
        """What the PEV reports as its AC-side running total (location EV)."""
        return int(self.ac_received_wh * (1 + self.meter_error))
