"""A meterValue, as on the wire, is read into integer Wh and W whatever unit and multiplier
it is sent in."""

from datetime import UTC, datetime

import pytest

from shared.metering import InvalidReading, MeterSample
from shared.protocol.v201 import parse_meter_values

AT = "2026-11-23T04:00:00Z"


def sampled(value, unit="Wh", multiplier=None, measurand="Energy.Active.Import.Register",
            location="Outlet", **extra):
    unit_of_measure = {"unit": unit} | ({"multiplier": multiplier} if multiplier is not None
                                        else {})
    return {"value": value, "measurand": measurand, "location": location,
            "unitOfMeasure": unit_of_measure, **extra}


def register(value, unit="Wh", multiplier=None):
    [sample] = parse_meter_values([{"timestamp": AT,
                                    "sampledValue": [sampled(value, unit, multiplier)]}])
    return sample.register_wh


@pytest.mark.parametrize(("value", "unit", "multiplier", "wh"), [
    (1234, "Wh", None, 1234), (1234, "Wh", 0, 1234), (12, "kWh", None, 12_000),
    (1.5, "kWh", None, 1500), (12.345, "kWh", None, 12_345), (1.2345, "kWh", None, 1234),
    (1.2355, "kWh", None, 1236), (7, "Wh", 3, 7000), (3, "kWh", 1, 30_000),
    (1234, "Wh", -1, 123), (1235, "Wh", -1, 124), (1225, "Wh", -1, 122), (0.1, "Wh", 1, 1),
    (10**15, "Wh", None, 10**15),
])
def test_the_register_is_in_whole_wh_rounded_half_to_even(value, unit, multiplier, wh):
    assert register(value, unit, multiplier) == wh
    assert type(register(value, unit, multiplier)) is int


def test_a_unit_the_utility_cannot_bill_in_reads_as_no_register():
    assert register(5, "varh") is None


def test_power_the_pev_total_and_the_context_are_read_and_phases_skipped():
    [sample] = parse_meter_values([{"timestamp": AT, "sampledValue": [
        sampled(1000, context="Sample.Periodic"),
        sampled(7.2, "kW", measurand="Power.Active.Import"),
        sampled(99, location="EV"),
        sampled(1, "kWh", phase="L1"),
    ]}])
    assert sample == MeterSample(datetime(2026, 11, 23, 4, tzinfo=UTC), "Sample.Periodic",
                                 1000, 7200, 99)


@pytest.mark.parametrize(("value", "unit", "multiplier", "wh"), [
    (1, "Wh", 18, 10**18), (10**18, "Wh", -18, 1), (2**63 - 1, "Wh", None, 2**63 - 1),
    (-(2**63), "Wh", None, -(2**63)), (9.2e15, "kWh", None, 9_200_000_000_000_000_000),
])
def test_a_register_up_to_64_bits_and_a_multiplier_up_to_18_are_read(value, unit, multiplier,
                                                                      wh):
    assert register(value, unit, multiplier) == wh


@pytest.mark.parametrize(("value", "unit", "multiplier", "refusal"), [
    (1, "Wh", 19, "multiplier 19 is out of range"),
    (1, "Wh", -19, "multiplier -19 is out of range"),
    (1, "Wh", 10**9, "multiplier 1000000000 is out of range"),  # 10**(10**9): minutes
    (10, "Wh", 18, "beyond any meter's register"),
    (2**63, "Wh", None, "beyond any meter's register"),
    (9.3e15, "kWh", None, "beyond any meter's register"),
    (1e300, "Wh", None, "beyond any meter's register"),
])
def test_a_reading_no_meter_can_have_taken_is_refused_at_once(value, unit, multiplier,
                                                               refusal):
    with pytest.raises(InvalidReading, match=refusal):
        register(value, unit, multiplier)
