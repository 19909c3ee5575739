"""Every OCPP 2.0.1 request a charging station may send gets a correct answer, built from
the official schemas (the required fields only, and every field), over a real WebSocket
to a real central; what they carry is kept and readable through the operator API."""

import asyncio
import json
from pathlib import Path

import ocpp.v201
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.messages import MessageType

from central.protocol.v201.link import CSMS_ACTIONS
from tests.integration.conftest import open_link, rpc
from tests.ocpp_payloads import request, response, valid_response

# Every request a station sends a CSMS in OCPP 2.0.1 (DataTransfer goes both ways), and
# the statuses the specification lets the central answer each with, here.
STATION_REQUESTS: dict[str, set[str] | None] = {
    "Authorize": {"Invalid"},  # the schema's token is enrolled nowhere
    "BootNotification": {"Accepted"},
    "ClearedChargingLimit": None,
    "DataTransfer": {"UnknownVendorId"},
    "FirmwareStatusNotification": None,
    "Get15118EVCertificate": {"Failed"},
    "GetCertificateStatus": {"Failed"},
    "Heartbeat": None,
    "LogStatusNotification": None,
    "MeterValues": None,
    "NotifyChargingLimit": None,
    "NotifyCustomerInformation": None,
    "NotifyDisplayMessages": None,
    "NotifyEVChargingNeeds": {"Rejected"},  # no transaction at that EVSE
    "NotifyEVChargingSchedule": {"Rejected"},  # ... so no limits it could keep to
    "NotifyEvent": None,
    "NotifyMonitoringReport": None,
    "NotifyReport": None,
    "PublishFirmwareStatusNotification": None,
    "ReportChargingProfiles": None,
    "ReservationStatusUpdate": None,
    "SecurityEventNotification": None,
    "SignCertificate": {"Rejected"},  # this central signs no certificates
    "StatusNotification": None,
    "TransactionEvent": None,
}
KEPT = {"ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
        "LogStatusNotification", "MeterValues", "NotifyChargingLimit", "NotifyDisplayMessages",
        "NotifyEvent", "PublishFirmwareStatusNotification", "ReportChargingProfiles",
        "ReservationStatusUpdate", "SecurityEventNotification"}


def status_of(action: str, response: dict) -> str | None:
    if action == "Authorize":
        return response["idTokenInfo"]["status"]
    return response.get("status")


def test_the_list_holds_every_request_of_2_0_1():
    schemas = Path(ocpp.v201.__file__).parent / "schemas"
    requests = {path.name.removesuffix("Request.json") for path in schemas.glob("*Request.json")}
    assert set(STATION_REQUESTS) | CSMS_ACTIONS == requests
    assert set(STATION_REQUESTS) & CSMS_ACTIONS == {"DataTransfer"}


@pytest.mark.parametrize("full", [False, True], ids=["required-fields", "every-field"])
@pytest.mark.parametrize("action", sorted(STATION_REQUESTS))
async def test_each_station_request_is_answered_as_the_specification_says(api, action, full):
    payload = request(action, full)
    link = await open_link(api.central, "CP-1001")
    reply = await rpc(link, action, payload)
    await link.close()
    assert reply[:2] == [MessageType.CallResult, "m1"], reply
    response = reply[2]
    assert valid_response(action, response), response
    expected = STATION_REQUESTS[action]
    if expected is None:
        assert status_of(action, response) is None
    else:
        assert status_of(action, response) in expected, response
    if action == "TransactionEvent" and "idToken" in payload:
        assert response["idTokenInfo"]["status"] == "Invalid"
    if action in KEPT:
        async with api.client() as client:
            kept = (await client.get("/stations/CP-1001/events",
                                     params={"action": action})).json()
        assert [m["payload"] for m in kept] == [payload]


async def test_a_request_the_schema_refuses_gets_a_callerror_and_nothing_is_kept(api):
    link = await open_link(api.central, "CP-1001")
    reply = await rpc(link, "NotifyEvent", {**request("NotifyEvent", False), "seqNo": "first"})
    assert reply[:3] == [MessageType.CallError, "m1", "TypeConstraintViolation"]
    await link.close()
    async with api.client() as client:
        assert (await client.get("/stations/CP-1001/events")).json() == []


def report_part(action: str, request_id: int, seq_no: int, tbc: bool, item: str,
                hour: int = 4) -> dict:
    """One part of a report, carrying one item (a variable, a monitor, a line of text)."""
    part = {"requestId": request_id, "generatedAt": f"2026-11-23T{hour:02d}:00:0{seq_no}Z",
            "seqNo": seq_no, "tbc": tbc}
    if action == "NotifyReport":
        part["reportData"] = [{"component": {"name": "EVSE", "evse": {"id": 1}},
                               "variable": {"name": item},
                               "variableAttribute": [{"value": "true"}]}]
    elif action == "NotifyMonitoringReport":
        part["monitor"] = [{"component": {"name": "EVSE"}, "variable": {"name": item},
                            "variableMonitoring": [{"id": seq_no, "transaction": False,
                                                    "value": 1.0, "type": "Delta",
                                                    "severity": 5}]}]
    else:
        part["data"] = f"{item};"
    return part


def items(action: str, content) -> list[str]:
    if action == "NotifyCustomerInformation":
        return content.split(";")[:-1]
    return [entry["variable"]["name"] for entry in content]


KIND = {"NotifyReport": "device-model", "NotifyMonitoringReport": "monitoring",
        "NotifyCustomerInformation": "customer-information"}


@pytest.mark.parametrize("action", sorted(KIND))
async def test_a_multi_part_report_is_whole_once_its_last_part_arrives(api, action):
    link = await open_link(api.central, "CP-1001")
    async with api.client() as client:
        async def report(**params):
            return await client.get("/stations/CP-1001/report",
                                    params={"kind": KIND[action], **params})

        # parts 0 and 2 first (a station may resend after a reconnect), then part 1
        for parts, (seq_no, tbc) in enumerate(((0, True), (2, False)), start=1):
            reply = await rpc(link, action, report_part(action, 7, seq_no, tbc, f"v{seq_no}"),
                              f"m{seq_no}")
            assert reply == [3, f"m{seq_no}", {}]
            missing = await report()
            assert missing.status_code == 404
            assert f"{parts} part(s) so far" in missing.json()["detail"]
        # part 0 sent again (a retry after a reconnect) keeps the parts after it
        await rpc(link, action, report_part(action, 7, 0, True, "v0"), "r0")
        await rpc(link, action, report_part(action, 7, 1, True, "v1"), "m1")
        whole = (await report()).json()
        assert whole["request_id"] == 7 and whole["complete"] and whole["parts"] == 3
        assert items(action, whole["content"]) == ["v0", "v1", "v2"]
        assert whole["generated_at"] == "2026-11-23T04:00:00Z"

        # the same request id again, a report generated later (the central's ids restart)
        await rpc(link, action, report_part(action, 7, 0, True, "w0", hour=5), "n0")
        assert (await report(request_id=7)).status_code == 404
        await rpc(link, action, report_part(action, 7, 1, False, "w1", hour=5), "n1")
        assert items(action, (await report(request_id=7)).json()["content"]) == ["w0", "w1"]
        listing = (await client.get("/stations/CP-1001/reports")).json()
        assert [(r["kind"], r["request_id"], r["complete"]) for r in listing] == [
            (KIND[action], 7, True)]
        assert (await client.get("/stations/CP-0666/report")).status_code == 404
    await link.close()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(sorted(STATION_REQUESTS)),
       full=st.lists(st.booleans(), min_size=len(STATION_REQUESTS),
                     max_size=len(STATION_REQUESTS)))
async def test_a_station_sending_every_request_in_any_order_never_gets_a_callerror(
        central, order, full):
    link = await open_link(central, "CP-1002")
    try:
        for n, (action, every_field) in enumerate(zip(order, full, strict=True)):
            await link.send(json.dumps([2, f"m{n}", action, request(action, every_field)]))
            while (reply := json.loads(await asyncio.wait_for(link.recv(), 10)))[0] == 2:
                # the central's own request (GetTransactionStatus, CostUpdated): answered
                await link.send(json.dumps([3, reply[1], response(reply[2])]))
            assert reply[:2] == [MessageType.CallResult, f"m{n}"], (action, reply)
            assert valid_response(action, reply[2]), (action, reply)
    finally:
        await link.close()
