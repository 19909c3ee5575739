"""A station's configuration file (`pev-chargepoint run|probe --config station.toml`):
which meter and EVSE controller backends it has, how to reach them, and their register
maps (built in by name, or defined in a TOML file). `examples/station-modbus.toml`
documents every field.

Everything is validated on load; a mistake is a `ConfigError` saying `file: field: what`.
Unknown fields are errors, so a typo does not pass silently.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from chargepoint.modbus.registers import (
    CONTROLLER_MAPS,
    DATA_TYPES,
    KINDS,
    METER_MAPS,
    UNITS,
    WORD_ORDERS,
    ControllerMap,
    MeterMap,
    Register,
)

Map = TypeVar("Map", MeterMap, ControllerMap)


class ConfigError(ValueError):
    """A station or register-map file that cannot be used (a message for the installer)."""


@dataclass(frozen=True)
class ModbusEndpoint:
    """Where a Modbus device answers: TCP host:port, or RTU on a serial line."""

    transport: Literal["tcp", "rtu"]
    unit: int  # the device id on the bus
    host: str = ""
    port: int = 502
    serial_port: str = ""
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    timeout_s: float = 1.0  # for one request, real seconds
    retries: int = 3  # attempts at one reading before the interval is reported without it
    retry_s: float = 0.5  # between attempts, real seconds

    def describe(self) -> str:
        where = f"{self.host}:{self.port}" if self.transport == "tcp" else self.serial_port
        return f"modbus {self.transport} {where} unit {self.unit}"


@dataclass(frozen=True)
class MeterConfig:
    backend: Literal["simulated", "modbus"]
    serial: str
    modbus: ModbusEndpoint | None = None
    map: MeterMap | None = None


@dataclass(frozen=True)
class ControllerConfig:
    backend: Literal["simulated", "modbus"]
    modbus: ModbusEndpoint | None = None
    map: ControllerMap | None = None
    poll_s: float = 1.0  # how often the vehicle state is read, real seconds


OCPP_VERSIONS = ("1.6", "2.0.1", "2.1")


@dataclass(frozen=True)
class StationConfig:
    path: Path
    station: str
    central: str | None
    max_power_w: int
    voltage_v: float
    phases: int
    state_dir: Path
    meter: MeterConfig
    controller: ControllerConfig
    ocpp: str = "2.0.1"  # the OCPP version it speaks

    @property
    def hardware(self) -> bool:
        return self.meter.backend == "modbus"


class _Section:
    """One table of a TOML file, read field by field with `file: section.field` errors."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a table")
        self.data: dict[str, Any] = data
        self.where = where
        self._read: set[str] = set()

    def _get(self, name: str, types: tuple[type, ...], what: str, default: Any) -> Any:
        self._read.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                raise ConfigError(f"{self.where}.{name}: required")
            return default
        value = self.data[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"{self.where}.{name}: must be {what}, not {value!r}")
        return value

    def text(self, name: str, default: Any = None, choices: tuple[str, ...] = ()) -> Any:
        value = self._get(name, (str,), "a string", _REQUIRED if default is None else default)
        if choices and value not in choices:
            raise ConfigError(f"{self.where}.{name}: must be one of {', '.join(choices)}, "
                              f"not {value!r}")
        return value

    def integer(self, name: str, default: Any = None, low: int = 0,
                high: int | None = None) -> int:
        value = self._get(name, (int,), "a whole number",
                          _REQUIRED if default is None else default)
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{self.where}.{name}: must be {span}, not {value}")
        return int(value)

    def number(self, name: str, default: float | None = None) -> float:
        value = self._get(name, (int, float), "a number",
                          _REQUIRED if default is None else default)
        if not value > 0:
            raise ConfigError(f"{self.where}.{name}: must be positive, not {value}")
        return float(value)

    def table(self, name: str, required: bool = True) -> _Section | None:
        self._read.add(name)
        if name not in self.data:
            if required:
                raise ConfigError(f"{self.where}.{name}: required")
            return None
        return _Section(self.data[name], f"{self.where}.{name}")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            raise ConfigError(f"{self.where}.{unknown[0]}: unknown field")


_REQUIRED = object()


def _read_toml(path: Path) -> _Section:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return _Section(data, str(path))


def _register(section: _Section, base_unit: str) -> Register:
    kind = section.text("kind", "input", KINDS)
    data_type = section.text("type", "float32", tuple(DATA_TYPES))
    register = Register(
        address=section.integer("address", high=65535), kind=kind, data_type=data_type,
        word_order=section.text("word_order", "big", WORD_ORDERS),
        unit=section.text("unit", base_unit, tuple(UNITS[base_unit])),
        scale=section.number("scale", 1.0))
    section.done()
    return register


def _map_file(spec: str, base_dir: Path, kind: str, fields: dict[str, tuple[str, bool]],
              ) -> tuple[_Section, str, dict[str, Register | None]]:
    """A map file's top table, its name, and its registers: `fields` gives each one's base
    unit and whether it is required."""
    path = (base_dir / spec) if not Path(spec).is_absolute() else Path(spec)
    top = _read_toml(path)
    if top.text("kind", choices=("meter", "controller")) != kind:
        raise ConfigError(f"{path}.kind: this file maps a {top.data['kind']}, "
                          f"a {kind} map is needed here")
    name = top.text("name", path.stem)
    registers = top.table("registers")
    assert registers is not None
    found = {field: _register(table, unit) if (table := registers.table(field, required))
             else None for field, (unit, required) in fields.items()}
    registers.done()
    return top, name, found


def _built_in(spec: str, maps: Mapping[str, Map], kind: str, where: str) -> Map:
    if spec not in maps:
        raise ConfigError(f"{where}: no built-in {kind} map {spec!r} "
                          f"(there are {', '.join(maps)}; or give a .toml file)")
    return maps[spec]


def meter_map(spec: str, base_dir: Path, where: str) -> MeterMap:
    """A built-in meter map by name, or one defined in a TOML file (a path ending .toml)."""
    if not spec.endswith(".toml"):
        return _built_in(spec, METER_MAPS, "meter", where)
    top, name, found = _map_file(spec, base_dir, "meter", {
        "energy": ("Wh", True), "power": ("W", False), "voltage": ("V", False),
        "current": ("A", False)})
    top.done()
    energy = found["energy"]
    assert energy is not None
    return MeterMap(name, energy, found["power"], found["voltage"], found["current"])


def controller_map(spec: str, base_dir: Path, where: str) -> ControllerMap:
    """A built-in EVSE controller map by name, or one defined in a TOML file."""
    if not spec.endswith(".toml"):
        return _built_in(spec, CONTROLLER_MAPS, "controller", where)
    top, name, found = _map_file(spec, base_dir, "controller", {
        "current_setpoint": ("A", True), "vehicle_status": ("", True), "enable": ("", False)})
    setpoint, status = found["current_setpoint"], found["vehicle_status"]
    assert setpoint is not None and status is not None
    result = ControllerMap(
        name, setpoint, status, found["enable"],
        status_encoding=top.text("status_encoding", "ascii", ("ascii", "index")),
        min_current_a=top.number("min_current_a", 6.0))
    top.done()
    return result


def _endpoint(section: _Section) -> ModbusEndpoint:
    transport = section.text("transport", choices=("tcp", "rtu"))
    common: dict[str, Any] = {
        "unit": section.integer("unit", 1, high=247),
        "timeout_s": section.number("timeout_s", 1.0),
        "retries": section.integer("retries", 3, low=1),
        "retry_s": section.number("retry_s", 0.5)}
    if transport == "tcp":
        return ModbusEndpoint("tcp", host=section.text("host"),
                              port=section.integer("port", 502, low=1, high=65535), **common)
    return ModbusEndpoint(
        "rtu", serial_port=section.text("serial_port"),
        baudrate=section.integer("baudrate", 9600, low=1200),
        parity=section.text("parity", "N", ("N", "E", "O")),
        stopbits=section.integer("stopbits", 1, low=1, high=2), **common)


def load_station_config(path: Path) -> StationConfig:
    top = _read_toml(path)
    base_dir = path.parent
    station = top.table("station")
    meter = top.table("meter")
    controller = top.table("controller")
    assert station is not None and meter is not None and controller is not None
    station_id = station.text("id")
    backends = ("simulated", "modbus")
    meter_backend = meter.text("backend", choices=backends)
    meter_config = MeterConfig(meter_backend, meter.text("serial", f"EUMD-{station_id}"))
    if meter_backend == "modbus":
        meter_config = MeterConfig(
            "modbus", meter_config.serial, _endpoint(meter),
            meter_map(meter.text("map"), base_dir, f"{path}.meter.map"))
    controller_backend = controller.text("backend", choices=backends)
    controller_config = ControllerConfig("simulated")
    if controller_backend == "modbus":
        controller_config = ControllerConfig(
            "modbus", _endpoint(controller),
            controller_map(controller.text("map"), base_dir, f"{path}.controller.map"),
            controller.number("poll_s", 1.0))
    if meter_backend != controller_backend:
        raise ConfigError(f"{path}.controller.backend: a {meter_backend} meter needs a "
                          f"{meter_backend} controller (a simulated meter cannot measure a "
                          "real EVSE, nor a real meter a simulated one)")
    config = StationConfig(
        path=path, station=station_id, central=station.text("central", ""),
        ocpp=station.text("ocpp", "2.0.1", choices=OCPP_VERSIONS),
        max_power_w=station.integer("max_power_w", low=1),
        voltage_v=station.number("voltage_v", 230.0),
        phases=station.integer("phases", 1, low=1, high=3),
        state_dir=base_dir / station.text("state_dir", ".pev-state"),
        meter=meter_config, controller=controller_config)
    for section in (station, meter, controller, top):
        section.done()
    return config
