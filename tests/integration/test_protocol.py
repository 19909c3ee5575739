"""The OCPP endpoint at the edges: handshake refusals, malformed frames, reconnects, and
TransactionEvents the central has not seen begin."""

import asyncio
import dataclasses
import json
from datetime import timedelta

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

from shared.timeutil import to_wire
from tests.integration.conftest import open_link, rpc

BOOT = {"chargingStation": {"vendorName": "acme", "model": "x1"}, "reason": "PowerUp"}


def updated(transaction_id: str, seq_no: int, register_wh: int, minute: int) -> dict:
    timestamp = f"2026-11-23T08:{minute:02d}:00Z"
    return {"eventType": "Updated", "timestamp": timestamp,
            "triggerReason": "MeterValuePeriodic", "seqNo": seq_no,
            "transactionInfo": {"transactionId": transaction_id},
            "meterValue": [{"timestamp": timestamp, "sampledValue": [
                {"value": register_wh, "measurand": "Energy.Active.Import.Register",
                 "context": "Sample.Periodic", "location": "Outlet"}]}]}


@pytest.mark.parametrize("offered", [[], ["ocpp1.5"], ["ocpp2.0"], ["OCPP2.0.1", "ocpp3"]])
async def test_no_version_we_speak_offered_is_refused_with_400_before_the_upgrade(
        central, offered):
    with pytest.raises(InvalidStatus) as refused:
        await open_link(central, subprotocols=offered)
    assert refused.value.response.status_code == 400
    for version in (b"ocpp2.1", b"ocpp2.0.1", b"ocpp1.6"):
        assert version in refused.value.response.body


@pytest.mark.parametrize(("offered", "chosen"), [
    (["ocpp1.6", "ocpp2.0.1", "ocpp2.1"], "ocpp2.1"), (["ocpp2.1"], "ocpp2.1"),
    (["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"), (["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
    (["ocpp1.6"], "ocpp1.6"), (["ocpp9", "ocpp1.6"], "ocpp1.6"), (["ocpp2.0.1"], "ocpp2.0.1"),
])
async def test_the_newest_version_both_sides_speak_is_chosen(central, offered, chosen):
    link = await open_link(central, subprotocols=offered)
    try:
        assert link.subprotocol == chosen
        for _ in range(200):  # the link is routed once the upgrade is through
            if central.router.version("CP-1001") is not None:
                break
            await asyncio.sleep(0.01)
        assert central.router.version("CP-1001") == chosen[len("ocpp"):]
    finally:
        await link.close()


async def test_the_registry_limits_a_station_to_its_versions(central):
    station = await central.store.station("CP-1001")
    await central.store.upsert_entry("stations", dataclasses.replace(
        station, ocpp_versions=("1.6",)))
    link = await open_link(central, subprotocols=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"])
    assert link.subprotocol == "ocpp1.6"
    await link.close()
    with pytest.raises(InvalidStatus) as refused:
        await open_link(central, subprotocols=["ocpp2.0.1"])
    assert refused.value.response.status_code == 400
    assert b"ocpp1.6" in refused.value.response.body
    assert b"ocpp2.0.1" not in refused.value.response.body


@pytest.mark.parametrize("offered", [["ocpp1.6"], ["ocpp2.0.1"], ["ocpp1.5"], []])
async def test_a_wrong_password_is_401_whatever_version_is_offered(central, offered):
    with pytest.raises(InvalidStatus) as refused:
        await open_link(central, password="wrong-password-entirely", subprotocols=offered)
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize(("station", "password"), [
    ("CP-1001", "wrong-password-entirely"), ("CP-0666", "anything-at-all-here"),
    ("CP-1001", ""),
])
async def test_bad_credentials_get_401_before_any_ocpp_message(central, station, password):
    with pytest.raises(InvalidStatus) as refused:
        await open_link(central, station, password=password or "x")
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")


async def test_a_password_valid_for_another_station_does_not_open_this_one(central):
    with pytest.raises(InvalidStatus) as refused:
        await open_link(central, "CP-1002", password="alder-lane-evse-2026")
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize(("frame", "code", "message_id"), [
    ("this is not json", "FormatViolation", "-1"),
    ('{"an": "object"}', "RpcFrameworkError", "-1"),
    ('[7, "m7", "Heartbeat", {}]', "MessageTypeNotSupported", "m7"),
    ('[2, "m8", "Heartbeat"]', "ProtocolError", "m8"),
    # a missing required field: the ocpp package's mapping, which we keep
    ('[2, "m9", "BootNotification", {"reason": "PowerUp"}]', "ProtocolError", "m9"),
    ('[2, "m10", "BootNotification", {"chargingStation": {"vendorName": 5, "model": "x"}, '
     '"reason": "PowerUp"}]', "TypeConstraintViolation", "m10"),
])
async def test_a_malformed_frame_gets_a_callerror_and_the_connection_stays_usable(
        central, frame, code, message_id):
    link = await open_link(central)
    await link.send(frame)
    error = json.loads(await asyncio.wait_for(link.recv(), 5))
    assert error[:3] == [4, message_id, code]
    assert isinstance(error[3], str) and isinstance(error[4], dict)
    reply = await rpc(link, "Heartbeat", {}, "after")
    assert reply[0:2] == [3, "after"] and "currentTime" in reply[2]
    await link.close()


async def test_a_second_connection_replaces_the_first_which_is_closed_cleanly(central):
    first = await open_link(central)
    second = await open_link(central)
    with pytest.raises(ConnectionClosedOK):
        await asyncio.wait_for(first.recv(), 5)
    assert first.close_code == 1000
    assert (await rpc(second, "Heartbeat", {}))[0] == 3
    assert central.router.connected() == ["CP-1001"]
    await second.close()


async def test_no_bootnotification_is_needed_after_a_reconnect(central):
    link = await open_link(central)
    assert (await rpc(link, "BootNotification", BOOT))[2]["status"] == "Accepted"
    await link.close()
    again = await open_link(central)
    reply = await rpc(again, "TransactionEvent", updated("tx-after-reconnect", 3, 5000, 1))
    assert reply[0] == 3
    await again.close()


async def test_an_updated_for_an_unknown_transaction_is_accepted_and_kept_incomplete(central):
    link = await open_link(central)
    reply = await rpc(link, "TransactionEvent", updated("tx-never-started", 4, 8000, 2))
    assert reply == [3, "m1", {}]
    [session] = await central.store.sessions()
    assert session.transaction_id == "tx-never-started"
    assert session.started_at is None and not session.complete and session.status == "active"
    [reading] = await central.store.readings(session.id)
    assert reading.register_wh == 8000
    await link.close()


async def test_a_repeated_event_is_answered_the_same_and_counted_once(central):
    link = await open_link(central)
    first = await rpc(link, "TransactionEvent", updated("tx-dup", 1, 1000, 3), "a")
    second = await rpc(link, "TransactionEvent", updated("tx-dup", 1, 1000, 3), "b")
    assert first[2] == second[2]
    [session] = await central.store.sessions()
    assert len(await central.store.readings(session.id)) == 1
    assert len(await central.store.events("CP-1001", "tx-dup")) == 1
    await link.close()


async def test_each_request_is_read_as_sent_boot_status_and_dc_charging_needs(central):
    """The handlers read the wire's camelCase payloads: what a station says at boot and of
    its connectors is kept, and a DC PEV's energy request and power limit are planned."""
    link = await open_link(central)
    boot = {"chargingStation": {"vendorName": "acme", "model": "dc-50",
                                "firmwareVersion": "4.2"}, "reason": "PowerUp"}
    assert (await rpc(link, "BootNotification", boot))[2]["status"] == "Accepted"
    now = to_wire(central.clock.now())
    await rpc(link, "StatusNotification", {"timestamp": now, "connectorStatus": "Occupied",
                                           "evseId": 1, "connectorId": 1})
    state = await central.store.station_state("CP-1001")
    assert (state["vendor"], state["model"]) == ("acme", "dc-50")
    assert state["connectors"]["1/1"]["status"] == "Occupied"

    started = {"eventType": "Started", "timestamp": now, "triggerReason": "Authorized",
               "seqNo": 0, "transactionInfo": {"transactionId": "tx-dc"},
               "evse": {"id": 1, "connectorId": 1},
               "idToken": {"idToken": "PEV-0001", "type": "Central"}}
    reply = await rpc(link, "TransactionEvent", started)
    assert reply[2]["idTokenInfo"]["status"] == "Accepted"
    departure = to_wire(central.clock.now() + timedelta(hours=10))
    needs = {"evseId": 1, "chargingNeeds": {
        "requestedEnergyTransfer": "DC", "departureTime": departure,
        "dcChargingParameters": {"evMaxCurrent": 125, "evMaxVoltage": 400,
                                 "energyAmount": 6000, "evMaxPower": 3000}}}
    answer = await rpc(link, "NotifyEVChargingNeeds", needs)
    assert answer[2]["status"] == "Accepted"
    assert 0 < answer[2]["customData"]["energyAvailableWh"] <= 6000
    profile = json.loads(await asyncio.wait_for(link.recv(), 10))
    assert profile[2] == "SetChargingProfile"
    periods = profile[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert max(p["limit"] for p in periods) == 3000  # the PEV's own limit, in W
    await link.close()
