"""The central with a station that is not our code (tests/third_party.py: the ocpp
package's own v201 ChargePoint), in a third-party charger's order: the transaction Started
at plug-in without an idToken, Authorize with the PEV ID, then Updated with it."""

import asyncio
import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from ocpp.v201 import call

from central.operator.dashboard import DashboardState
from shared.timeutil import to_wire
from shared.units import money
from tests.helpers import example_registry, local
from tests.integration.conftest import PASSWORDS, open_link, pev_central, running_central
from tests.third_party import third_party_station

EVENING = local(2026, 11, 22, 20, 30)  # winter: peak to 21:00 at 0.42, then 0.40
PEAK, PARTIAL_PEAK = Decimal("0.42"), Decimal("0.40")
MINUTE = timedelta(minutes=1)


def with_expired_pev():
    """The example registry and PEV-0906, whose enrollment has expired."""
    registry = example_registry()
    model = next(p for p in registry.pevs if p.id == "PEV-0002")
    expired = dataclasses.replace(model, id="PEV-0906", vin=None, status="expired",
                                  identifiers=())
    return dataclasses.replace(registry, pevs=(*registry.pevs, expired))


@pytest.fixture
async def central(tmp_path):
    async with running_central(tmp_path, registry=with_expired_pev(), start=EVENING) as running:
        yield running


async def test_every_event_with_an_id_token_is_answered_with_that_tokens_status(central):
    async with third_party_station(central.url, "CP-1001", PASSWORDS["CP-1001"]) as station:
        started = await station.event("Started", "tx-1", EVENING, 50_000,
                                      trigger="CablePluggedIn")
        assert started.id_token_info is None
        authorized = await station.authorize("PEV-0001")
        assert authorized.id_token_info["status"] == "Accepted"
        answers = [await station.event("Updated", "tx-1", EVENING + n * MINUTE, trigger=why,
                                       id_token=token)
                   for n, (token, why) in enumerate((("PEV-0001", "Authorized"),
                                                     ("PEV-0905", "Authorized"),
                                                     ("NOBODY-AT-ALL", "Authorized")), 1)]
        assert [a.id_token_info["status"] for a in answers] == ["Accepted", "Blocked",
                                                                "Invalid"]
        ended = await station.event("Ended", "tx-1", EVENING + 5 * MINUTE, 50_500,
                                    trigger="StopAuthorized", id_token="PEV-0001",
                                    stopped_reason="Local")
        assert ended.id_token_info["status"] == "Accepted"
        assert ended.total_cost == pytest.approx(float(money(Decimal("0.5") * PEAK)))
        # an Updated for a transaction whose Started never came
        orphan = await station.event("Updated", "tx-2", EVENING + 6 * MINUTE, 50_600,
                                     id_token="PEV-0001")
        assert orphan.id_token_info["status"] == "Accepted"
    first = await central.store.session("CP-1001", "tx-1")
    assert (first.pev_id, first.payer_account, first.status) == ("PEV-0001", "A-1001", "ended")
    orphan_session = await central.store.session("CP-1001", "tx-2")
    assert orphan_session.payer_account == "A-1001" and orphan_session.started_at is None


REFUSED = [("PEV-0905", "Blocked", "blocked"), ("PEV-0906", "Expired", "expired"),
           ("PEV-0904", "Invalid", "outside your territory"),
           ("PEV-9999", "Invalid", "not enrolled")]


@pytest.mark.parametrize(("pev", "status", "reason"), REFUSED)
@pytest.mark.parametrize("flow", ["authorize", "in-the-event"])
async def test_a_refused_binding_is_kept_as_a_refused_session_and_never_billed(
        central, pev, status, reason, flow):
    """The standard flow: Started without an idToken, Authorize answered with a refusal,
    the PEV unplugged (Ended, no idToken); or the PEV ID in the Started itself."""
    app_events = []
    async with central.router.bus.subscribe() as feed, \
            third_party_station(central.url, "CP-1001", PASSWORDS["CP-1001"]) as station:
        token = pev if flow == "in-the-event" else None
        started = await station.event("Started", "tx-r", EVENING, 50_000,
                                      trigger="CablePluggedIn", id_token=token)
        if flow == "authorize":
            assert started.id_token_info is None
            assert (await station.authorize(pev)).id_token_info["status"] == status
        else:
            assert started.id_token_info["status"] == status
        await station.event("Updated", "tx-r", EVENING + MINUTE, 50_000)
        ended = await station.event("Ended", "tx-r", EVENING + 2 * MINUTE, 50_000,
                                    trigger="EVCommunicationLost",
                                    stopped_reason="EVDisconnected")
        assert ended.total_cost == 0  # nothing is billed
        while not feed.empty():
            app_events.append(feed.get_nowait())

    session = await central.store.session("CP-1001", "tx-r")
    assert (session.status, session.pev_id, session.payer_account) == ("refused", pev, None)
    assert reason in session.refusal
    assert session.cost_total is None and session.energy_wh == 0
    _, out, _ = await pev_central("sessions", "--db", str(central.db), "--json")
    [row] = json.loads(out)
    assert (row["status"], row["pev"], row["cost_total"]) == ("refused", pev, None)
    assert reason in row["refusal"]
    [refusal] = [e for e in app_events if e["type"] == "binding.refused"]
    assert (refusal["pev"], refusal["status"]) == (pev, status)
    shown = DashboardState()
    for event in app_events:
        shown.apply(event)
    assert any(pev in line and status in line for line in shown.refusals)
    assert shown.sessions[("CP-1001", "tx-r")].state == "refused"


async def test_a_refused_binding_shows_in_the_api_sessions(api):
    async with third_party_station(api.central.url, "CP-1001",
                                   PASSWORDS["CP-1001"]) as station:
        await station.event("Started", "tx-a", EVENING, 50_000, trigger="CablePluggedIn")
        await station.authorize("PEV-0905")
        await station.event("Ended", "tx-a", EVENING + MINUTE, 50_000,
                            trigger="EVCommunicationLost", stopped_reason="EVDisconnected")
    async with api.client() as client:
        [row] = (await client.get("/sessions", params={"status": "refused"})).json()
    assert (row["pev"], row["transaction_id"], row["cost_total"]) == ("PEV-0905", "tx-a", None)


async def test_a_token_accepted_after_a_refused_one_binds_the_session(central):
    async with third_party_station(central.url, "CP-1001", PASSWORDS["CP-1001"]) as station:
        await station.event("Started", "tx-b", EVENING, 50_000, trigger="CablePluggedIn")
        assert (await station.authorize("PEV-9999")).id_token_info["status"] == "Invalid"
        assert (await station.authorize("PEV-0001")).id_token_info["status"] == "Accepted"
        await station.event("Updated", "tx-b", EVENING + MINUTE, trigger="Authorized",
                            id_token="PEV-0001")
        await station.event("Ended", "tx-b", EVENING + 2 * MINUTE, 50_100,
                            trigger="EVCommunicationLost", stopped_reason="EVDisconnected")
    session = await central.store.session("CP-1001", "tx-b")
    assert (session.status, session.pev_id, session.refusal) == ("ended", "PEV-0001", None)
    assert session.energy_wh == 100 and session.cost_total == money(Decimal("0.1") * PEAK)


async def bound_and_planned(station, transaction_id):
    """Plugged in, authorized and planned: the central's TxProfile, as received."""
    await station.event("Started", transaction_id, EVENING, 50_000, trigger="CablePluggedIn")
    await station.authorize("PEV-0001")
    await station.event("Updated", transaction_id, EVENING, trigger="Authorized",
                        id_token="PEV-0001")
    needs = await station.call(call_needs(EVENING + timedelta(hours=10)))
    assert needs.status == "Accepted"
    return await asyncio.wait_for(station.profiles.get(), 5)


def call_needs(departure):
    return call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
        "requested_energy_transfer": "AC_single_phase", "departure_time": to_wire(departure),
        "ac_charging_parameters": {"energy_amount": 10_000, "ev_min_current": 6,
                                   "ev_max_current": 32, "ev_max_voltage": 230}})


def ev_plan(time_base, periods, unit="W"):
    return call.NotifyEVChargingSchedule(time_base=time_base, evse_id=1, charging_schedule={
        "id": 1, "charging_rate_unit": unit, "charging_schedule_period": [
            {"start_period": offset, "limit": limit} for offset, limit in periods]})


async def test_an_ev_plan_that_breaks_the_limits_is_rejected_and_the_profile_sent_again(
        central):
    async with third_party_station(central.url, "CP-1001", PASSWORDS["CP-1001"]) as station:
        profile = await bound_and_planned(station, "tx-p")
        schedule = profile["charging_schedule"][0]
        periods = [(p["start_period"], p["limit"])
                   for p in schedule["charging_schedule_period"]]
        assert periods[0][1] == 0  # economy: nothing before off-peak at midnight

        kept = await station.call(ev_plan(schedule["start_schedule"], periods))
        assert kept.status == "Accepted"
        in_amperes = [(offset, limit / 230) for offset, limit in periods]
        assert (await station.call(ev_plan(schedule["start_schedule"], in_amperes,
                                           "A"))).status == "Accepted"
        with pytest.raises(TimeoutError):  # nothing sent again for a plan that keeps to it
            await asyncio.wait_for(station.profiles.get(), 0.5)

        greedy = await station.call(ev_plan(schedule["start_schedule"], [(0, 7200)]))
        assert greedy.status == "Rejected"
        assert greedy.status_info["reason_code"] == "ExceedsLimits"
        assert "7200 W" in greedy.status_info["additional_info"]
        again = await asyncio.wait_for(station.profiles.get(), 5)
        assert again == profile


async def test_the_station_is_shown_the_cost_so_far_every_five_minutes_and_at_each_period(
        central):
    """A flex PEV charging 6 kW from 20:30 to 21:20: the cost so far at its first reading,
    then every 5 minutes of meter time, and at 21:00 when peak gives way to partial-peak;
    the final cost with the Ended."""
    minutes = range(1, 50)  # readings 20:31 .. 21:19, the Ended at 21:20
    async with third_party_station(central.url, "CP-1002", PASSWORDS["CP-1002"]) as station:
        await station.event("Started", "tx-c", EVENING, 50_000, trigger="CablePluggedIn")
        await station.authorize("PEV-0002")
        await station.event("Updated", "tx-c", EVENING, trigger="Authorized",
                            id_token="PEV-0002")
        for minute in minutes:
            await station.event("Updated", "tx-c", EVENING + minute * MINUTE,
                                50_000 + 100 * minute)
        ended = await station.event("Ended", "tx-c", EVENING + 50 * MINUTE, 55_000,
                                    trigger="EVCommunicationLost",
                                    stopped_reason="EVDisconnected")
        async with asyncio.timeout(5):
            shown = [await station.costs.get() for _ in range(10)]
        with pytest.raises(TimeoutError):  # and no more
            await asyncio.wait_for(station.costs.get(), 0.3)

    def cost_at(minute):  # 100 Wh a minute: peak until 21:00 (minute 30), then partial;
        peak, partial = min(minute, 30), max(minute - 30, 0)  # each period rounded, as billed
        return money(Decimal(peak) / 10 * PEAK) + money(Decimal(partial) / 10 * PARTIAL_PEAK)

    shown_at = [1, 6, 11, 16, 21, 26, 30, 35, 40, 45]
    assert shown == [("tx-c", float(cost_at(m))) for m in shown_at]
    assert Decimal(str(ended.total_cost)) == cost_at(50) == Decimal("2.06")


async def test_a_station_that_refuses_running_costs_is_not_sent_them_again(central):
    link = await open_link(central, "CP-1002")
    sent = [{"eventType": "Started", "timestamp": "2026-11-23T04:30:00Z", "seqNo": 0,
             "triggerReason": "CablePluggedIn", "transactionInfo": {"transactionId": "tx-n"},
             "evse": {"id": 1, "connectorId": 1},
             "idToken": {"idToken": "PEV-0002", "type": "Central"}}]
    sent += [{"eventType": "Updated", "timestamp": f"2026-11-23T04:{30 + 6 * n:02d}:00Z",
              "seqNo": n, "triggerReason": "MeterValuePeriodic",
              "transactionInfo": {"transactionId": "tx-n"},
              "meterValue": [{"timestamp": f"2026-11-23T04:{30 + 6 * n:02d}:00Z",
                              "sampledValue": [{"value": 50_000 + 600 * n}]}]}
             for n in range(1, 5)]
    asked = 0
    for n, payload in enumerate(sent):
        await link.send(json.dumps([2, f"m{n}", "TransactionEvent", payload]))
        while (frame := json.loads(await asyncio.wait_for(link.recv(), 5)))[0] == 2:
            assert frame[2] == "CostUpdated"
            asked += 1
            await link.send(json.dumps([4, frame[1], "NotImplemented", "no display", {}]))
        assert frame[:2] == [3, f"m{n}"]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(link.recv(), 0.5)
    await link.close()
    assert asked == 1


async def test_meter_values_during_a_transaction_are_kept_and_the_bill_is_its_events(api):
    """MeterValues is for data outside a transaction (J01); one sent while a transaction
    runs, with transaction contexts, is answered, kept, and bills nothing twice."""
    async with third_party_station(api.central.url, "CP-1002",
                                   PASSWORDS["CP-1002"]) as station:
        await station.event("Started", "tx-m", EVENING, 50_000, trigger="CablePluggedIn",
                            id_token="PEV-0002")
        sampled = [{"value": 50_300, "context": context, "location": "Outlet",
                    "measurand": "Energy.Active.Import.Register"}
                   for context in ("Transaction.Begin", "Sample.Periodic", "Sample.Clock")]
        answer = await station.call(call.MeterValues(evse_id=1, meter_value=[{
            "timestamp": to_wire(EVENING + 3 * MINUTE), "sampled_value": sampled}]))
        assert answer is not None  # an empty MeterValuesResponse, not a CALLERROR
        await station.event("Ended", "tx-m", EVENING + 10 * MINUTE, 51_000,
                            trigger="EVCommunicationLost", stopped_reason="EVDisconnected")
    async with api.client() as client:
        [kept] = (await client.get("/stations/CP-1002/events",
                                   params={"action": "MeterValues"})).json()
    assert kept["payload"]["meterValue"][0]["sampledValue"][1]["context"] == "Sample.Periodic"
    session = await api.central.store.session("CP-1002", "tx-m")
    assert session.energy_wh == 1_000  # the events' register delta
    assert len(await api.central.store.readings(session.id)) == 2
