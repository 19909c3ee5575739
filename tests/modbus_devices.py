"""A premise's Modbus devices, emulated on a real pymodbus TCP server on loopback: an
Eastron SDM630-style meter (unit 1) and a Phoenix Contact EV Charge Control-style
controller (unit 2), driven by a small plant model.

The plant integrates the controller's current setpoint into the meter's import register
over the test's clock: a plugged-in vehicle draws setpoint x voltage x phases (up to its
own maximum) while charging is enabled, until it has what it wanted. Faults are switches
on the plant: `garbage` replaces the next energy readings, `delay_s` answers slowly, and
`ModbusDevices.stop()` takes the whole server away.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from chargepoint.modbus.registers import CONTROLLER_MAPS, METER_MAPS, Register, decode, encode
from shared.clock import Clock
from shared.metering import MeterSample
from tests.integration.conftest import Central, free_port, start_agent

SPEED = 300  # moderate: a Modbus round trip and a poll stay well inside a simulated minute
METER_UNIT, CONTROLLER_UNIT = 1, 2
SDM630 = METER_MAPS["sdm630"]
PHOENIX = CONTROLLER_MAPS["phoenix-ev-charge-control"]
WRITE_CODES = {5, 6, 15, 16}


@dataclass
class Plant:
    clock: Clock
    energy_wh: float = 1_234_500.0  # the meter's lifetime register at the start
    voltage_v: float = 230.0
    phases: int = 1
    pev_max_w: float = 7360.0
    wanted_wh: float = math.inf  # the vehicle stops drawing once it has this much
    vehicle_present: bool = False
    setpoint_a: float = 0.0
    enabled: bool = False
    delay_s: float = 0.0  # every answer waits this long (real seconds)
    garbage: list[float] = field(default_factory=list)  # energy Wh values served next
    served_wh: list[int] = field(default_factory=list)  # every energy value served, Wh
    limits: list[tuple[datetime, float]] = field(default_factory=list)  # A allowed, when
    delivered_wh: float = 0.0
    replay: list[MeterSample] = field(default_factory=list)  # serve these readings instead
    _at: datetime | None = None

    def power_w(self) -> float:
        if self.replay:
            return float(self._replayed().power_w or 0)
        if not (self.vehicle_present and self.enabled) or self.delivered_wh >= self.wanted_wh:
            return 0.0
        return min(self.setpoint_a * self.voltage_v * self.phases, self.pev_max_w)

    def advance(self) -> None:
        """Integrate the power drawn since the last look up to now."""
        now = self.clock.now()
        if self._at is not None and now > self._at:
            energy = min(self.power_w() * (now - self._at).total_seconds() / 3600,
                         self.wanted_wh - self.delivered_wh)
            self.energy_wh += energy
            self.delivered_wh += energy
        self._at = now

    def plug_in(self) -> None:
        self.advance()
        self.vehicle_present = True

    def unplug(self) -> None:
        self.advance()
        self.vehicle_present = False

    @property
    def vehicle_state(self) -> str:
        if not self.vehicle_present:
            return "A"
        return "C" if self.power_w() > 0 else "B"

    def meter_words(self, address: int) -> dict[Register, list[int]]:
        """The meter's registers for a read at `address` (the energy register's read
        takes the next garbage value, if any)."""
        if self.garbage and address == SDM630.energy.address:
            energy = self.garbage.pop(0)
        else:
            energy = (self._replayed().register_wh or 0) if self.replay else self.energy_wh
        words = {SDM630.energy: encode(SDM630.energy, energy, "Wh")}
        if math.isfinite(energy) and address == SDM630.energy.address:
            self.served_wh.append(round(decode(SDM630.energy, words[SDM630.energy], "Wh")))
        power = self.power_w()
        for register, value, unit in (
                (SDM630.power, power, "W"), (SDM630.voltage, self.voltage_v, "V"),
                (SDM630.current, power / self.voltage_v / self.phases, "A")):
            assert register is not None
            words[register] = encode(register, value, unit)
        return words

    def _replayed(self) -> MeterSample:
        """The latest recorded reading at or before now (the first before any)."""
        now = self.clock.now()
        return next((r for r in reversed(self.replay) if r.timestamp <= now), self.replay[0])

    def controller_words(self) -> dict[Register, list[int]]:
        assert PHOENIX.enable is not None
        return {PHOENIX.vehicle_status: [ord(self.vehicle_state)],
                PHOENIX.current_setpoint: [int(self.setpoint_a)],
                PHOENIX.enable: [int(self.enabled)]}

    def write(self, register: Register, value: int) -> None:
        self.advance()
        if register == PHOENIX.current_setpoint:
            self.setpoint_a = float(value)
        elif register == PHOENIX.enable:
            self.enabled = bool(value)
        allowed = self.setpoint_a if self.enabled else 0.0
        if not self.limits or self.limits[-1][1] != allowed:
            self.limits.append((self.clock.now(), allowed))

    def limit_at(self, moment: datetime) -> float:
        """The current the controller allowed at `moment`."""
        return next((a for at, a in reversed(self.limits) if at <= moment), 0.0)


def _device(unit: int, plant: Plant, meter: bool) -> SimDevice:
    """Registers 0-599 of each kind; an action keeps them in step with the plant."""
    function_kinds = {1: "coil", 5: "coil", 15: "coil", 3: "holding", 6: "holding",
                      16: "holding", 4: "input"}

    async def action(function_code: int, start: int, address: int, count: int,
                     registers: list[int], values: list[int] | list[bool] | None
                     ) -> ExcCodes | None:
        if plant.delay_s:
            await asyncio.sleep(plant.delay_s)
        kind = function_kinds[function_code]
        if function_code in WRITE_CODES and values is not None:
            for register in (PHOENIX.current_setpoint, PHOENIX.enable):
                if register is not None and register.kind == kind and \
                        register.address == address:
                    plant.write(register, int(values[0]))
            return None
        plant.advance()
        for register, words in (plant.meter_words(address) if meter else
                                plant.controller_words()).items():
            if register.kind == kind:
                if kind == "coil":
                    registers[register.address // 16 - start] = words[0] << (
                        register.address % 16)
                else:
                    registers[register.address - start:register.address - start +
                              len(words)] = words
        return None

    bits = [SimData(0, count=600, values=False, datatype=DataType.BITS)]
    words = [SimData(0, count=600, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(unit, simdata=(bits, list(bits), words, list(words)), action=action)


class ModbusDevices:
    """The emulated meter and controller on 127.0.0.1:`port`, to stop and start again."""

    def __init__(self, plant: Plant, port: int) -> None:
        self.plant, self.port = plant, port
        self._server: ModbusTcpServer | None = None

    async def start(self) -> None:
        self._server = ModbusTcpServer(
            [_device(METER_UNIT, self.plant, True), _device(CONTROLLER_UNIT, self.plant, False)],
            address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


@asynccontextmanager
async def modbus_devices(plant: Plant) -> AsyncIterator[ModbusDevices]:
    devices = ModbusDevices(plant, free_port())
    await devices.start()
    try:
        yield devices
    finally:
        await devices.stop()


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str,
                timeout_s: float = 60) -> None:
    """Wait (real time) until `condition` holds; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


async def hardware_agent(central: Central, devices: ModbusDevices, station: str, *args: str,
                         state_dir: Path, **station_fields: Any,
                         ) -> asyncio.subprocess.Process:
    """`pev-chargepoint run --config` for the emulated devices, against the central."""
    config = station_file(state_dir, devices.port, station, **station_fields)
    return await start_agent(central.url, station, "--config", str(config), *args,
                             state_dir=state_dir, speed=central.speed)


def station_file(directory: Path, port: int, station: str = "CP-1002",
                 max_power_w: int = 11000, voltage_v: int = 230, timeout_s: float = 0.5,
                 poll_s: float = 0.05) -> Path:
    """A station file for the emulated devices (the format of examples/station-modbus.toml)."""
    path = directory / f"{station}.toml"
    link = f'transport = "tcp"\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = {timeout_s}'
    path.write_text(f"""
[station]
id = "{station}"
max_power_w = {max_power_w}
voltage_v = {voltage_v}
phases = 1

[meter]
backend = "modbus"
serial = "EUMD-{station}"
map = "sdm630"
{link}
unit = {METER_UNIT}
retries = 2
retry_s = 0.1

[controller]
backend = "modbus"
map = "phoenix-ev-charge-control"
{link}
unit = {CONTROLLER_UNIT}
poll_s = {poll_s}
""")
    return path
