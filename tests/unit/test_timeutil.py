from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.timeutil import (
    InvalidTimestamp,
    parse_timestamp,
    to_storage,
    to_wire,
    wire_from_storage,
)

INSTANTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


@given(INSTANTS)
def test_a_stored_time_reads_out_as_it_would_go_on_the_wire(moment):
    assert wire_from_storage(to_storage(moment)) == to_wire(moment)


def test_whole_seconds_lose_the_fraction_and_sub_millisecond_times_keep_milliseconds():
    at = datetime(2026, 11, 22, 20, 15, tzinfo=UTC)
    assert wire_from_storage(to_storage(at)) == "2026-11-22T20:15:00Z"
    assert wire_from_storage(to_storage(at + timedelta(microseconds=500))) == \
        "2026-11-22T20:15:00.000Z"


def test_text_in_another_iso_form_is_converted_the_long_way():
    text = "2026-11-22T12:15:00.25-08:00"
    assert wire_from_storage(text) == to_wire(parse_timestamp(text)) == \
        "2026-11-22T20:15:00.250Z"


@given(INSTANTS, st.timezones())
def test_stored_text_is_fixed_width_utc_and_sorts_as_the_instants_do(moment, zone):
    text = to_storage(moment.astimezone(zone))
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    later = moment + timedelta(microseconds=1)
    assert to_storage(later) > text


@given(INSTANTS, st.timezones())
def test_wire_text_is_utc_with_z_whatever_the_zone_and_reads_back_as_the_instant(moment,
                                                                                 zone):
    text = to_wire(moment.astimezone(zone))
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        expected += f".{moment.microsecond // 1000:03d}"
    assert text == expected + "Z"
    assert parse_timestamp(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_the_same_instant_in_another_zone_is_stored_as_the_same_text():
    moment = datetime(2026, 11, 22, 20, 15, 0, 123456, tzinfo=UTC)
    to_storage(moment)  # remembered
    assert to_storage(moment.astimezone(timezone(timedelta(hours=-8)))) == \
        "2026-11-22T20:15:00.123456Z"


@pytest.mark.parametrize(("text", "instant"), [
    ("2026-11-22T20:15:00Z", datetime(2026, 11, 22, 20, 15, tzinfo=UTC)),
    ("2026-11-22T20:15:00.5z", datetime(2026, 11, 22, 20, 15, 0, 500000, tzinfo=UTC)),
    ("2026-11-22T12:15:00-08:00", datetime(2026, 11, 22, 20, 15, tzinfo=UTC)),
    ("2026-11-22T20:15:00", datetime(2026, 11, 22, 20, 15, tzinfo=UTC)),  # no zone: UTC
])
def test_an_ocpp_timestamp_reads_as_utc_in_every_form_a_station_may_send(text, instant):
    parsed = parse_timestamp(text)
    assert parsed == instant and parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-22T20:15:00Zz", "2026-13-01T00:00Z"])
def test_anything_else_is_an_invalid_timestamp(text):
    with pytest.raises(InvalidTimestamp):
        parse_timestamp(text)
