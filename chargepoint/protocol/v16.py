"""The station's side of OCPP 1.6J: the session's 2.0.1-shaped transaction events and
requests as 1.6 messages, and the central's 1.6 requests to the session.

A transaction's events become StartTransaction (at plug-in, with the PEV's id as idTag:
the central assigns the transactionId), MeterValues with that id, and StopTransaction;
the Updated that only carries the idToken has no 1.6 message. The energy request goes
as our DataTransfer (docs/ocpp16-energy-request.md); the cost shown to the driver comes
as the OCA California Pricing DataTransfers. The central's transactionId for each of the
session's transactions is kept in the outbox's journal, so a restarted agent sends the
rest of a transaction under the id the central gave it.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from chargepoint.protocol.base import Boot, ClientLink
from shared.fast_calls import FastCalls
from shared.protocol.v16 import NOMINAL_VOLTAGE_V
from shared.timeutil import parse_timestamp

log = logging.getLogger("chargepoint.protocol.v16")

ENERGY_VENDOR = "org.pev-grid"
COST_VENDOR = "org.openchargealliance.costmsg"
CONFIGURATION = {"ChargingScheduleAllowedChargingRateUnit": "Current,Power",
                 "CustomDisplayCostAndPrice": "true"}
STATUS = {"Occupied": "Charging", "Available": "Available", "Faulted": "Faulted"}
STOP_REASON = {"EVDisconnected": "EVDisconnected", "Remote": "Remote",
               "DeAuthorized": "DeAuthorized", "PowerLoss": "PowerLoss"}


class StationClient16(ClientLink, FastCalls, ChargePoint):  # type: ignore[misc]  # ocpp is untyped
    subprotocol = "ocpp1.6"

    # --- the session's messages, as 1.6's ---------------------------------------------

    async def boot(self, vendor: str, model: str) -> Boot:
        response = await self.call(call.BootNotification(charge_point_vendor=vendor,
                                                         charge_point_model=model),
                                   suppress=False)
        return Boot(parse_timestamp(response.current_time), response.interval,
                    response.status)

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat(), suppress=False)

    async def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "Authorize":
            answer = await self.call(call.Authorize(id_tag=payload["id_token"]["id_token"]),
                                     suppress=False)
            return {"id_token_info": _id_token_info(answer.id_tag_info)}
        if action == "StatusNotification":
            status = payload["connector_status"]
            await self.call(call.StatusNotification(
                connector_id=payload["evse_id"], status=STATUS.get(status, status),
                error_code="OtherError" if status == "Faulted" else "NoError",
                timestamp=payload["timestamp"]), suppress=False)
            return {}
        if action == "NotifyEVChargingNeeds":
            return await self._energy_request(payload)
        raise ValueError(f"no OCPP 1.6 message for {action}")

    async def _energy_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        needs = payload["charging_needs"]
        ac = needs["ac_charging_parameters"]
        answer = await self.call(call.DataTransfer(
            vendor_id=ENERGY_VENDOR, message_id="EnergyRequest", data=json.dumps({
                "connectorId": payload["evse_id"], "energyWh": ac["energy_amount"],
                "departure": needs.get("departure_time"), "maxCurrentA": ac["ev_max_current"],
                "voltageV": ac["ev_max_voltage"]})), suppress=False)
        offer = json.loads(answer.data) if answer.data else {}
        return {"status": answer.status, "custom_data": {
            "energy_available_wh": offer.get("energyAvailableWh"),
            "note": offer.get("note") or offer.get("reason")}}

    async def transaction_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        ours = payload["transaction_info"]["transaction_id"]
        key = f"ocpp1.6/{ours}"
        known = self.agent.outbox.journal(key) or {}
        register = _register(payload)
        kind = payload["event_type"]
        if kind == "Started":
            session = self.agent.session
            assert session is not None and register is not None
            answer = await self.call(call.StartTransaction(
                connector_id=payload["evse"]["id"], id_tag=session.pev.pev_id,
                meter_start=register, timestamp=payload["timestamp"]), suppress=False)
            self.agent.save_journal(key, {"transaction_id": answer.transaction_id,
                                          "register": register})
            return {"id_token_info": _id_token_info(answer.id_tag_info)}
        if "transaction_id" not in known:  # never started at the central: nothing to say
            return {}
        transaction_id = known["transaction_id"]
        if kind == "Updated":
            if register is None:  # the idToken only: 1.6 said it in StartTransaction
                return {}
            await self.call(call.MeterValues(
                connector_id=1, transaction_id=transaction_id,
                meter_value=[_meter_value(v) for v in payload["meter_value"]]), suppress=False)
            self.agent.save_journal(key, {**known, "register": register})
            return {}
        reason = payload["transaction_info"].get("stopped_reason", "Local")
        await self.call(call.StopTransaction(
            transaction_id=transaction_id, timestamp=payload["timestamp"],
            meter_stop=register if register is not None else known["register"],
            reason=STOP_REASON.get(reason, "Other")), suppress=False)
        self.agent.forget_journal(key)
        return {}

    def _ours(self, transaction_id: int) -> str | None:
        """The session's own id for the central's transactionId, if it is the live one."""
        session = self.agent.session
        if session is None:
            return None
        known = self.agent.outbox.journal(f"ocpp1.6/{session.transaction_id}") or {}
        return session.transaction_id if known.get("transaction_id") == transaction_id \
            else None

    # --- what the central asks ----------------------------------------------------------

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None,
                             **_: Any) -> call_result.GetConfiguration:
        asked = key or list(CONFIGURATION)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": True, "value": CONFIGURATION[k]}
                               for k in asked if k in CONFIGURATION],
            unknown_key=[k for k in asked if k not in CONFIGURATION] or None)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        session = self.agent.session
        ours = self._ours(cs_charging_profiles.get("transaction_id", -1))
        accepted = session is not None and ours is not None and \
            session.evse_id == connector_id and session.apply_profile(
                _as_201_profile(cs_charging_profiles, ours))
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None,  # 1.6's name
                                  **_: Any) -> call_result.ClearChargingProfile:
        session = self.agent.session
        cleared = session is not None and id is not None and session.clear_profile(id)
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int,
                                   **_: Any) -> call_result.RemoteStopTransaction:
        session = self.agent.session
        stopping = session is not None and self._ours(transaction_id) is not None and \
            session.request_stop()
        return call_result.RemoteStopTransaction(status="Accepted" if stopping else "Rejected")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         data: str | None = None, **_: Any) -> call_result.DataTransfer:
        if vendor_id != COST_VENDOR:
            return call_result.DataTransfer(status="UnknownVendorId")
        fields = json.loads(data or "{}")
        session = self.agent.session
        if message_id == "RunningCost" and session is not None and \
                self._ours(fields.get("transactionId", -1)) is not None:
            session.show_cost(Decimal(str(fields["cost"])))
        elif message_id == "SetUserPrice" and session is not None and \
                fields.get("idToken") == session.pev.pev_id:
            session.show_rate(str(fields.get("priceText", "")))
        log.info("cost message", extra={"message": message_id,
                                        "cost": fields.get("cost"),
                                        "text": fields.get("priceText")})
        return call_result.DataTransfer(status="Accepted")


def _id_token_info(info: dict[str, Any]) -> dict[str, Any]:
    return {"status": info["status"], "personal_message": {"format": "UTF8", "content": ""}}


def _register(payload: dict[str, Any]) -> int | None:
    for meter_value in payload.get("meter_value") or ():
        for sampled in meter_value["sampled_value"]:
            if sampled.get("measurand") == "Energy.Active.Import.Register" and \
                    sampled.get("location", "Outlet") == "Outlet":
                return int(sampled["value"])
    return None


def _meter_value(meter_value: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 meterValue (snake_case) as 1.6's: each value a string, its unit beside it."""
    return {"timestamp": meter_value["timestamp"], "sampled_value": [
        {"value": str(s["value"]), "context": s["context"], "measurand": s["measurand"],
         "location": s["location"], "unit": s["unit_of_measure"]["unit"]}
        for s in meter_value["sampled_value"]]}


def _as_201_profile(profile: dict[str, Any], transaction_id: str) -> dict[str, Any]:
    """A 1.6 TxProfile as the session takes profiles (2.0.1's shape, limits in W)."""
    schedule = profile["charging_schedule"]
    to_w = NOMINAL_VOLTAGE_V if schedule["charging_rate_unit"] == "A" else 1
    converted: dict[str, Any] = {
        "id": profile["charging_profile_id"], "stack_level": profile["stack_level"],
        "charging_profile_purpose": profile["charging_profile_purpose"],
        "charging_profile_kind": profile["charging_profile_kind"],
        "transaction_id": transaction_id,
        "charging_schedule": [{
            "id": profile["charging_profile_id"],
            "start_schedule": schedule.get("start_schedule"), "charging_rate_unit": "W",
            "charging_schedule_period": [
                {"start_period": p["start_period"], "limit": int(float(p["limit"]) * to_w)}
                for p in schedule["charging_schedule_period"]]}]}
    for key in ("valid_from", "valid_to"):
        if profile.get(key):
            converted[key] = profile[key]
    return converted
