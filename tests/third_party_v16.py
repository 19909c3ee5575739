"""An OCPP 1.6J charge point that is not our code: the `ocpp` package's own v16 ChargePoint
over a real WebSocket, sending what a 1.6 charger's firmware sends (StartTransaction,
MeterValues with the central's transactionId, StopTransaction with transactionData) and
answering what the central asks with the package's own classes and schema checks."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from shared.timeutil import to_wire


class ThirdPartyStation16(ChargePoint):  # type: ignore[misc]
    def __init__(self, station_id: str, connection: Any, rate_unit: str = "Current",
                 shows_cost: bool = False) -> None:
        super().__init__(station_id, connection)
        self.configuration = {"ChargingScheduleAllowedChargingRateUnit": rate_unit,
                              "CustomDisplayCostAndPrice": str(shows_cost).lower()}
        self.profiles: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self.cleared: asyncio.Queue[int | None] = asyncio.Queue()
        self.cost_messages: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.remote_stops: asyncio.Queue[int] = asyncio.Queue()

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None,
                             **_: Any) -> call_result.GetConfiguration:
        asked = key or list(self.configuration)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": True, "value": self.configuration[k]}
                               for k in asked if k in self.configuration],
            unknown_key=[k for k in asked if k not in self.configuration] or None)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        self.profiles.put_nowait((connector_id, cs_charging_profiles))
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        self.cleared.put_nowait(id)
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **_: Any) -> call_result.RemoteStopTransaction:
        self.remote_stops.put_nowait(transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         data: str | None = None, **_: Any) -> call_result.DataTransfer:
        if vendor_id != "org.openchargealliance.costmsg":
            return call_result.DataTransfer(status="UnknownVendorId")
        self.cost_messages.put_nowait((message_id or "", json.loads(data or "{}")))
        return call_result.DataTransfer(status="Accepted")

    async def authorize(self, id_tag: str) -> Any:
        return await self.call(call.Authorize(id_tag=id_tag))

    async def start_transaction(self, id_tag: str, meter_start: int, at: datetime,
                    connector_id: int = 1) -> Any:
        return await self.call(call.StartTransaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=meter_start,
            timestamp=to_wire(at)))

    async def meter(self, transaction_id: int, at: datetime, register: int | str,
                    unit: str = "Wh", connector_id: int = 1,
                    context: str = "Sample.Periodic") -> Any:
        return await self.call(call.MeterValues(
            connector_id=connector_id, transaction_id=transaction_id,
            meter_value=[sampled(at, register, unit, context)]))

    async def stop_transaction(self, transaction_id: int, meter_stop: int, at: datetime,
                   reason: str = "EVDisconnected", id_tag: str | None = None,
                   transaction_data: list[dict[str, Any]] | None = None) -> Any:
        return await self.call(call.StopTransaction(
            transaction_id=transaction_id, meter_stop=meter_stop, timestamp=to_wire(at),
            reason=reason, id_tag=id_tag, transaction_data=transaction_data))

    async def energy_request(self, data: dict[str, Any]) -> Any:
        return await self.call(call.DataTransfer(vendor_id="org.pev-grid",
                                                 message_id="EnergyRequest",
                                                 data=json.dumps(data)))


def sampled(at: datetime, register: int | str, unit: str = "Wh",
            context: str = "Sample.Periodic") -> dict[str, Any]:
    """One meterValue: the outlet's energy register, its value a string as in 1.6."""
    return {"timestamp": to_wire(at), "sampled_value": [{
        "value": str(register), "context": context, "measurand":
        "Energy.Active.Import.Register", "location": "Outlet", "unit": unit}]}


@asynccontextmanager
async def third_party_station_16(central_url: str, station_id: str, password: str,
                                 **options: Any) -> AsyncIterator[ThirdPartyStation16]:
    credentials = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    async with websockets.connect(f"{central_url}/{station_id}", subprotocols=["ocpp1.6"],
                                  additional_headers={"Authorization": f"Basic {credentials}"}
                                  ) as connection:
        assert connection.subprotocol == "ocpp1.6"
        station = ThirdPartyStation16(station_id, connection, **options)
        reader = asyncio.create_task(station.start())
        try:
            await station.call(call.BootNotification(charge_point_vendor="Third Party",
                                                     charge_point_model="TP-16"))
            yield station
        finally:
            reader.cancel()
