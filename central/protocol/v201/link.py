"""One connected OCPP 2.0.1 charging station: its handlers, thin (see
central.protocol.link), and the domain's commands as 2.0.1 messages."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call
from ocpp.v201.enums import Action
from websockets.exceptions import ConnectionClosed

from central.domain.certificates import CsrRefused
from central.domain.commands import ClearProfile, Command, SetProfile, StopTransaction
from central.domain.device_reports import KINDS as REPORT_ACTIONS
from central.domain.planner import EnergyRequest, EvPlan
from central.domain.registry import Identifier
from central.domain.services import AuthorizationResult, TxEvent
from central.protocol.link import VENDOR_ID, Handler, Payload, StationLink, kept, routes_of
from shared.profiles import ChargingProfile
from shared.protocol.v201 import parse_meter_values, profile_payload
from shared.timeutil import parse_timestamp, to_wire
from shared.units import ac_power_w

log = logging.getLogger("central.protocol.v201.link")

HEARTBEAT_INTERVAL_S = 300
RESENDS_PER_TRANSACTION = 3  # the limits sent again after an EV plan that broke them
PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}

# OCPP 2.0.1 requests a CSMS may send to a charging station.
CSMS_ACTIONS = frozenset({
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
    "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
    "CustomerInformation", "DataTransfer", "DeleteCertificate", "GetBaseReport",
    "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
    "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport",
    "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
    "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
    "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage", "SetMonitoringBase",
    "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring", "SetVariables",
    "TriggerMessage", "UnlockConnector", "UnpublishFirmware", "UpdateFirmware"})


class StationLink201(StationLink, ChargePoint):  # type: ignore[misc]  # ocpp is untyped
    ocpp_version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    csms_actions = CSMS_ACTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # StationLink's
        super().__init__(*args, **kwargs)
        self._profiles: dict[int, list[ChargingProfile]] = {}  # planned, waiting to be sent
        self._resends: defaultdict[int, int] = defaultdict(int)  # by EVSE, since planned
        self._signed_chain: str | None = None  # signed, to send once the answer has gone
        self._costs_due: dict[str, Decimal] = {}  # transaction -> cost so far, to show
        self._shows_cost = True  # until the station refuses a CostUpdated
        self._cost_lock = asyncio.Lock()

    async def execute(self, command: Command) -> str:
        match command:
            case SetProfile(evse_id, profile):
                return await self.send_profile(evse_id, profile)
            case ClearProfile(profile_id):
                return await self.answered("ClearChargingProfile", call.ClearChargingProfile(
                    charging_profile_id=profile_id))
            case StopTransaction(transaction_id):
                return await self.answered("RequestStopTransaction",
                                           call.RequestStopTransaction(
                                               transaction_id=transaction_id))

    # --- provisioning -----------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, payload: Payload) -> Payload:
        station = payload["chargingStation"]
        now = await self.services.station_booted(
            self.id, station.get("vendorName", ""), station.get("model", ""),
            station.get("firmwareVersion"), self.ocpp_version)
        return {"currentTime": to_wire(now), "interval": HEARTBEAT_INTERVAL_S,
                "status": "Accepted"}

    @on(Action.heartbeat)
    async def on_heartbeat(self, payload: Payload) -> Payload:
        now = await self.services.station_seen(self.id)
        return {"currentTime": to_wire(now)}

    @on(Action.status_notification)
    async def on_status_notification(self, payload: Payload) -> Payload:
        await self.services.records.connector_status(
            self.id, payload["evseId"], payload["connectorId"], payload["connectorStatus"],
            parse_timestamp(payload["timestamp"]))
        return {}

    # --- authorization and transactions -----------------------------------------------

    @on(Action.authorize)
    async def on_authorize(self, payload: Payload) -> Payload:
        result = await self.services.authorize(self.id, _identifiers(payload["idToken"]))
        return await self.authorize_response(result)

    async def authorize_response(self, result: AuthorizationResult) -> Payload:
        return {"idTokenInfo": _id_token_info(result)}

    @on(Action.transaction_event)
    async def on_transaction_event(self, payload: Payload) -> Payload:
        info = payload["transactionInfo"]
        evse, id_token = payload.get("evse"), payload.get("idToken")
        reply = await self.services.transaction_event(TxEvent(
            station_id=self.id, transaction_id=info["transactionId"],
            seq_no=payload["seqNo"], event_type=payload["eventType"],
            timestamp=parse_timestamp(payload["timestamp"]),
            trigger_reason=payload["triggerReason"], offline=payload.get("offline", False),
            evse_id=evse["id"] if evse else None,
            identifiers=_identifiers(id_token) if id_token else (),
            samples=tuple(parse_meter_values(payload.get("meterValue", ()))),
            stopped_reason=info.get("stoppedReason"),
            charging_state=info.get("chargingState"), ocpp_version=self.ocpp_version))
        response: Payload = {}
        if reply.total_cost is not None:  # the Ended's
            response["totalCost"] = float(reply.total_cost)
        if reply.authorization is not None:  # the event carried an idToken
            response["idTokenInfo"] = _id_token_info(reply.authorization)
        if reply.running_cost is not None and self._shows_cost:
            self.show_running_cost(info["transactionId"], reply.running_cost, response)
        return response

    def show_running_cost(self, transaction_id: str, cost: Decimal, response: Payload) -> None:
        """The cost so far, due to be shown: in 2.0.1, a CostUpdated once the response
        has gone (after_transaction_event)."""
        self._costs_due[transaction_id] = cost

    @after(Action.transaction_event)
    def after_transaction_event(self, payload: Payload) -> Coroutine[Any, Any, None] | None:
        """The cost so far, when one is due, goes to the station (CostUpdated, OCPP I02);
        an Ended with seqNos missing asks whether the station still has them queued.
        (Nearly every event needs neither, and costs no task.)"""
        transaction_id = payload["transactionInfo"]["transactionId"]
        if self._costs_due and transaction_id in self._costs_due:
            return self._show_cost(transaction_id, self._costs_due.pop(transaction_id))
        if payload["eventType"] != "Ended":
            return None
        return self._ask_about_gaps(transaction_id)

    async def _show_cost(self, transaction_id: str, cost: Decimal) -> None:
        async with self._cost_lock:  # one at a time: a refusal stops those queued behind
            if not self._shows_cost:
                return
            try:
                await self.call(call.CostUpdated(total_cost=float(cost),
                                                 transaction_id=transaction_id),
                                suppress=False)
            except OCPPError as error:  # no display, or no CostUpdated: not asked again
                self._shows_cost = False
                log.info("station shows no running cost", extra={
                    "station": self.id, "error": type(error).__name__})
            except (TimeoutError, ConnectionClosed) as error:
                log.warning("CostUpdated not answered", extra={"station": self.id,
                                                               "error": str(error)})

    async def _ask_about_gaps(self, transaction_id: str) -> None:
        if not await self.services.incomplete(self.id, transaction_id):
            return
        try:
            answer = await self.call(call.GetTransactionStatus(transaction_id=transaction_id),
                                     suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed) as error:
            log.warning("GetTransactionStatus not answered", extra={
                "station": self.id, "transaction": transaction_id, "error": str(error)})
            return
        log.info("incomplete transaction", extra={
            "station": self.id, "transaction": transaction_id,
            "messages_in_queue": answer.messages_in_queue})

    # --- smart charging ---------------------------------------------------------------

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(
        self, payload: Payload) -> Payload:
        evse_id = payload["evseId"]
        negotiation = await self.services.charging_needs(
            self.id, evse_id, _energy_request(payload["chargingNeeds"]))
        if negotiation is None:
            return {"status": "Rejected", "statusInfo": {
                "reasonCode": "NoTransaction", "additionalInfo": "no bound PEV at this EVSE"}}
        self._profiles[evse_id] = negotiation.profiles
        self._resends[evse_id] = 0
        plan = negotiation.plan
        # The PEV is told how much it will get and why, in the message's own extension
        # point (customData), as 2.0.1 has no field for the energy available.
        response: Payload = {"status": "Accepted", "customData": {
            "vendorId": VENDOR_ID, "energyAvailableWh": plan.available_wh,
            "note": plan.note[:255]}}
        if plan.available_wh < plan.requested_wh:
            response["statusInfo"] = {
                "reasonCode": "EnergyLimited",
                "additionalInfo": f"available {plan.available_wh} Wh"[:512]}
        return response

    @after(Action.notify_ev_charging_needs)
    async def send_planned_profiles(self, payload: Payload) -> None:
        evse_id = payload["evseId"]
        for profile in self._profiles.pop(evse_id, []):
            await self.send_profile(evse_id, profile)

    async def send_profile(self, evse_id: int, profile: ChargingProfile) -> str:
        """SetChargingProfile; returns the station's status (or why there is none)."""
        return await self.answered("SetChargingProfile", call.SetChargingProfile(
            evse_id=evse_id, charging_profile=profile_payload(profile)))

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, payload: Payload) -> Payload:
        """The EV's own plan: Rejected if it breaks the limits it was given (K15.FR.12),
        which are then sent again (a station that keeps sending such plans gets them
        again at most RESENDS_PER_TRANSACTION times)."""
        evse_id, schedule = payload["evseId"], payload["chargingSchedule"]
        check = await self.services.check_ev_plan(self.id, evse_id, EvPlan(
            parse_timestamp(payload["timeBase"]), schedule["chargingRateUnit"],
            tuple((p["startPeriod"], p["limit"], p.get("numberPhases"))
                  for p in schedule["chargingSchedulePeriod"])))
        if check.within:
            return {"status": "Accepted"}
        if check.resend and self._resends[evse_id] < RESENDS_PER_TRANSACTION:
            self._resends[evse_id] += 1
            self._profiles[evse_id] = check.resend
        return {"status": "Rejected", "statusInfo": {"reasonCode": check.reason_code,
                                                     "additionalInfo": check.reason[:512]}}

    @after(Action.notify_ev_charging_schedule)
    async def send_profiles_again(self, payload: Payload) -> None:
        await self.send_planned_profiles(payload)

    # --- certificates and vendor messages ---------------------------------------------

    @on(Action.get_15118_ev_certificate)
    async def on_get_15118_ev_certificate(self, payload: Payload) -> Payload:
        """ISO 15118 contract certificates come from a mobility operator's certificate
        pool, which this central is not connected to (Plug & Charge: not offered)."""
        return {"status": "Failed", "exiResponse": "", "statusInfo": {
            "reasonCode": "NotSupported",
            "additionalInfo": "this central has no ISO 15118 contract certificate pool"}}

    @on(Action.get_certificate_status)
    async def on_get_certificate_status(self, payload: Payload) -> Payload:
        return {"status": "Failed", "statusInfo": {
            "reasonCode": "NotSupported",
            "additionalInfo": "this central has no OCSP responder to ask"}}

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, payload: Payload) -> Payload:
        try:
            self._signed_chain = self.services.sign_certificate(
                self.id, payload["csr"], payload.get("certificateType"))
        except CsrRefused as refused:
            log.warning("certificate signing refused", extra={"station": self.id,
                                                              "reason": str(refused)})
            return {"status": "Rejected", "statusInfo": {
                "reasonCode": "InvalidCSR", "additionalInfo": str(refused)[:512]}}
        return {"status": "Accepted"}

    @after(Action.sign_certificate)
    def send_signed_certificate(self, payload: Payload) -> Coroutine[Any, Any, None] | None:
        chain, self._signed_chain = self._signed_chain, None
        return self._send_certificate(chain) if chain is not None else None

    async def _send_certificate(self, chain: str) -> None:
        try:
            answer = await self.call(call.CertificateSigned(
                certificate_chain=chain, certificate_type="ChargingStationCertificate"),
                suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed) as error:
            log.warning("CertificateSigned not answered", extra={"station": self.id,
                                                                 "error": str(error)})
            return
        log.info("CertificateSigned answered", extra={"station": self.id,
                                                      "status": answer.status})

    @on(Action.data_transfer)
    async def on_data_transfer(self, payload: Payload) -> Payload:
        """Kept; the central defines no vendor messages of its own in 2.0.1 (OCPP P01:
        an unknown vendor is UnknownVendorId, never a CALLERROR)."""
        await self.services.records.keep(self.id, "DataTransfer", payload)
        if payload["vendorId"] != VENDOR_ID:
            return {"status": "UnknownVendorId"}
        return {"status": "UnknownMessageId"}


# Messages whose content the central keeps as sent, answered with an empty response.
KEPT = ("NotifyEvent", "SecurityEventNotification", "FirmwareStatusNotification",
        "PublishFirmwareStatusNotification", "LogStatusNotification", "NotifyChargingLimit",
        "ClearedChargingLimit", "ReportChargingProfiles", "ReservationStatusUpdate",
        "NotifyDisplayMessages", "MeterValues")


def _reported(action: str) -> Handler:
    async def report_part(link: StationLink201, payload: Payload) -> Payload:
        await link.services.records.report_part(link.id, action, payload)
        return {}
    return report_part


def extra_routes() -> dict[str, Handler]:
    """The messages handled without a method of their own: kept, or parts of a report."""
    return {**{action: kept(action) for action in KEPT},
            **{action: _reported(action) for action in REPORT_ACTIONS}}


StationLink201.routes = routes_of(StationLink201, extra_routes())


def _identifiers(id_token: Payload) -> tuple[Identifier, ...]:
    """The idToken, then its additionalInfo (e.g. the VIN), as registry identifiers."""
    first = Identifier(id_token["idToken"], id_token["type"])
    extra = [Identifier(i["additionalIdToken"], i["type"])
             for i in id_token.get("additionalInfo") or []]
    return (first, *extra)


def _id_token_info(result: AuthorizationResult) -> Payload:
    info: Payload = {
        "status": result.status,
        "personalMessage": {"format": "UTF8", "content": result.message[:512]},
    }
    if result.group_id:
        info["groupIdToken"] = {"idToken": result.group_id, "type": "Central"}
    return info


def _energy_request(needs: Payload) -> EnergyRequest:
    """The EV's needs: AC or DC parameters (2.0.1 and 2.1), or 2.1's V2X ones."""
    departure = needs.get("departureTime")
    leaves = parse_timestamp(departure) if departure else None
    ac = needs.get("acChargingParameters")
    dc = needs.get("dcChargingParameters")
    v2x = needs.get("v2xChargingParameters")
    if ac:
        phases = PHASES.get(needs.get("requestedEnergyTransfer", ""), 1)
        return EnergyRequest(int(ac["energyAmount"]), leaves,
                             ac_power_w(ac["evMaxCurrent"], ac["evMaxVoltage"], phases),
                             ac["evMaxVoltage"], phases)
    if dc:
        max_power = dc.get("evMaxPower")
        return EnergyRequest(int(dc.get("energyAmount") or 0), leaves,
                             int(max_power) if max_power is not None else None,
                             int(dc["evMaxVoltage"]))
    v2x = v2x or {}
    energy = v2x.get("evTargetEnergyRequest", v2x.get("evMaxEnergyRequest", 0))
    max_power = v2x.get("maxChargePower")
    return EnergyRequest(int(energy), leaves, int(max_power) if max_power else None,
                         int(v2x["maxVoltage"]) if v2x.get("maxVoltage") else None)
