"""A real energy meter over Modbus, read through its register map."""

from __future__ import annotations

from chargepoint.meter.base import MeterReading
from chargepoint.modbus.link import ModbusLink
from chargepoint.modbus.registers import MeterMap


class ModbusEumd:
    def __init__(self, link: ModbusLink, register_map: MeterMap, serial: str) -> None:
        self.link, self.map, self.serial = link, register_map, serial

    async def read(self) -> MeterReading:
        m = self.map
        energy = await self.link.read(m.energy, "Wh")
        power, voltage, current = [
            await self.link.read(register, unit) if register else None
            for register, unit in ((m.power, "W"), (m.voltage, "V"), (m.current, "A"))]
        return MeterReading(energy, power, voltage, current)
