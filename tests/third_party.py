"""A charging station that is not our code: the `ocpp` package's own v201 (or v21)
ChargePoint over a real WebSocket, sending what a third-party charger's firmware sends, in
its order (the transaction Started at plug-in without an idToken, Authorize, then Updated
with it), and answering what the central asks with the package's own classes and schema checks."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import ocpp.v21
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from shared.timeutil import to_wire


class ThirdPartyStation(ChargePoint):  # type: ignore[misc]
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.profiles: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # as received
        self.costs: asyncio.Queue[tuple[str, float]] = asyncio.Queue()  # CostUpdated:
        # (transaction, total cost), as received
        self._seq_nos: dict[str, itertools.count[int]] = {}

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        self.profiles.put_nowait(charging_profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **_: Any) -> call_result.ClearChargingProfile:
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost: float, transaction_id: str,
                        **_: Any) -> call_result.CostUpdated:
        self.costs.put_nowait((transaction_id, total_cost))
        return call_result.CostUpdated()

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, **_: Any) -> call_result.GetTransactionStatus:
        return call_result.GetTransactionStatus(messages_in_queue=False)

    async def authorize(self, id_token: str) -> Any:
        return await self.call(self._call.Authorize(id_token={"id_token": id_token,
                                                        "type": "Central"}))

    async def event(self, event_type: str, transaction_id: str, at: datetime,
                    register_wh: int | None = None, trigger: str = "MeterValuePeriodic",
                    id_token: str | None = None, **info: Any) -> Any:
        """One TransactionEvent, seqNo counted per transaction from 0; the EUMD register
        (Wh, location Outlet) as its meter value."""
        seq_no = next(self._seq_nos.setdefault(transaction_id, itertools.count()))
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(
            event_type, "Sample.Periodic")
        request = self._call.TransactionEvent(
            event_type=event_type, timestamp=to_wire(at), trigger_reason=trigger,
            seq_no=seq_no, transaction_info={"transaction_id": transaction_id, **info},
            evse={"id": 1, "connector_id": 1} if event_type == "Started" else None,
            id_token={"id_token": id_token, "type": "Central"} if id_token else None,
            meter_value=[{"timestamp": to_wire(at), "sampled_value": [{
                "value": register_wh, "context": context, "location": "Outlet",
                "measurand": "Energy.Active.Import.Register",
                "unit_of_measure": {"unit": "Wh"}}]}] if register_wh is not None else None)
        return await self.call(request)


class ThirdPartyStation21(ThirdPartyStation):
    """The same station on OCPP 2.1: the package's v21 messages and schemas."""

    _call, _call_result, _ocpp_version = ocpp.v21.call, ocpp.v21.call_result, "2.1"


STATIONS = {"2.0.1": ThirdPartyStation, "2.1": ThirdPartyStation21}


@asynccontextmanager
async def third_party_station(central_url: str, station_id: str, password: str,
                              version: str = "2.0.1") -> AsyncIterator[ThirdPartyStation]:
    credentials = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    async with websockets.connect(f"{central_url}/{station_id}",
                                  subprotocols=[websockets.Subprotocol(f"ocpp{version}")],
                                  additional_headers={"Authorization": f"Basic {credentials}"}
                                  ) as connection:
        assert connection.subprotocol == f"ocpp{version}"
        station = STATIONS[version](station_id, connection)
        reader = asyncio.create_task(station.start())
        try:
            await station.call(station._call.BootNotification(
                charging_station={"vendor_name": "Third Party", "model": "TP-1"},
                reason="PowerUp"))
            yield station
        finally:
            reader.cancel()
