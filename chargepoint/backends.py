"""The meter and EVSE controller a station file names, built and opened: the one place
that knows which backend class goes with which `backend = "..."`."""

from __future__ import annotations

from dataclasses import dataclass

from chargepoint.config import ControllerConfig, MeterConfig, StationConfig
from chargepoint.controller import ControllerStatus, EvseController
from chargepoint.controller.modbus import ModbusController
from chargepoint.hardware import HardwareEquipment
from chargepoint.meter.base import Eumd, MeterReading
from chargepoint.meter.modbus import ModbusEumd
from chargepoint.meter.simulated import SimulatedEumd
from chargepoint.modbus.link import ModbusLink
from shared.clock import Clock


@dataclass
class Devices:
    meter: Eumd
    controller: EvseController | None  # None: the simulated EVSE is the controller
    links: list[ModbusLink]

    def close(self) -> None:
        for link in self.links:
            link.close()


def open_devices(config: StationConfig) -> Devices:
    meter, controller = config.meter, config.controller
    if meter.modbus is None or meter.map is None:
        return Devices(SimulatedEumd(config.state_dir / f"{config.station}.json",
                                     meter.serial), None, [])
    assert controller.modbus is not None and controller.map is not None
    meter_link = ModbusLink(meter.modbus)
    # a meter and a controller on one RS-485 line (or one gateway) share a link
    controller_link = meter_link if controller.modbus == meter.modbus else \
        ModbusLink(controller.modbus)
    return Devices(ModbusEumd(meter_link, meter.map, meter.serial),
                   ModbusController(controller_link, controller.map),
                   [meter_link] if controller_link is meter_link else
                   [meter_link, controller_link])


def hardware_equipment(config: StationConfig, devices: Devices,
                       clock: Clock) -> HardwareEquipment:
    assert devices.controller is not None and config.meter.modbus is not None
    return HardwareEquipment(
        devices.meter, devices.controller, clock, max_power_w=config.max_power_w,
        voltage_v=config.voltage_v, phases=config.phases,
        retries=config.meter.modbus.retries, retry_s=config.meter.modbus.retry_s,
        poll_s=config.controller.poll_s)


async def probe(config: StationConfig) -> list[str]:
    """Read the meter and the controller once: what an installer checks on site. Raises
    DeviceError when a device does not answer."""
    devices = open_devices(config)
    try:
        reading = await devices.meter.read()
        status = await devices.controller.status() if devices.controller else None
    finally:
        devices.close()
    return [f"meter {config.meter.serial} ({describe(config.meter)}): {_reading(reading)}",
            f"controller ({describe(config.controller)}): {_status(status)}"]


def describe(device: MeterConfig | ControllerConfig) -> str:
    if device.map is None or device.modbus is None:
        return "simulated"
    return f"{device.map.name} on {device.modbus.describe()}"


def _reading(reading: MeterReading) -> str:
    parts = [f"import register {reading.energy_wh:.0f} Wh"]
    for value, unit in ((reading.power_w, "W"), (reading.voltage_v, "V"),
                        (reading.current_a, "A")):
        if value is not None:
            parts.append(f"{value:.1f} {unit}")
    return ", ".join(parts)


def _status(status: ControllerStatus | None) -> str:
    if status is None:
        return "the simulated EVSE"
    enabled = "" if status.enabled is None else \
        f", charging {'enabled' if status.enabled else 'disabled'}"
    return (f"vehicle state {status.vehicle_state}, current setpoint "
            f"{status.current_setpoint_a:.0f} A{enabled}")
