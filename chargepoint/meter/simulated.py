"""A simulated EUMD: an energy register that persists across runs and never goes back."""

from __future__ import annotations

import json
import os
from pathlib import Path

from chargepoint.meter.base import MeterReading


class SimulatedEumd:
    def __init__(self, state_path: Path, serial: str) -> None:
        self.state_path = state_path
        self.serial = serial
        self._register_mwh = 0
        if state_path.exists():
            state = json.loads(state_path.read_text())
            if state.get("serial") != serial:
                raise ValueError(f"{state_path} belongs to meter {state.get('serial')!r}, "
                                 f"not {serial!r}")
            self._register_mwh = int(state["register_mwh"])

    @property
    def register_wh(self) -> int:
        return self._register_mwh // 1000

    async def read(self) -> MeterReading:
        return MeterReading(float(self.register_wh))

    def add(self, energy_wh: float) -> None:
        if energy_wh < 0:
            raise ValueError("an import register never goes backwards")
        self._register_mwh += round(energy_wh * 1000)
        self._persist()

    def _persist(self) -> None:
        """Write-then-rename with fsync: a crash leaves the old or the new state, whole."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"serial": self.serial, "register_mwh": self._register_mwh}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)
