"""OCPP 2.0.1 (and 2.1) shapes both sides build and read: meter values and charging
profiles.

Dicts built here use the snake_case keys the `ocpp` package converts to camelCase on the
way out; what is read here (meterValues, by the central) is read as it is on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.metering import (
    ENERGY_REGISTER,
    EV,
    OUTLET,
    POWER,
    MeterSample,
    reduce_meter_values,
)
from shared.profiles import ChargingProfile
from shared.schedule import Schedule
from shared.tariff import Segment
from shared.timeutil import parse_timestamp, to_wire

SUBPROTOCOL = "ocpp2.0.1"


def build_meter_value(
    timestamp: datetime, context: str, register_wh: int, power_w: int | None = None,
    ev_total_wh: int | None = None,
) -> dict[str, Any]:
    sampled: list[dict[str, Any]] = [
        {"value": register_wh, "context": context, "measurand": ENERGY_REGISTER,
         "location": OUTLET, "unit_of_measure": {"unit": "Wh"}},
    ]
    if power_w is not None:
        sampled.append({"value": power_w, "context": context, "measurand": POWER,
                        "location": OUTLET, "unit_of_measure": {"unit": "W"}})
    if ev_total_wh is not None:
        sampled.append({"value": ev_total_wh, "context": context, "measurand": ENERGY_REGISTER,
                        "location": EV, "unit_of_measure": {"unit": "Wh"}})
    return {"timestamp": to_wire(timestamp), "sampled_value": sampled}


def _unit(sampled: Mapping[str, Any]) -> tuple[str, int]:
    unit = sampled.get("unitOfMeasure") or {}
    return unit.get("unit", "Wh"), int(unit.get("multiplier", 0))


def parse_meter_values(meter_values: Iterable[Mapping[str, Any]]) -> list[MeterSample]:
    """The wire's meterValue elements (camelCase), reduced to what the utility uses."""
    return reduce_meter_values(meter_values, _unit)


def profile_payload(profile: ChargingProfile) -> dict[str, Any]:
    """A transaction's profile as a TxProfile, limits in W, with salesTariff price levels."""
    schedule = profile.schedule
    charging_schedule: dict[str, Any] = {
        "id": profile.id,
        "start_schedule": to_wire(schedule.start),
        "charging_rate_unit": "W",
        "charging_schedule_period": [
            {"start_period": offset, "limit": limit} for offset, limit in schedule.periods
        ],
    }
    if profile.price_segments:
        charging_schedule["sales_tariff"] = _sales_tariff(profile.id, schedule.start,
                                                          profile.price_segments)
    payload: dict[str, Any] = {
        "id": profile.id,
        "stack_level": profile.stack_level,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "transaction_id": profile.transaction_id,
        "charging_schedule": [charging_schedule],
    }
    if profile.valid_from is not None:
        payload["valid_from"] = to_wire(profile.valid_from)
    if profile.valid_to is not None:
        payload["valid_to"] = to_wire(profile.valid_to)
    return payload


def _sales_tariff(
    tariff_id: int, start: datetime, segments: Sequence[Segment],
) -> dict[str, Any]:
    # ISO 15118 price levels: 0 is the cheapest; at most 1024 entries.
    prices = sorted({s.price for s in segments})
    entries = [
        {"relative_time_interval": {"start": int((s.start - start).total_seconds()),
                                    "duration": int(s.seconds)},
         "e_price_level": prices.index(s.price)}
        for s in segments[:1024]
    ]
    return {"id": tariff_id, "num_e_price_levels": len(prices), "sales_tariff_entry": entries}


def charging_profile(profile: Mapping[str, Any]) -> ChargingProfile:
    """A received profile (snake_case, as the `ocpp` package hands it) as the station
    keeps it."""
    valid_from, valid_to = profile.get("valid_from"), profile.get("valid_to")
    return ChargingProfile(int(profile["id"]), int(profile["stack_level"]),
                           schedule_from_profile(profile),
                           parse_timestamp(valid_from) if valid_from else None,
                           parse_timestamp(valid_to) if valid_to else None,
                           profile.get("transaction_id"))


def schedule_from_profile(profile: Mapping[str, Any]) -> Schedule:
    """The first schedule of a received profile, as limits in W."""
    charging_schedule = profile["charging_schedule"][0]
    if charging_schedule.get("charging_rate_unit", "W") != "W":
        raise ValueError("only schedules in W are supported")
    start = charging_schedule.get("start_schedule")
    if start is None:
        raise ValueError("an Absolute profile needs startSchedule")
    periods = tuple(
        (int(p["start_period"]), int(p["limit"]))
        for p in charging_schedule["charging_schedule_period"]
    )
    return Schedule(parse_timestamp(start), periods)
