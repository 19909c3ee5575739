"""Binding: a PEV identifier at a station -> who pays and at what rate, or why not.

Pure: the enrollment data in, a decision out. The decision is stored with the session so
a bill can always be reproduced from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

from central.domain.registry import Pev, Premise, Program


@dataclass(frozen=True)
class Binding:
    pev: Pev
    scenario: str  # L1 | L2-A | L2-B
    payer_account: str
    tariff_id: str  # the rate the session is billed at
    rule: str  # why this payer, in words kept with the session


@dataclass(frozen=True)
class Refusal:
    status: str  # OCPP AuthorizationStatus: Invalid, Blocked, Expired
    reason: str  # shown on the charger
    pev_id: str | None = None  # the enrolled PEV refused, when the identifier is known


Decision: TypeAlias = Binding | Refusal


def decide(pev: Pev | None, premise: Premise, program: Program | None,
           now: datetime) -> Decision:
    if pev is None or program is None:
        return Refusal("Invalid", "Unknown PEV: not enrolled in a utility EV program")
    if pev.status == "blocked":
        return Refusal("Blocked", f"PEV {pev.id} is blocked: contact the utility", pev.id)
    if pev.status == "expired" or (pev.valid_until is not None and pev.valid_until < now):
        return Refusal("Expired", f"PEV {pev.id}: enrollment expired", pev.id)
    if pev.territory != premise.territory:
        return Refusal("Invalid", f"PEV {pev.id} is enrolled outside your territory", pev.id)
    if premise.id == pev.home_premise:
        return Binding(pev, "L1", pev.owner_account, program.tariff_id,
                       "home premise: PEV owner's account at the PEV's program rate")
    if premise.guest_policy == "host_pays" and (
            not premise.host_pays_for or pev.id in premise.host_pays_for):
        listed = "listed guest PEV" if premise.host_pays_for else "all guests"
        return Binding(pev, "L2-A", premise.account_id, premise.rate_plan,
                       f"host pays ({listed}): host premise's account at its rate plan")
    return Binding(pev, "L2-B", pev.owner_account, program.tariff_id,
                   "guest, driver pays: PEV owner's account at the program rate; "
                   "host premise credited")


def describe(decision: Decision, tariff_name: str, price_now: Decimal, currency: str) -> str:
    """What the charger shows after binding (AuthorizeResponse personalMessage)."""
    if isinstance(decision, Refusal):
        return decision.reason
    whose = {"L1": "your home account", "L2-A": "the host's account",
             "L2-B": "your home account"}[decision.scenario]
    return (f"{decision.pev.id} bound ({decision.scenario}): billed to {whose} "
            f"{decision.payer_account}, {tariff_name}, {price_now} {currency}/kWh now")
