"""A central system that is not our code: the `ocpp` package's own v16 / v201 / v21
ChargePoint classes on the CSMS side of a real WebSocket server. It accepts what a
station sends, records it, and gives each transaction a TxProfile of PROFILE_W from its
start: what a third-party CSMS does, with the package's own schema checks both ways."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import ocpp.v16
import ocpp.v21
import ocpp.v201
import websockets
from ocpp.routing import after, on

from shared.timeutil import to_wire

PROFILE_W = 3600


class Recorder:
    """Mixed in before the package's ChargePoint: what the station sent, in order."""

    def __init__(self, station_id: str, connection: Any, now: datetime) -> None:
        super().__init__(station_id, connection)  # type: ignore[call-arg]
        self.now, self.received = now, []

    def keep(self, action: str, **payload: Any) -> None:
        self.received.append((action, payload))


class Csms16(Recorder, ocpp.v16.ChargePoint):  # type: ignore[misc]
    TRANSACTION_ID = 4242

    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self.keep("BootNotification", **payload)
        return ocpp.v16.call_result.BootNotification(current_time=to_wire(self.now),
                                                     interval=300, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self) -> Any:
        return ocpp.v16.call_result.Heartbeat(current_time=to_wire(self.now))

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self.keep("StatusNotification", **payload)
        return ocpp.v16.call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str) -> Any:
        self.keep("Authorize", id_tag=id_tag)
        return ocpp.v16.call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(self, **payload: Any) -> Any:
        self.keep("StartTransaction", **payload)
        return ocpp.v16.call_result.StartTransaction(
            transaction_id=self.TRANSACTION_ID, id_tag_info={"status": "Accepted"})

    @after("StartTransaction")
    async def give_profile(self, timestamp: str, **_: Any) -> None:
        answer = await self.call(ocpp.v16.call.SetChargingProfile(
            connector_id=1, cs_charging_profiles={
                "charging_profile_id": 1, "transaction_id": self.TRANSACTION_ID,
                "stack_level": 0, "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Absolute", "charging_schedule": {
                    "start_schedule": timestamp, "charging_rate_unit": "W",
                    "charging_schedule_period": [{"start_period": 0,
                                                  "limit": PROFILE_W}]}}))
        self.keep("SetChargingProfile answered", status=answer.status)

    @on("MeterValues")
    def on_meter_values(self, **payload: Any) -> Any:
        self.keep("MeterValues", **payload)
        return ocpp.v16.call_result.MeterValues()

    @on("StopTransaction")
    def on_stop(self, **payload: Any) -> Any:
        self.keep("StopTransaction", **payload)
        return ocpp.v16.call_result.StopTransaction()

    @on("DataTransfer")
    def on_data_transfer(self, **payload: Any) -> Any:
        self.keep("DataTransfer", **payload)
        return ocpp.v16.call_result.DataTransfer(status="Accepted", data=json.dumps(
            {"energyAvailableWh": json.loads(payload.get("data") or "{}").get("energyWh")}))


class Csms201(Recorder, ocpp.v201.ChargePoint):  # type: ignore[misc]
    results = ocpp.v201.call_result
    calls = ocpp.v201.call

    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self.keep("BootNotification", **payload)
        return self.results.BootNotification(current_time=to_wire(self.now), interval=300,
                                             status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self) -> Any:
        return self.results.Heartbeat(current_time=to_wire(self.now))

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self.keep("StatusNotification", **payload)
        return self.results.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **payload: Any) -> Any:
        self.keep("Authorize", **payload)
        return self.results.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction_event(self, **payload: Any) -> Any:
        self.keep("TransactionEvent", **payload)
        return self.results.TransactionEvent()

    @on("NotifyEVChargingNeeds")
    def on_needs(self, **payload: Any) -> Any:
        self.keep("NotifyEVChargingNeeds", **payload)
        return self.results.NotifyEVChargingNeeds(status="Accepted")

    @after("NotifyEVChargingNeeds")
    async def give_profile(self, evse_id: int, **_: Any) -> None:
        [started] = [p for action, p in self.received if action == "TransactionEvent"
                     and p["event_type"] == "Started"]
        answer = await self.call(self.calls.SetChargingProfile(evse_id=evse_id, charging_profile={
            "id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Absolute",
            "transaction_id": started["transaction_info"]["transaction_id"],
            "charging_schedule": [{"id": 1, "start_schedule": started["timestamp"],
                                   "charging_rate_unit": "W", "charging_schedule_period": [
                                       {"start_period": 0, "limit": PROFILE_W}]}]}))
        self.keep("SetChargingProfile answered", status=answer.status)

    @on("NotifyEVChargingSchedule")
    def on_ev_schedule(self, **payload: Any) -> Any:
        self.keep("NotifyEVChargingSchedule", **payload)
        return self.results.NotifyEVChargingSchedule(status="Accepted")


class Csms21(Csms201):
    _call, _call_result, _ocpp_version = ocpp.v21.call, ocpp.v21.call_result, "2.1"
    results, calls = ocpp.v21.call_result, ocpp.v21.call


CSMS = {"1.6": Csms16, "2.0.1": Csms201, "2.1": Csms21}


@asynccontextmanager
async def third_party_csms(version: str, now: datetime) -> AsyncIterator[tuple[str, list[Any]]]:
    """A CSMS on a free port: (its URL, the stations it served, as they connect)."""
    served: list[Any] = []

    async def serve(connection: Any) -> None:
        csms = CSMS[version](connection.request.path.rsplit("/", 1)[-1], connection, now)
        served.append(csms)
        await csms.start()

    async with websockets.serve(serve, "127.0.0.1", 0,
                                subprotocols=[websockets.Subprotocol(f"ocpp{version}")]
                                ) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp", served
        await asyncio.sleep(0)
