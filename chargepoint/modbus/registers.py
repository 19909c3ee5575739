"""Modbus register maps as data, and the pure decoding of register words into values.

A map names where a device keeps each quantity: the register's address, its kind (input,
holding, coil), its data type, the order of its 16-bit words, the unit of the raw value
and a scale. `decode` and `encode` turn register words into base-unit values and back
(energy Wh, power W, voltage V, current A) without any I/O.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Literal

Kind = Literal["input", "holding", "coil"]
DataType = Literal["float32", "float64", "uint16", "int16", "uint32", "int32"]
WordOrder = Literal["big", "little"]

KINDS: tuple[Kind, ...] = ("input", "holding", "coil")
DATA_TYPES: dict[DataType, tuple[str, int]] = {  # struct format, number of 16-bit words
    "float32": ("f", 2), "float64": ("d", 4), "uint16": ("H", 1), "int16": ("h", 1),
    "uint32": ("I", 2), "int32": ("i", 2)}
WORD_ORDERS: tuple[WordOrder, ...] = ("big", "little")
# the units a raw value may come in, per base unit, and the factor to the base unit
UNITS: dict[str, dict[str, float]] = {
    "Wh": {"Wh": 1.0, "kWh": 1000.0}, "W": {"W": 1.0, "kW": 1000.0},
    "V": {"V": 1.0}, "A": {"A": 1.0, "mA": 0.001}, "": {"": 1.0}}


@dataclass(frozen=True)
class Register:
    address: int
    kind: Kind = "input"
    data_type: DataType = "float32"
    word_order: WordOrder = "big"
    unit: str = ""  # of the raw value, e.g. "kWh"
    scale: float = 1.0  # raw x scale x unit factor = base-unit value

    @property
    def words(self) -> int:
        return 1 if self.kind == "coil" else DATA_TYPES[self.data_type][1]

    def factor(self, base_unit: str) -> float:
        return self.scale * UNITS[base_unit][self.unit]


def decode(register: Register, words: list[int], base_unit: str = "") -> float:
    """Register words as read (first word first) -> the value in `base_unit`."""
    if len(words) != register.words:
        raise ValueError(f"expected {register.words} register words, got {len(words)}")
    if register.kind == "coil":
        return float(bool(words[0]))
    fmt, _ = DATA_TYPES[register.data_type]
    ordered = words if register.word_order == "big" else list(reversed(words))
    raw: float = struct.unpack(">" + fmt, b"".join(w.to_bytes(2, "big") for w in ordered))[0]
    return raw * register.factor(base_unit)


def encode(register: Register, value: float, base_unit: str = "") -> list[int]:
    """A base-unit value -> the register words to write (first word first)."""
    if register.kind == "coil":
        return [1 if value else 0]
    raw = value / register.factor(base_unit)
    fmt, _ = DATA_TYPES[register.data_type]
    if fmt not in "fd":
        raw = math.floor(raw + 1e-9)  # integers are never rounded up (a current limit)
    data = struct.pack(">" + fmt, raw)
    words = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    return words if register.word_order == "big" else list(reversed(words))


@dataclass(frozen=True)
class MeterMap:
    """Where an energy meter keeps its readings; only the import register is required."""

    name: str
    energy: Register  # cumulative import energy: the billing register
    power: Register | None = None
    voltage: Register | None = None
    current: Register | None = None


VEHICLE_STATES = "ABCDEF"  # IEC 61851-1: A none, B connected, C charging, D with vent, E/F error


@dataclass(frozen=True)
class ControllerMap:
    """Where an EVSE controller takes its current setpoint and tells the vehicle state."""

    name: str
    current_setpoint: Register  # A
    vehicle_status: Register
    enable: Register | None = None  # charging allowed (1) or not (0)
    status_encoding: Literal["ascii", "index"] = "ascii"  # 'A' = 65, or A = 0, B = 1...
    min_current_a: float = 6.0  # IEC 61851: below this the controller pauses charging

    def vehicle_state(self, raw: float) -> str:
        code = int(raw) - (ord("A") if self.status_encoding == "ascii" else 0)
        if not 0 <= code < len(VEHICLE_STATES):
            raise ValueError(f"vehicle status {int(raw)} is not one of A-F")
        return VEHICLE_STATES[code]


def _float32(address: int, unit: str = "") -> Register:
    return Register(address, "input", "float32", "big", unit)


# Eastron SDM630 and SDM120: IEEE 754 float32 input registers, high word first.
METER_MAPS: dict[str, MeterMap] = {
    "sdm630": MeterMap("sdm630", energy=_float32(0x0048, "kWh"), power=_float32(0x0034, "W"),
                       voltage=_float32(0x0000, "V"), current=_float32(0x0006, "A")),
    "sdm120": MeterMap("sdm120", energy=_float32(0x0048, "kWh"), power=_float32(0x000C, "W"),
                       voltage=_float32(0x0000, "V"), current=_float32(0x0006, "A")),
}

# Phoenix Contact EV Charge Control (EM-CP-PP-ETH): vehicle status as an ASCII letter in
# input register 100, charging current setpoint in A in holding register 528, charging
# enable in coil 400. Check the register table of your controller's firmware.
CONTROLLER_MAPS: dict[str, ControllerMap] = {
    "phoenix-ev-charge-control": ControllerMap(
        "phoenix-ev-charge-control",
        current_setpoint=Register(528, "holding", "uint16", unit="A"),
        vehicle_status=Register(100, "input", "uint16"),
        enable=Register(400, "coil")),
}
