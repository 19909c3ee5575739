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
    battery_capacity_wh: int = 75_000
    state_of_charge: float = 0.3  # 0..1, at plug-in
    efficiency: float = 0.92  # on-board charger: AC in -> DC into the battery
    meter_error: float = 0.0  # the PEV's own AC measurement vs the EUMD (0.01 = +1 %)
    ac_received_wh: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.state_of_charge <= 1:
            raise ValueError("state of charge is a fraction from 0 to 1")
        if not 0 < self.efficiency <= 1:
            raise ValueError("charger efficiency is a fraction above 0, at most 1")

    def remaining_wh(self) -> float:
        """AC energy the PEV will still take: what was asked, or what fills the battery."""
        room = self.battery_capacity_wh * (1 - self.state_of_charge) / self.efficiency
        return max(0.0, min(self.energy_wanted_wh - self.ac_received_wh, room))

    @property
    def full(self) -> bool:
        return self.remaining_wh() <= 0

    def wants_w(self) -> int:
        """Power the PEV draws when allowed (0 once it has what it asked for)."""
        return 0 if self.full else self.max_power_w

    def receive(self, ac_wh: float) -> None:
        self.ac_received_wh += ac_wh
        self.state_of_charge = min(
            1.0, self.state_of_charge + ac_wh * self.efficiency / self.battery_capacity_wh)

    @property
    def running_total_wh(self) -> int:
        """What the PEV reports as its AC-side running total (location EV)."""
        return int(self.ac_received_wh * (1 + self.meter_error))
