"""One connected OCPP 2.1 charging station: 2.0.1's handlers (2.1 keeps their messages,
with more fields), validated against 2.1's schemas, and what 2.1 adds that the program
uses: the rate in the AuthorizeResponse (a 2.1 tariff, its prices by local time of day
for the next day) and the cost so far in the TransactionEventResponse of an Updated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ocpp.v21 import call, call_result

from central.domain.services import AuthorizationResult, RateAhead
from central.protocol.link import Payload, kept, routes_of
from central.protocol.v201.link import (
    CSMS_ACTIONS as CSMS_ACTIONS_201,
)
from central.protocol.v201.link import (
    StationLink201,
    extra_routes,
)

# What 2.1 adds to the requests a CSMS may send.
CSMS_ACTIONS = CSMS_ACTIONS_201 | {
    "AdjustPeriodicEventStream", "AFRRSignal", "ChangeTransactionTariff", "ClearDERControl",
    "ClearTariffs", "GetDERControl", "GetPeriodicEventStream", "GetTariffs",
    "NotifyAllowedEnergyTransfer", "NotifyWebPaymentStarted", "RequestBatterySwap",
    "SetDERControl", "SetDefaultTariff", "UpdateDynamicSchedule", "UsePriorityCharging"}
# What 2.1 stations report that the central keeps as sent.
KEPT = ("NotifyDERAlarm", "NotifyDERStartStop", "NotifyPriorityCharging",
        "NotifyQRCodeScanned", "NotifySettlement", "ReportDERControl", "BatterySwap")


class StationLink21(StationLink201):
    ocpp_version = "2.1"
    subprotocol = "ocpp2.1"
    csms_actions = CSMS_ACTIONS
    _call, _call_result, _ocpp_version = call, call_result, "2.1"  # the package's v21

    async def authorize_response(self, result: AuthorizationResult) -> Payload:
        response = await super().authorize_response(result)
        if result.tariff_id is not None:
            response["tariff"] = _tariff(await self.services.rate_ahead(result.tariff_id),
                                         result.message)
        return response

    def show_running_cost(self, transaction_id: str, cost: Decimal, response: Payload) -> None:
        """2.1 carries the cost so far in the Updated's response itself."""
        response["totalCost"] = float(cost)


StationLink21.routes = routes_of(StationLink21, {
    **extra_routes(), **{action: kept(action) for action in KEPT}})


def _tariff(rate: RateAhead, message: str) -> dict[str, Any]:
    """The program's rate as a 2.1 tariff: the energy price by local time of day."""
    return {
        "tariffId": rate.tariff_id[:60], "currency": rate.currency,
        "description": [{"format": "UTF8", "content": message[:512]}],
        "energy": {"prices": [
            {"priceKwh": float(price), "conditions": {
                "startTimeOfDay": begin.strftime("%H:%M"),
                "endTimeOfDay": end.strftime("%H:%M")}}
            for begin, end, price in rate.prices]}}
