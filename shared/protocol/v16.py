"""OCPP 1.6J shapes both sides build and read: meter values and charging profiles.

Dicts built here use the snake_case keys the `ocpp` package converts to camelCase on the
way out; what is read here (meterValue, transactionData) is read as it is on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from shared.metering import MeterSample, reduce_meter_values
from shared.profiles import ChargingProfile
from shared.timeutil import to_wire

SUBPROTOCOL = "ocpp1.6"
NOMINAL_VOLTAGE_V = 230  # a schedule in W given to a station that takes only A
# 1.6 numbers no transaction message: the Started is 0, each MeterValues its first
# reading's time in ms (a retried one is the same), the Ended after them all
ENDED_SEQ_NO = 2**62


def _unit(sampled: Mapping[str, Any]) -> tuple[str, int]:
    return sampled.get("unit", "Wh"), 0


def parse_meter_values(meter_values: Iterable[Mapping[str, Any]]) -> list[MeterSample]:
    """The wire's meterValue (or transactionData) elements, reduced to what the utility
    uses: 1.6 gives each value as a string, its unit beside it."""
    return reduce_meter_values(meter_values, _unit)


def seq_no_of(samples: Iterable[MeterSample]) -> int:
    """A MeterValues message's place in its transaction, from its first reading's time."""
    first = min(sample.timestamp for sample in samples)
    return max(1, int(first.timestamp() * 1000))


def profile_payload(profile: ChargingProfile, unit: str) -> dict[str, Any]:
    """A transaction's profile as a 1.6 TxProfile, limits in W or (at the nominal voltage,
    one phase, rounded down to the 0.1 A the schema allows) in A."""
    periods = [{"start_period": offset, "limit": _limit(limit_w, unit)}
               for offset, limit_w in profile.schedule.periods]
    payload: dict[str, Any] = {
        "charging_profile_id": profile.id,
        "stack_level": profile.stack_level,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {"start_schedule": to_wire(profile.schedule.start),
                              "charging_rate_unit": unit,
                              "charging_schedule_period": periods},
    }
    if profile.transaction_id is not None:
        payload["transaction_id"] = int(profile.transaction_id)
    if profile.valid_from is not None:
        payload["valid_from"] = to_wire(profile.valid_from)
    if profile.valid_to is not None:
        payload["valid_to"] = to_wire(profile.valid_to)
    return payload


def _limit(limit_w: int, unit: str) -> int | float:
    if unit == "W":
        return limit_w
    amperes = (Decimal(limit_w) / NOMINAL_VOLTAGE_V).quantize(Decimal("0.1"), ROUND_FLOOR)
    return float(amperes)
