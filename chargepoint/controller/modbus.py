"""A real EVSE controller over Modbus, driven through its register map."""

from __future__ import annotations

from chargepoint.controller import ControllerStatus
from chargepoint.modbus.link import DeviceError, ModbusLink
from chargepoint.modbus.registers import ControllerMap


class ModbusController:
    def __init__(self, link: ModbusLink, register_map: ControllerMap) -> None:
        self.link, self.map = link, register_map

    async def set_current(self, amps: float) -> None:
        m = self.map
        charging = amps >= m.min_current_a
        if charging or m.enable is None:
            await self.link.write(m.current_setpoint, amps if charging else 0, "A")
        if m.enable is not None:
            await self.link.write(m.enable, 1 if charging else 0)

    async def status(self) -> ControllerStatus:
        m = self.map
        raw = await self.link.read(m.vehicle_status)
        try:
            state = m.vehicle_state(raw)
        except ValueError as error:
            raise DeviceError(f"{self.link.endpoint.describe()}: {error}") from None
        setpoint = await self.link.read(m.current_setpoint, "A")
        enabled = bool(await self.link.read(m.enable)) if m.enable else None
        return ControllerStatus(state, setpoint, enabled)
