"""Bad input, one test each: the server answers or closes cleanly, stays up, and other
stations are unaffected; odd data is kept and flagged, never interpreted or billed."""

import asyncio
import base64
import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from tests.integration.conftest import open_link, rpc


async def still_serving(central, station="CP-1002"):
    """Another station connects and is answered: the server is up and unaffected."""
    link = await open_link(central, station)
    reply = await rpc(link, "Heartbeat", {}, "alive")
    await link.close()
    return reply[0] == 3


async def test_a_binary_frame_gets_a_callerror_and_the_link_stays_usable(central):
    link = await open_link(central)
    await link.send(b"\x00\x01binary")
    error = json.loads(await asyncio.wait_for(link.recv(), 5))
    assert error[:3] == [4, "-1", "RpcFrameworkError"]
    assert (await rpc(link, "Heartbeat", {}))[0] == 3
    await link.close()


async def test_a_callresult_for_an_unknown_id_is_ignored(central):
    link = await open_link(central)
    await link.send(json.dumps([3, "never-asked", {"status": "Accepted"}]))
    assert (await rpc(link, "Heartbeat", {}, "next"))[:2] == [3, "next"]
    await link.close()


@pytest.mark.parametrize(("action", "code"), [
    ("FlyToTheMoon", "NotSupported"),  # not an OCPP 2.0.1 action at all
    ("Reset", "NotImplemented"),  # a request a CSMS sends, not one it takes
])
async def test_an_unknown_action_is_refused_with_the_right_code(central, action, code):
    link = await open_link(central)
    reply = await rpc(link, action, {"type": "Immediate"})
    assert reply[:3] == [4, "m1", code]
    assert (await rpc(link, "Heartbeat", {}, "m2"))[0] == 3
    await link.close()


async def test_an_oversize_frame_closes_that_connection_with_1009_only(central):
    link = await open_link(central)
    await link.send(json.dumps([2, "big", "DataTransfer",
                                {"vendorId": "x", "data": "y" * 100_000}]))
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(link.recv(), 5)
    assert link.close_code == 1009
    assert await still_serving(central)


@pytest.mark.parametrize("path_id", [
    "..%2F..%2Fetc%2Fpasswd", "CP-1001'%3B%20DROP%20TABLE%20stations%3B--",
    "%00", "CP-1001%20OR%201%3D1", "a" * 60,
])
async def test_odd_station_ids_are_refused_never_interpreted(central, path_id):
    credentials = base64.b64encode(b"CP-1001:alder-lane-evse-2026").decode()
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"{central.url}/{path_id}", subprotocols=["ocpp2.0.1"],
                                 additional_headers={"Authorization": f"Basic {credentials}"})
    assert refused.value.response.status_code in (401, 404)
    assert {s.id for s in (await central.store.registry()).stations} == {
        "CP-1001", "CP-1002", "CP-1003"}  # the table is still there, untouched
    assert await still_serving(central)


async def test_a_percent_encoded_station_id_is_decoded_once(central):
    credentials = base64.b64encode(b"CP-1001:alder-lane-evse-2026").decode()
    link = await websockets.connect(f"{central.url}/CP%2D1001", subprotocols=["ocpp2.0.1"],
                                    additional_headers={"Authorization": f"Basic {credentials}"})
    assert (await rpc(link, "Heartbeat", {}))[0] == 3
    assert central.router.connected() == ["CP-1001"]
    await link.close()


def event(seq, kind, timestamp, register, **extra):
    return {"eventType": kind, "timestamp": timestamp, "triggerReason": "MeterValuePeriodic",
            "seqNo": seq, "transactionInfo": {"transactionId": "tx-odd"},
            "meterValue": [{"timestamp": timestamp, "sampledValue": [
                {"value": register, "location": "Outlet",
                 "measurand": "Energy.Active.Import.Register"}]}], **extra}


async def test_a_timestamp_that_is_no_date_is_a_format_violation(central):
    link = await open_link(central)
    reply = await rpc(link, "TransactionEvent", event(0, "Started", "yesterday", 10))
    assert reply[:3] == [4, "m1", "FormatViolation"] and "'yesterday'" in reply[3]
    assert await central.store.sessions() == []
    await link.close()


async def test_odd_timestamps_and_registers_are_kept_flagged_and_never_billed_negative(
        central):
    link = await open_link(central)
    frames = [
        event(0, "Started", "2026-11-23T04:30:00", 10_000,  # no zone: taken as UTC
              idToken={"idToken": "PEV-0001", "type": "Central"}),
        event(1, "Updated", "2026-11-23T04:31:00Z", 10_100),
        event(2, "Updated", "2026-11-23T04:32:00Z", 9_000),  # the register goes back
        event(3, "Updated", "2099-01-01T00:00:00Z", -5),  # far future, negative
        event(4, "Ended", "2026-11-23T04:33:00Z", 9_100),
    ]
    for n, frame in enumerate(frames):
        assert (await rpc(link, "TransactionEvent", frame, f"t{n}"))[0] == 3
    await link.close()
    [session] = await central.store.sessions()
    assert len(await central.store.readings(session.id)) == 5  # everything kept
    assert session.started_at.isoformat() == "2026-11-23T04:30:00+00:00"
    assert session.energy_wh >= 0 and session.cost_total >= 0
    assert any("went back" in p for p in session.problems)
    assert any("in the future" in p for p in session.problems)


def started(**changes):
    frame = event(0, "Started", "2026-11-23T04:30:00Z", 10_000,
                  idToken={"idToken": "PEV-0001", "type": "Central"})
    return {**frame, **changes}


def with_unit(multiplier):
    frame = started()
    frame["meterValue"][0]["sampledValue"][0]["unitOfMeasure"] = {"unit": "Wh",
                                                                  "multiplier": multiplier}
    return frame


@pytest.mark.parametrize(("frame", "code", "says"), [
    (started(seqNo=2**70), "TypeConstraintViolation", "beyond 64 bits"),
    (started(transactionInfo={"transactionId": "tx-\ud800"}), "FormatViolation",
     "lone surrogate"),
    (event(0, "Started", "2026-11-23T04:30:00Z", float("nan")), "FormatViolation", "NaN"),
    (event(0, "Started", "2026-11-23T04:30:00Z", 1e400), "FormatViolation", "NaN, Infinity"),
    (event(0, "Started", "2026-11-23T04:30:00Z", 1e30), "PropertyConstraintViolation",
     "beyond any meter's register"),
    # 10 to the power of a billion would have held up the central for minutes
    (with_unit(10**9), "PropertyConstraintViolation", "multiplier 1000000000 is out of range"),
])
async def test_a_value_no_field_can_mean_is_refused_with_its_code_and_nothing_kept(
        central, frame, code, says):
    link = await open_link(central)
    reply = await rpc(link, "TransactionEvent", frame)
    assert reply[:3] == [4, "m1", code] and says in reply[3]
    assert await central.store.sessions() == []
    reply = await rpc(link, "TransactionEvent", started(), "m2")  # the same event, sound
    assert reply[:2] == [3, "m2"]
    assert len(await central.store.sessions()) == 1
    await link.close()


async def test_a_frame_nested_deeper_than_json_reads_is_a_format_violation(central):
    link = await open_link(central)
    await link.send('[2, "m1", "DataTransfer", {"vendorId": "x", "data": '
                    + "[" * 5000 + "]" * 5000 + "}]")
    error = json.loads(await asyncio.wait_for(link.recv(), 5))
    assert error[:4] == [4, "-1", "FormatViolation", "message is nested too deeply"]
    assert (await rpc(link, "Heartbeat", {}, "m2"))[:2] == [3, "m2"]
    await link.close()
