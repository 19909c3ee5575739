"""Binding decisions: who pays, at what rate, or why the PEV is refused."""

from dataclasses import replace
from datetime import UTC, datetime

from central.domain.authorize import Binding, Refusal, decide, describe
from tests.helpers import example_registry

REG = example_registry()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PREMISE = {p.id: p for p in REG.premises}
PEV = {p.id: p for p in REG.pevs}
PROGRAM = {p.id: p for p in REG.programs}


def decision(pev_id, premise_id, **changes):
    pev = replace(PEV[pev_id], **changes)
    return decide(pev, PREMISE[premise_id], PROGRAM[pev.program_id], NOW)


def test_at_home_the_owner_pays_at_the_program_rate():
    result = decision("PEV-0001", "P-1001")
    assert isinstance(result, Binding)
    assert (result.scenario, result.payer_account, result.tariff_id) == ("L1", "A-1001",
                                                                        "ev-tou")


def test_a_listed_guest_at_a_host_pays_premise_is_billed_to_the_host_rate_plan():
    result = decision("PEV-0003", "P-1002")
    assert isinstance(result, Binding)
    assert (result.scenario, result.payer_account, result.tariff_id) == ("L2-A", "A-1002",
                                                                        "home-tou")


def test_an_unlisted_guest_pays_from_the_home_account():
    result = decision("PEV-0001", "P-1002")
    assert isinstance(result, Binding)
    assert (result.scenario, result.payer_account, result.tariff_id) == ("L2-B", "A-1001",
                                                                        "ev-tou")


def test_refusals_carry_a_status_and_a_reason_the_charger_can_show():
    assert decide(None, PREMISE["P-1001"], None, NOW) == Refusal(
        "Invalid", "Unknown PEV: not enrolled in a utility EV program")
    assert decision("PEV-0905", "P-1001").status == "Blocked"
    expired = decision("PEV-0001", "P-1001", valid_until=datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(expired, Refusal) and expired.status == "Expired"
    outside = decision("PEV-0904", "P-1003")
    assert isinstance(outside, Refusal) and outside.status == "Invalid"
    assert "outside your territory" in outside.reason


def test_the_message_names_payer_and_rate():
    text = describe(decision("PEV-0001", "P-1001"), "EV TOU", "0.28", "USD")
    assert "A-1001" in text and "0.28 USD/kWh" in text and "L1" in text
