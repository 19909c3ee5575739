"""The whole program over OCPP 2.1, with a station that is not our code (the `ocpp`
package's own v21 ChargePoint, tests/third_party.py): who pays and what is billed as on
2.0.1, plus what 2.1 adds that the program uses: the rate in the AuthorizeResponse, the
cost so far in the TransactionEventResponse, V2X charging needs."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from central.domain import demand
from shared.timeutil import to_wire
from tests.helpers import LA
from tests.integration.conftest import PASSWORDS, WINTER_PEAK, cost_in_one_period
from tests.third_party import third_party_station

EVENING = WINTER_PEAK
MINUTE = timedelta(minutes=1)


@pytest.fixture
def central(peak_central):
    return peak_central


def station(central, station_id):
    return third_party_station(central.url, station_id, PASSWORDS[station_id], version="2.1")


async def a_session(cp, transaction_id, pev, begin_wh, minutes, wh_per_minute):
    """Started with the PEV's idToken, a reading a minute, Ended: the Ended's answer."""
    await cp.event("Started", transaction_id, EVENING, begin_wh, trigger="CablePluggedIn",
                   id_token=pev)
    for n in range(1, minutes):
        await cp.event("Updated", transaction_id, EVENING + n * MINUTE,
                       begin_wh + n * wh_per_minute)
    return await cp.event("Ended", transaction_id, EVENING + minutes * MINUTE,
                          begin_wh + minutes * wh_per_minute, trigger="EVCommunicationLost",
                          stopped_reason="EVDisconnected")


@pytest.mark.parametrize(("station_id", "pev", "scenario", "payer"), [
    ("CP-1001", "PEV-0001", "L1", "A-1001"),  # at home
    ("CP-1002", "PEV-0003", "L2-A", "A-1002"),  # a listed guest: the host pays
    ("CP-1003", "PEV-0001", "L2-B", "A-1001"),  # away: the owner pays
])
async def test_each_scenario_bills_its_payer_the_register_delta(central, station_id, pev,
                                                                scenario, payer):
    async with station(central, station_id) as cp:
        ended = await a_session(cp, "tx-21", pev, 20_000, 10, 120)
    session = await central.store.session(station_id, "tx-21")
    assert (session.scenario, session.payer_account, session.ocpp_version) == (
        scenario, payer, "2.1")
    assert session.energy_wh == 1200 and session.complete
    assert session.cost_total == await cost_in_one_period(central, session, 1200)
    assert Decimal(str(ended.total_cost)) == session.cost_total


async def test_the_authorize_response_carries_the_programs_rate_as_a_21_tariff(central):
    async with station(central, "CP-1001") as cp:
        answer = await cp.authorize("PEV-0001")
        refused = await cp.authorize("PEV-0905")
    assert answer.id_token_info["status"] == "Accepted"
    tariff = answer.tariff
    assert tariff["currency"] == "USD" and "PEV-0001" in tariff["description"][0]["content"]
    now_local = EVENING.astimezone(LA).strftime("%H:%M")
    [now_price] = [p["price_kwh"] for p in tariff["energy"]["prices"]
                   if p["conditions"]["start_time_of_day"] == now_local]
    rate = await central.store.tariff("ev-tou")
    assert Decimal(str(now_price)) == rate.price_at(EVENING)
    assert len(tariff["energy"]["prices"]) >= 3  # the day's periods
    assert refused.id_token_info["status"] == "Blocked" and refused.tariff is None


async def test_the_cost_so_far_comes_in_the_updated_responses_not_in_cost_updated(central):
    async with station(central, "CP-1002") as cp:
        started = await cp.event("Started", "tx-c", EVENING, 50_000,
                                 trigger="CablePluggedIn", id_token="PEV-0002")
        answers = [await cp.event("Updated", "tx-c", EVENING + n * MINUTE, 50_000 + 100 * n)
                   for n in range(1, 8)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(cp.costs.get(), 0.3)
    session = await central.store.session("CP-1002", "tx-c")
    assert started.total_cost == 0  # at once, once bound
    shown = [a.total_cost for a in answers]  # then every 5 minutes of meter time
    assert shown == [None] * 4 + [float(await cost_in_one_period(central, session, 500))] + \
        [None] * 2


async def test_v2x_charging_needs_are_planned(central):
    async with station(central, "CP-1001") as cp:
        await cp.event("Started", "tx-v", EVENING, 50_000, trigger="CablePluggedIn",
                       id_token="PEV-0001")
        needs = await cp.call(cp._call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
            "requested_energy_transfer": "AC_BPT", "control_mode": "ScheduledControl",
            "departure_time": to_wire(EVENING + timedelta(hours=10)),
            "v2x_charging_parameters": {"ev_target_energy_request": 8000,
                                        "max_charge_power": 7000}}))
        assert needs.status == "Accepted"
        profile = await asyncio.wait_for(cp.profiles.get(), 5)
        assert profile["transaction_id"] == "tx-v"
    session = await central.store.session("CP-1001", "tx-v")
    assert session.energy_requested_wh == 8000


async def test_a_dr_event_mid_session_overlays_a_higher_stack_level(central):
    async with station(central, "CP-1001") as cp:
        await cp.event("Started", "tx-d", EVENING, 50_000, trigger="CablePluggedIn",
                       id_token="PEV-0001")
        await cp.call(cp._call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
            "requested_energy_transfer": "AC_single_phase",
            "ac_charging_parameters": {"energy_amount": 10_000, "ev_min_current": 6,
                                       "ev_max_current": 32, "ev_max_voltage": 230}}))
        normal = await asyncio.wait_for(cp.profiles.get(), 5)
        now = central.clock.now()
        await central.store.add_dr_event(now, now + timedelta(minutes=30), "station:CP-1001",
                                         1500, None, 0, now)
        overlay = await asyncio.wait_for(cp.profiles.get(), 5)
        assert overlay["stack_level"] == demand.DR_STACK_LEVEL > normal["stack_level"]
        assert max(p["limit"] for p in overlay["charging_schedule"][0]
                   ["charging_schedule_period"]) <= 1500
        await cp.event("Ended", "tx-d", EVENING + 2 * MINUTE, 50_050,
                       trigger="EVCommunicationLost", stopped_reason="EVDisconnected")
    session = await central.store.session("CP-1001", "tx-d")
    assert session.energy_wh == 50 and list(session.dr_windows)


async def test_a_resent_event_is_answered_again_and_counted_once(central):
    async with station(central, "CP-1001") as cp:
        await cp.event("Started", "tx-r", EVENING, 50_000, trigger="CablePluggedIn",
                       id_token="PEV-0001")
        await cp.event("Updated", "tx-r", EVENING + MINUTE, 50_100)
        cp._seq_nos["tx-r"] = iter([1, 2])  # the answer was lost: seqNo 1 again
        await cp.event("Updated", "tx-r", EVENING + MINUTE, 50_100)
        await cp.event("Ended", "tx-r", EVENING + 2 * MINUTE, 50_200,
                       trigger="EVCommunicationLost", stopped_reason="EVDisconnected")
    session = await central.store.session("CP-1001", "tx-r")
    assert session.energy_wh == 200 and session.complete
    assert len(await central.store.readings(session.id)) == 3


async def test_a_refused_pev_is_told_so_and_its_session_never_billed(central):
    async with station(central, "CP-1001") as cp:
        ended = await a_session(cp, "tx-x", "PEV-0905", 20_000, 3, 0)  # blocked
    assert ended.total_cost == 0
    session = await central.store.session("CP-1001", "tx-x")
    assert (session.status, session.pev_id, session.payer_account, session.cost_total) == (
        "refused", "PEV-0905", None, None)
