"""OCPP 1.6 meter values as the central reads them: a value is a string and its unit sits
beside it; the outlet's register, power and the PEV's own total are kept, per-phase
values are not, and a value no meter can read is refused."""

from datetime import UTC, datetime

import pytest

from shared.metering import InvalidReading, MeterSample
from shared.protocol.v16 import parse_meter_values, seq_no_of

AT = "2026-11-23T04:00:00Z"
WHEN = datetime(2026, 11, 23, 4, tzinfo=UTC)


def reading(*sampled):
    return [{"timestamp": AT, "sampledValue": list(sampled)}]


def test_a_register_in_kwh_a_power_and_the_pevs_total_are_read_in_wh_and_w():
    [sample] = parse_meter_values(reading(
        {"value": "12.345", "unit": "kWh", "context": "Sample.Clock",
         "measurand": "Energy.Active.Import.Register"},
        {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
        {"value": "9000", "measurand": "Energy.Active.Import.Register", "location": "EV"},
        {"value": "4000", "measurand": "Energy.Active.Import.Register", "phase": "L1"}))
    assert sample == MeterSample(WHEN, "Sample.Clock", 12_345, 7_200, 9_000)


def test_the_defaults_are_the_outlets_register_in_wh():
    assert parse_meter_values(reading({"value": "50000"})) == [
        MeterSample(WHEN, "Sample.Periodic", 50_000, None, None)]


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "", "1e400"])
def test_a_value_no_meter_can_read_is_refused(value):
    with pytest.raises(InvalidReading):
        parse_meter_values(reading({"value": value}))


def test_a_resent_meter_values_has_the_same_place_and_a_later_one_a_later_place():
    first = parse_meter_values(reading({"value": "1"}))
    later = parse_meter_values([{"timestamp": "2026-11-23T04:01:00Z",
                                 "sampledValue": [{"value": "2"}]}])
    assert seq_no_of(first) == seq_no_of(parse_meter_values(reading({"value": "1"})))
    assert 0 < seq_no_of(first) < seq_no_of(later)
