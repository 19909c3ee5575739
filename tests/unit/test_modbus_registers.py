"""Register maps as data: decoding words into values (types, word order, units, scale),
the built-in maps, map files in TOML, readings checked before they are believed, and a
power limit as a current."""

import math
import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargepoint.config import ConfigError, load_station_config
from chargepoint.hardware import current_limit_a
from chargepoint.meter.base import MeterReading
from chargepoint.meter.checks import refusal
from chargepoint.modbus.registers import CONTROLLER_MAPS, METER_MAPS, Register, decode, encode
from tests.helpers import ROOT

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def words(fmt, value):
    data = struct.pack(">" + fmt, value)
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def test_a_float32_kwh_register_in_either_word_order_decodes_to_wh():
    big = Register(0x48, "input", "float32", "big", "kWh")
    little = Register(0x48, "input", "float32", "little", "kWh")
    assert decode(big, words("f", 1234.5), "Wh") == 1_234_500
    assert decode(little, list(reversed(words("f", 1234.5))), "Wh") == 1_234_500


@pytest.mark.parametrize(("data_type", "fmt", "raw"), [
    ("uint16", "H", 65535), ("int16", "h", -2), ("uint32", "I", 4_000_000_000),
    ("int32", "i", -70_000), ("float64", "d", 0.125)])
def test_every_data_type_decodes_with_its_scale(data_type, fmt, raw):
    register = Register(0, "holding", data_type, "big", "Wh", scale=10)
    assert decode(register, words(fmt, raw), "Wh") == raw * 10


def test_a_register_of_the_wrong_length_or_unit_is_refused():
    with pytest.raises(ValueError, match="expected 2 register words"):
        decode(Register(0, data_type="uint32"), [1])
    coil = Register(400, "coil")
    assert decode(coil, [1]) == 1.0 and encode(coil, 0) == [0]


@given(st.integers(0, 2**32 - 1), st.sampled_from(["big", "little"]),
       st.sampled_from([1.0, 0.01, 10.0]))
def test_encode_and_decode_are_inverse_for_whole_values(value, order, scale):
    register = Register(0, "holding", "uint32", order, "Wh", scale)
    assert decode(register, encode(register, value * scale, "Wh"), "Wh") == \
        pytest.approx(value * scale)


def test_an_integer_setpoint_is_never_rounded_up():
    setpoint = Register(528, "holding", "uint16", unit="A")
    assert encode(setpoint, 13.99, "A") == [13]
    assert encode(Register(0, "holding", "uint16", unit="A", scale=0.1), 13.04, "A") == [130]


def test_the_built_in_maps():
    assert set(METER_MAPS) == {"sdm630", "sdm120"}
    assert METER_MAPS["sdm630"].energy == Register(0x48, "input", "float32", "big", "kWh")
    phoenix = CONTROLLER_MAPS["phoenix-ev-charge-control"]
    assert phoenix.vehicle_state(ord("C")) == "C"
    with pytest.raises(ValueError, match="not one of A-F"):
        phoenix.vehicle_state(0)


def test_a_power_limit_becomes_whole_amperes_within_the_station_maximum():
    assert current_limit_a(7200, 11000, 230, 1) == 31  # 31.3 A, rounded down
    assert current_limit_a(50000, 11000, 230, 3) == 15  # the station's 11 kW at 3 phases
    assert current_limit_a(0, 7200, 230, 1) == 0


def test_readings_that_cannot_be_true_are_refused():
    last = (T0, 1_000_000)
    later = T0 + timedelta(minutes=1)
    assert refusal(MeterReading(1_000_100.4, 6000.0), later, last, 7200) is None
    assert refusal(MeterReading(math.nan), later, last, 7200) == "not a number"
    assert refusal(MeterReading(1_000_000, math.inf), later, last, 7200) == "not a number"
    assert "went backwards" in refusal(MeterReading(999_990), later, last, 7200)
    assert "impossible jump" in refusal(MeterReading(1_000_300), later, last, 7200)
    assert "negative" in refusal(MeterReading(-1), later, None, 7200)
    assert refusal(MeterReading(1_000_300), T0 + timedelta(minutes=3), last, 7200) is None


def test_the_example_station_file_loads():
    config = load_station_config(ROOT / "examples" / "station-modbus.toml")
    assert config.hardware and config.meter.map == METER_MAPS["sdm630"]
    assert config.controller.map == CONTROLLER_MAPS["phoenix-ev-charge-control"]


METER_FILE = """
kind = "meter"
name = "acme-100"
[registers.energy]
address = 0x0100
kind = "holding"
type = "uint32"
word_order = "little"
unit = "Wh"
scale = 10
[registers.power]
address = 0x0104
type = "int16"
kind = "holding"
unit = "kW"
scale = 0.01
"""

STATION = """
[station]
id = "CP-1001"
max_power_w = 7200
[meter]
backend = "modbus"
transport = "tcp"
host = "10.0.0.5"
map = "{map}"
[controller]
backend = "modbus"
transport = "rtu"
serial_port = "/dev/ttyUSB0"
unit = 3
map = "phoenix-ev-charge-control"
"""


def test_a_meter_map_defined_in_a_toml_file(tmp_path):
    (tmp_path / "acme.toml").write_text(METER_FILE)
    (tmp_path / "station.toml").write_text(STATION.format(map="acme.toml"))
    config = load_station_config(tmp_path / "station.toml")
    meter_map = config.meter.map
    assert meter_map is not None and meter_map.name == "acme-100"
    assert meter_map.energy == Register(256, "holding", "uint32", "little", "Wh", 10.0)
    assert decode(meter_map.energy, [0x86A0, 0x0001], "Wh") == 1_000_000  # 100000 x 10 Wh
    assert meter_map.power is not None and meter_map.voltage is None
    assert decode(meter_map.power, words("h", 720), "W") == pytest.approx(7200)
    assert config.controller.modbus is not None
    assert config.controller.modbus.describe() == "modbus rtu /dev/ttyUSB0 unit 3"


@pytest.mark.parametrize(("change", "message"), [
    (("type = \"uint32\"", "type = \"uint24\""),
     "acme.toml.registers.energy.type: must be one of"),
    (("unit = \"Wh\"", "unit = \"MWh\""), "acme.toml.registers.energy.unit: must be one of"),
    (("address = 0x0100", "address = 70000"), "registers.energy.address: must be from 0"),
    (("scale = 10", "scael = 10"), "registers.energy.scael: unknown field"),
    (("kind = \"meter\"", "kind = \"controller\""), "a meter map is needed here"),
])
def test_a_bad_map_file_names_its_file_and_field(tmp_path, change, message):
    (tmp_path / "acme.toml").write_text(METER_FILE.replace(*change))
    (tmp_path / "station.toml").write_text(STATION.format(map="acme.toml"))
    with pytest.raises(ConfigError, match=message):
        load_station_config(tmp_path / "station.toml")


@pytest.mark.parametrize(("change", "message"), [
    (("map = \"{map}\"", "map = \"sdm999\""), "meter.map: no built-in meter map 'sdm999'"),
    (("host = \"10.0.0.5\"", ""), "meter.host: required"),
    (("max_power_w = 7200", "max_power_w = \"7200\""), "max_power_w: must be a whole number"),
    (("backend = \"modbus\"\ntransport = \"rtu\"", "backend = \"simulated\"\ntransport = "
      "\"rtu\""), "a modbus meter needs a modbus controller"),
    (("unit = 3", "unit = 300"), "controller.unit: must be from 0 to 247"),
])
def test_a_bad_station_file_names_its_field(tmp_path, change, message):
    text = STATION.replace(*change).replace("{map}", "sdm630")
    (tmp_path / "station.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_station_config(tmp_path / "station.toml")
