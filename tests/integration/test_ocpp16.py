"""The whole program over OCPP 1.6J, with a charge point that is not our code
(tests/third_party_v16.py: the `ocpp` package's own v16 ChargePoint): who pays, what is
metered, what the station is told, and that retries and replays bill nothing twice."""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from ocpp.v16 import call

from central.domain import demand
from central.operator.dashboard import DashboardState
from tests.integration.conftest import (
    PASSWORDS,
    WINTER_PEAK,
    cost_in_one_period,
    open_link,
    pev_central,
    rpc,
)
from tests.third_party_v16 import sampled, third_party_station_16

EVENING = WINTER_PEAK
MINUTE = timedelta(minutes=1)


@pytest.fixture
def central(peak_central):
    return peak_central


def station(central, station_id, **options):
    return third_party_station_16(central.url, station_id, PASSWORDS[station_id], **options)


async def charge(cp, id_tag, begin_wh, minutes, wh_per_minute, at=EVENING):
    """Start, a MeterValues a minute, stop: the station's transaction id and answers."""
    started = await cp.start_transaction(id_tag, begin_wh, at)
    tx = started.transaction_id
    for n in range(1, minutes):
        await cp.meter(tx, at + n * MINUTE, begin_wh + n * wh_per_minute)
    stopped = await cp.stop_transaction(tx, begin_wh + minutes * wh_per_minute,
                                        at + minutes * MINUTE)
    return started, stopped


async def test_l1_at_home_bills_the_owner_the_register_delta_and_clears_the_profile(central):
    async with central.router.bus.subscribe() as feed, station(central, "CP-1001") as cp:
        assert (await cp.authorize("PEV-0001")).id_tag_info["status"] == "Accepted"
        started = await cp.start_transaction("PEV-0001", 50_000, EVENING)
        tx = started.transaction_id
        assert isinstance(tx, int) and started.id_tag_info["status"] == "Accepted"
        # no energy request: planned with the program's defaults, in A (the station
        # reports only Current), for this transaction
        connector, profile = await asyncio.wait_for(cp.profiles.get(), 5)
        schedule = profile["charging_schedule"]
        assert (connector, profile["transaction_id"], profile["charging_profile_purpose"],
                schedule["charging_rate_unit"]) == (1, tx, "TxProfile", "A")
        for n in range(1, 6):
            await cp.meter(tx, EVENING + n * MINUTE, 50_000 + 100 * n)
        await cp.meter(tx, EVENING + 6 * MINUTE, "50.6", unit="kWh")  # kWh, a string
        await cp.stop_transaction(tx, 50_700, EVENING + 7 * MINUTE, reason="EVDisconnected",
                      transaction_data=[sampled(EVENING + 7 * MINUTE, 50_700,
                                                context="Transaction.End")])
        assert await asyncio.wait_for(cp.cleared.get(), 5) == profile["charging_profile_id"]
        shown = DashboardState()
        while not feed.empty():
            shown.apply(feed.get_nowait())
    assert shown.sessions[("CP-1001", str(tx))].ocpp == "1.6"
    code, out, err = await pev_central("sessions", "--db", str(central.db), "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["transaction_id"], row["ocpp_version"]) == (str(tx), "1.6")
    session = await central.store.session("CP-1001", str(tx))
    assert (session.scenario, session.payer_account, session.status) == ("L1", "A-1001",
                                                                        "ended")
    assert session.energy_wh == 700 and session.ocpp_version == "1.6"
    assert session.cost_total == await cost_in_one_period(central, session, 700)
    assert session.complete


async def test_l2a_the_host_pays_and_l2b_the_owner_pays_the_host_credited(central):
    async with station(central, "CP-1002", rate_unit="Current,Power") as host, \
            station(central, "CP-1003") as portal:
        hosted, _ = await charge(host, "PEV-0003", 10_000, 10, 150)
        # L2-B with our energy request: 3 kWh by 02:00, at most 16 A
        started = await portal.start_transaction("PEV-0001", 7_000, EVENING)
        _, default_plan = await asyncio.wait_for(portal.profiles.get(), 5)
        answer = await portal.energy_request({
            "connectorId": 1, "energyWh": 3000, "maxCurrentA": 16,
            "departure": (EVENING + timedelta(hours=5)).isoformat()})
        assert answer.status == "Accepted"
        assert json.loads(answer.data)["energyAvailableWh"] == 3000
        _, planned = await asyncio.wait_for(portal.profiles.get(), 5)
        assert planned["charging_profile_id"] == default_plan["charging_profile_id"]
        for n in range(1, 5):
            await portal.meter(started.transaction_id, EVENING + n * MINUTE, 7_000 + 60 * n)
        await portal.stop_transaction(started.transaction_id, 7_300, EVENING + 5 * MINUTE)
        _, host_profile = await asyncio.wait_for(host.profiles.get(), 5)
        assert host_profile["charging_schedule"]["charging_rate_unit"] == "W"
    l2a = await central.store.session("CP-1002", str(hosted.transaction_id))
    l2b = await central.store.session("CP-1003", str(started.transaction_id))
    assert (l2a.scenario, l2a.payer_account, l2a.energy_wh) == ("L2-A", "A-1002", 1500)
    assert l2a.cost_total == await cost_in_one_period(central, l2a, 1500)
    assert (l2b.scenario, l2b.payer_account, l2b.energy_wh) == ("L2-B", "A-1001", 300)
    assert l2b.cost_total == await cost_in_one_period(central, l2b, 300)
    assert l2b.energy_requested_wh == 3000
    code, out, err = await pev_central("statement", "--db", str(central.db), "--account",
                                       "A-1003", "--month", "2026-11", "--format", "json")
    assert code == 0, err
    [credit] = json.loads(out)["sections"]["guest_credits"]
    assert (credit["session_id"], credit["energy_wh"]) == (l2b.id, 300)
    code, out, err = await pev_central("statement", "--db", str(central.db), "--account",
                                       "A-1001", "--month", "2026-11", "--format", "json")
    [away] = json.loads(out)["sections"]["away"]
    assert (away["session_id"], away["ocpp_version"]) == (l2b.id, "1.6")


@pytest.mark.parametrize(("pev", "status"), [("PEV-0905", "Blocked"), ("PEV-9999", "Invalid")])
async def test_a_refused_pev_is_told_so_and_never_billed(central, pev, status):
    async with station(central, "CP-1001") as cp:
        assert (await cp.authorize(pev)).id_tag_info["status"] == status
        started, _ = await charge(cp, pev, 50_000, 3, 0)
        assert started.id_tag_info["status"] == status
        assert cp.profiles.empty()
    session = await central.store.session("CP-1001", str(started.transaction_id))
    assert (session.status, session.pev_id, session.payer_account) == ("refused", pev, None)
    assert session.cost_total is None


async def test_a_dr_event_mid_session_overlays_a_higher_stack_level(central):
    async with station(central, "CP-1001", rate_unit="Power") as cp:
        started = await cp.start_transaction("PEV-0001", 50_000, EVENING)
        _, normal = await asyncio.wait_for(cp.profiles.get(), 5)
        now = central.clock.now()
        await central.store.add_dr_event(now, now + timedelta(minutes=30),
                                         "station:CP-1001", 1500, None, 0, now)
        connector, overlay = await asyncio.wait_for(cp.profiles.get(), 5)
        assert (connector, overlay["transaction_id"]) == (1, started.transaction_id)
        assert overlay["stack_level"] == demand.DR_STACK_LEVEL > normal["stack_level"]
        assert max(p["limit"] for p in overlay["charging_schedule"]
                   ["charging_schedule_period"]) <= 1500
        assert "valid_from" in overlay and "valid_to" in overlay
        await cp.meter(started.transaction_id, EVENING + MINUTE, 50_025)
        await cp.stop_transaction(started.transaction_id, 50_050, EVENING + 2 * MINUTE)
        cleared = {await asyncio.wait_for(cp.cleared.get(), 5) for _ in range(2)}
        assert cleared == {normal["charging_profile_id"], overlay["charging_profile_id"]}
    session = await central.store.session("CP-1001", str(started.transaction_id))
    assert session.energy_wh == 50 and list(session.dr_windows)


async def test_a_retried_start_gets_the_same_transaction_and_no_second_session(central):
    async with station(central, "CP-1001") as cp:
        first = await cp.start_transaction("PEV-0001", 50_000, EVENING)
        again = await cp.start_transaction("PEV-0001", 50_000, EVENING)  # the answer was lost
        assert again.transaction_id == first.transaction_id
        other = await cp.start_transaction("PEV-0001", 50_000, EVENING + MINUTE)  # a new plug-in
        assert other.transaction_id != first.transaction_id
        tx = first.transaction_id
        await cp.meter(tx, EVENING + MINUTE, 50_100)
        await cp.meter(tx, EVENING + MINUTE, 50_100)  # sent again: counted once
        await cp.stop_transaction(tx, 50_200, EVENING + 2 * MINUTE)
        await cp.stop_transaction(tx, 50_200, EVENING + 2 * MINUTE)
    sessions = [s for s in await central.store.sessions() if s.station_id == "CP-1001"]
    assert sorted(s.transaction_id for s in sessions) == sorted({str(tx),
                                                                 str(other.transaction_id)})
    session = await central.store.session("CP-1001", str(tx))
    assert session.energy_wh == 200
    assert session.cost_total == await cost_in_one_period(central, session, 200)


async def test_messages_queued_offline_and_replayed_in_order_bill_once(central):
    """A station that lost its link queues its transaction messages (1.6 section 4.7)
    and sends them in order when it is back: a session's whole evening, late."""
    async with station(central, "CP-1001") as cp:
        started, _ = await charge(cp, "PEV-0001", 50_000, 30, 50,
                                  at=EVENING - timedelta(hours=2))
    async with station(central, "CP-1001") as cp:  # replays the same after a reconnect
        again, _ = await charge(cp, "PEV-0001", 50_000, 30, 50,
                                at=EVENING - timedelta(hours=2))
    assert again.transaction_id == started.transaction_id
    session = await central.store.session("CP-1001", str(started.transaction_id))
    assert session.energy_wh == 1500 and session.complete
    readings = await central.store.readings(session.id)
    assert len({r.timestamp for r in readings}) == 31


async def test_a_station_that_shows_cost_gets_the_california_pricing_messages(central):
    async with station(central, "CP-1001", shows_cost=True) as cp:
        started, _ = await charge(cp, "PEV-0001", 50_000, 12, 100)
        messages = {}
        while len(messages) < 3:
            kind, data = await asyncio.wait_for(cp.cost_messages.get(), 5)
            messages.setdefault(kind, data)
    session = await central.store.session("CP-1001", str(started.transaction_id))
    assert messages["SetUserPrice"]["idToken"] == "PEV-0001"
    assert messages["RunningCost"]["transactionId"] == started.transaction_id
    final = messages["FinalCost"]
    assert final["transactionId"] == started.transaction_id
    assert Decimal(str(final["cost"])) == session.cost_total


async def test_a_station_that_shows_no_cost_gets_no_cost_messages(central):
    async with station(central, "CP-1001") as cp:
        await charge(cp, "PEV-0001", 50_000, 12, 100)
        await asyncio.sleep(0.2)
        assert cp.cost_messages.empty()


async def test_a_bad_energy_request_is_rejected_with_the_reason(central):
    async with station(central, "CP-1001") as cp:
        answer = await cp.energy_request({"connectorId": 1, "energyWh": "lots"})
        assert answer.status == "Rejected" and "EnergyRequest" in json.loads(answer.data)[
            "reason"]
        answer = await cp.energy_request({"connectorId": 1, "energyWh": 5000})
        assert answer.status == "Rejected"  # no PEV is bound at the connector


async def test_the_operator_api_relays_16_commands_checked_against_16_schemas(api):
    async with station(api.central, "CP-1001") as cp, api.client() as client:
        answer = await client.post("/stations/CP-1001/commands/GetConfiguration",
                                   json={"key": ["CustomDisplayCostAndPrice"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["response"]["configurationKey"][0]["value"] == "false"
        stop = await client.post("/stations/CP-1001/commands/RemoteStopTransaction",
                                 json={"transactionId": 7})
        assert stop.json()["response"] == {"status": "Accepted"}
        assert await asyncio.wait_for(cp.remote_stops.get(), 5) == 7
        newer = await client.post("/stations/CP-1001/commands/RequestStartTransaction",
                                  json={"idToken": {"idToken": "PEV-0001", "type": "Central"},
                                        "remoteStartId": 1})
        assert newer.status_code == 404 and "OCPP 1.6" in newer.json()["detail"]
        bad = await client.post("/stations/CP-1001/ocpp/RemoteStartTransaction",
                                json={"idTag": "PEV-0001-AND-FAR-TOO-LONG-FOR-1.6"})
        assert bad.status_code == 422 and "1.6" in bad.json()["detail"]
        view = (await client.get("/stations/CP-1001")).json()
        assert view["ocpp_version"] == "1.6" and view["connected"]


async def test_a_signing_request_the_central_cannot_grant_is_rejected(central):
    """The 1.6 security whitepaper's SignCertificate, at a central with no station CA."""
    async with station(central, "CP-1001") as cp:
        answer = await cp.call(call.SignCertificate(
            csr="-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"))
    assert answer.status == "Rejected"


async def test_bad_16_frames_get_a_callerror_and_nothing_is_kept(central):
    link = await open_link(central, subprotocols=["ocpp1.6"])
    try:
        too_long = await rpc(link, "Authorize", {"idTag": "PEV-0001-WITH-A-LONG-TAIL"})
        assert too_long[0] == 4  # 21 characters: the 1.6 schema's CALLERROR
        started = await rpc(link, "StartTransaction", {
            "connectorId": 1, "idTag": "PEV-0001", "meterStart": 50_000,
            "timestamp": "2026-11-23T04:30:00Z"}, "m2")
        tx = started[2]["transactionId"]
        await link.send(json.dumps([2, "m3", "MeterValues", {
            "connectorId": 1, "transactionId": tx, "meterValue": [{
                "timestamp": "2026-11-23T04:31:00Z", "sampledValue": [{"value": "NaN"}]}]}]))
        while (nonsense := json.loads(await asyncio.wait_for(link.recv(), 5)))[1] != "m3":
            pass  # the central's own calls after the start (its configuration, a profile)
        assert nonsense[0] == 4 and nonsense[2] == "PropertyConstraintViolation"
    finally:
        await link.close()
    session = await central.store.session("CP-1001", str(tx))
    assert [r.register_wh for r in await central.store.readings(session.id)] == [50_000]
