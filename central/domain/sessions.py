"""The session record: one transaction at one station, from plug-in to the bill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from central.domain.billing import Reading, RunningCost

SCENARIOS = ("L1", "L2-A", "L2-B")
LIVE_VIEW = ("last_reading", "running_cost", "cost_due")  # Session fields not stored


class SessionLine(NamedTuple):
    """What an account's statement shows of a session."""

    id: int
    station_id: str
    premise_id: str | None
    pev_id: str | None
    scenario: str | None
    start: str | None  # ISO UTC, as on the wire
    end: str | None
    energy_wh: int | None
    cost_total: Decimal | None
    cost_by_period: dict[str, dict[str, Any]]
    reconciliation: str | None  # its status
    ocpp_version: str | None = None  # that carried it


@dataclass
class Session:
    station_id: str
    transaction_id: str
    id: int | None = None
    evse_id: int | None = None
    ocpp_version: str | None = None  # that carried the session
    status: str = "active"  # active | ended | refused
    started_at: datetime | None = None  # from the Started event; None until it arrives
    ended_at: datetime | None = None
    complete: bool = False  # seqNo contiguous from Started to Ended
    # binding, decided once and kept so the bill can be reproduced
    id_token: str | None = None
    pev_id: str | None = None
    premise_id: str | None = None
    payer_account: str | None = None
    scenario: str | None = None
    payer_rule: str | None = None
    tariff_id: str | None = None
    refusal: str | None = None
    # energy negotiation
    energy_requested_wh: int | None = None
    energy_available_wh: int | None = None
    departure: datetime | None = None
    schedule: dict[str, Any] | None = None
    ev_voltage_v: int | None = None  # from the EV's charging needs: to read a plan in A
    ev_phases: int = 1
    # metering and the bill
    begin_register_wh: int | None = None
    end_register_wh: int | None = None
    energy_wh: int | None = None
    pev_total_wh: int | None = None
    cost_total: Decimal | None = None
    cost_by_period: dict[str, dict[str, Any]] = field(default_factory=dict)
    currency: str | None = None
    stopped_reason: str | None = None
    reconciliation: dict[str, Any] | None = None  # see central.domain.reconcile
    # demand response: event id -> {"from", "to"} (this station's window, ISO UTC) and
    # event id -> Wh metered inside it
    dr_windows: dict[str, dict[str, str]] = field(default_factory=dict)
    dr_energy_wh: dict[str, int] = field(default_factory=dict)
    # data the station sent that was kept but not trusted (a register that went back, a
    # timestamp far in the future): flagged for the billing team, never billed on
    problems: list[str] = field(default_factory=list)
    # The live view, not part of the stored record: it follows from the session's
    # readings (the store reads the newest with the record; the cost is rated again when
    # it is needed for a session loaded), so a meter value, nearly every event, rewrites
    # no record. The bill proper is rated from all readings when the session ends.
    last_reading: Reading | None = None  # the newest EUMD reading, as read with the record
    running_cost: RunningCost | None = None  # None until rated
    cost_due: datetime | None = None  # when the station is next shown the cost so far

    @property
    def bound(self) -> bool:
        return self.payer_account is not None
