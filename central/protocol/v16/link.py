"""One connected OCPP 1.6J charge point: its handlers, thin (see central.protocol.link),
and the domain's commands as 1.6 messages.

1.6 carries a transaction in three messages where 2.0.1 has one: StartTransaction (the
central assigns the transactionId), MeterValues with that id, StopTransaction (meterStop
and transactionData). Each becomes the domain's TxEvent (Started, Updated, Ended), so a
session is metered and billed exactly as one carried by 2.0.1. 1.6 numbers nothing: a
retried StartTransaction is known by what it says (the same connector, idTag, meterStart
and timestamp get the same id), a MeterValues by its first reading's time, and a
session's completeness is judged from its register readings.

What 1.6 lacks, carried in DataTransfer: a PEV's energy request (ours, vendorId
ENERGY_VENDOR, see docs/ocpp16-energy-request.md) and the rate and cost shown to the
driver (the Open Charge Alliance's California Pricing messages, vendorId COST_VENDOR, to
a station that says CustomDisplayCostAndPrice).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from central.domain.certificates import CsrRefused
from central.domain.commands import ClearProfile, Command, SetProfile, StopTransaction
from central.domain.planner import UNSTATED_NEEDS, EnergyRequest
from central.domain.registry import Identifier
from central.domain.services import AuthorizationResult, TxEvent
from central.protocol.link import Payload, StationLink, kept, routes_of
from shared.metering import MeterSample
from shared.profiles import ChargingProfile
from shared.protocol.v16 import (
    ENDED_SEQ_NO,
    parse_meter_values,
    profile_payload,
    seq_no_of,
)
from shared.timeutil import parse_timestamp, to_wire
from shared.units import ac_power_w

log = logging.getLogger("central.protocol.v16.link")

HEARTBEAT_INTERVAL_S = 300
ENERGY_VENDOR = "org.pev-grid"  # our DataTransfer messages (reverse DNS, as 1.6 asks)
ENERGY_REQUEST = "EnergyRequest"
COST_VENDOR = "org.openchargealliance.costmsg"  # OCA: OCPP 1.6 California Pricing
ASKED_CONFIGURATION = ["ChargingScheduleAllowedChargingRateUnit", "CustomDisplayCostAndPrice"]
# Identifier types a 1.6 idTag (which has none) may be registered under, most likely first
ID_TAG_TYPES = ("Central", "ISO14443", "ISO15693", "eMAID", "KeyCode", "Local")
ID_TAG_STATUSES = {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}

# OCPP 1.6J requests a Central System may send (with the security whitepaper's).
CSMS_ACTIONS = frozenset({
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction",
    "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "TriggerMessage", "UnlockConnector", "UpdateFirmware", "CertificateSigned",
    "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog",
    "InstallCertificate", "SignedUpdateFirmware"})


class StationLink16(StationLink, ChargePoint):  # type: ignore[misc]  # ocpp is untyped
    ocpp_version = "1.6"
    subprotocol = "ocpp1.6"
    csms_actions = CSMS_ACTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # StationLink's
        super().__init__(*args, **kwargs)
        self._configuration: asyncio.Task[tuple[str, bool]] | None = None
        self._profiles: dict[int, list[ChargingProfile]] = {}  # by connector, to send
        self._sending: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._installed: defaultdict[str, set[int]] = defaultdict(set)  # by transaction
        # what to show the driver once the answer has gone: by connector, the rate; by
        # transaction, the cost so far (and the reading it is at), the final cost
        self._price_texts: dict[int, str] = {}
        self._running_costs: dict[str, tuple[Decimal, MeterSample]] = {}
        self._final_costs: dict[str, Decimal | None] = {}
        self._signed_chain: str | None = None

    # --- the domain's commands --------------------------------------------------------

    async def execute(self, command: Command) -> str:
        match command:
            case SetProfile(connector_id, profile):
                return await self.send_profile(connector_id, profile)
            case ClearProfile(profile_id):
                return await self.answered("ClearChargingProfile",
                                           call.ClearChargingProfile(id=profile_id))
            case StopTransaction(transaction_id):
                return await self.answered("RemoteStopTransaction", call.RemoteStopTransaction(
                    transaction_id=int(transaction_id)))

    async def send_profile(self, connector_id: int, profile: ChargingProfile) -> str:
        """SetChargingProfile as a TxProfile in the unit the station takes."""
        unit, _ = await self.station_configuration()
        if profile.transaction_id is not None:
            self._installed[profile.transaction_id].add(profile.id)
        return await self.answered("SetChargingProfile", call.SetChargingProfile(
            connector_id=connector_id, cs_charging_profiles=profile_payload(profile, unit)))

    def station_configuration(self) -> asyncio.Task[tuple[str, bool]]:
        """(the unit its schedules take, "W" or "A"; whether it shows cost and price),
        asked once per connection with GetConfiguration."""
        if self._configuration is None:
            self._configuration = asyncio.ensure_future(self._ask_configuration())
        return self._configuration

    async def _ask_configuration(self) -> tuple[str, bool]:
        try:
            answer = await self.call(call.GetConfiguration(key=ASKED_CONFIGURATION),
                                     suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed) as error:
            log.warning("GetConfiguration not answered: schedules in A, no cost shown",
                        extra={"station": self.id, "error": str(error)})
            return "A", False
        values = {item["key"]: str(item.get("value", ""))
                  for item in answer.configuration_key or []}
        units = values.get("ChargingScheduleAllowedChargingRateUnit", "Current")
        unit = "W" if "Power" in units else "A"  # every 1.6 smart charger takes Current
        shows_cost = values.get("CustomDisplayCostAndPrice", "").lower() == "true"
        log.info("station configuration", extra={"station": self.id, "schedule_unit": unit,
                                                 "shows_cost": shows_cost})
        return unit, shows_cost

    # --- provisioning -----------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, payload: Payload) -> Payload:
        now = await self.services.station_booted(
            self.id, payload["chargePointVendor"], payload["chargePointModel"],
            payload.get("firmwareVersion"), self.ocpp_version)
        return {"currentTime": to_wire(now), "interval": HEARTBEAT_INTERVAL_S,
                "status": "Accepted"}

    @after(Action.boot_notification)
    async def after_boot(self, payload: Payload) -> None:
        await self.station_configuration()

    @on(Action.heartbeat)
    async def on_heartbeat(self, payload: Payload) -> Payload:
        now = await self.services.station_seen(self.id)
        return {"currentTime": to_wire(now)}

    @on(Action.status_notification)
    async def on_status_notification(self, payload: Payload) -> Payload:
        at = payload.get("timestamp")
        connector_id = payload["connectorId"]
        await self.services.records.connector_status(
            self.id, connector_id, 1 if connector_id else 0, payload["status"],
            parse_timestamp(at) if at else self.services.clock.now())
        if payload["errorCode"] != "NoError":
            await self.services.records.keep(self.id, "StatusNotification", payload)
        return {}

    # --- authorization and transactions -----------------------------------------------

    @on(Action.authorize)
    async def on_authorize(self, payload: Payload) -> Payload:
        result = await self.services.authorize(self.id, _identifiers(payload["idTag"]))
        return {"idTagInfo": _id_tag_info(result)}

    @on(Action.start_transaction)
    async def on_start_transaction(self, payload: Payload) -> Payload:
        connector_id, id_tag = payload["connectorId"], payload["idTag"]
        at = parse_timestamp(payload["timestamp"])
        transaction_id = await self.services.assign_transaction_id(
            self.id, f"{connector_id}/{id_tag}/{payload['meterStart']}/{payload['timestamp']}")
        reply = await self.services.transaction_event(TxEvent(
            station_id=self.id, transaction_id=str(transaction_id), seq_no=0,
            event_type="Started", timestamp=at, trigger_reason="Authorized",
            evse_id=connector_id, identifiers=_identifiers(id_tag),
            samples=(MeterSample(at, "Transaction.Begin", payload["meterStart"], None, None),),
            ocpp_version=self.ocpp_version, seq_counted=False))
        assert reply.authorization is not None
        if reply.authorization.status == "Accepted":
            # planned now, in message order, so an EnergyRequest that follows plans later
            negotiation = await self.services.charging_needs(self.id, connector_id,
                                                             UNSTATED_NEEDS)
            if negotiation is not None:
                self._profiles[connector_id] = negotiation.profiles
            self._price_texts[connector_id] = reply.authorization.message
        return {"transactionId": transaction_id,
                "idTagInfo": _id_tag_info(reply.authorization)}

    @after(Action.start_transaction)
    async def after_start_transaction(self, payload: Payload) -> None:
        connector_id = payload["connectorId"]
        await self._send_planned(connector_id)
        price_text = self._price_texts.pop(connector_id, None)
        _, shows_cost = await self.station_configuration()
        if shows_cost and price_text is not None:
            await self._cost_message("SetUserPrice", {"idToken": payload["idTag"],
                                                      "priceText": price_text[:255]})

    async def _send_planned(self, connector_id: int) -> None:
        """The connector's planned profiles, in order; a plan made while these go out
        replaces those not yet sent."""
        async with self._sending[connector_id]:
            while self._profiles.get(connector_id):
                await self.send_profile(connector_id, self._profiles[connector_id].pop(0))

    @on(Action.meter_values)
    async def on_meter_values(self, payload: Payload) -> Payload:
        transaction_id = payload.get("transactionId")
        if transaction_id is None:  # outside a transaction: nothing to bill
            await self.services.records.keep(self.id, "MeterValues", payload)
            return {}
        samples = tuple(parse_meter_values(payload["meterValue"]))
        reply = await self.services.transaction_event(TxEvent(
            station_id=self.id, transaction_id=str(transaction_id),
            seq_no=seq_no_of(samples), event_type="Updated",
            timestamp=min(s.timestamp for s in samples), trigger_reason="MeterValuePeriodic",
            evse_id=payload["connectorId"], samples=samples, ocpp_version=self.ocpp_version,
            seq_counted=False))
        if reply.running_cost is not None:
            self._running_costs[str(transaction_id)] = (reply.running_cost, samples[-1])
        return {}

    @after(Action.meter_values)
    def after_meter_values(self, payload: Payload) -> Coroutine[Any, Any, None] | None:
        transaction_id = str(payload.get("transactionId"))
        if not self._running_costs or transaction_id not in self._running_costs:
            return None  # nearly every reading: no cost due, no task
        cost, sample = self._running_costs.pop(transaction_id)
        return self._show_running_cost(int(transaction_id), cost, sample)

    async def _show_running_cost(self, transaction_id: int, cost: Decimal,
                                 sample: MeterSample) -> None:
        _, shows_cost = await self.station_configuration()
        if shows_cost and sample.register_wh is not None:
            await self._cost_message("RunningCost", {
                "transactionId": transaction_id, "timestamp": to_wire(sample.timestamp),
                "meterValue": sample.register_wh, "cost": float(cost), "state": "Charging",
                "chargingPrice": {}})

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, payload: Payload) -> Payload:
        transaction_id = str(payload["transactionId"])
        at = parse_timestamp(payload["timestamp"])
        id_tag = payload.get("idTag")
        samples = (*parse_meter_values(payload.get("transactionData") or ()),
                   MeterSample(at, "Transaction.End", payload["meterStop"], None, None))
        reply = await self.services.transaction_event(TxEvent(
            station_id=self.id, transaction_id=transaction_id, seq_no=ENDED_SEQ_NO,
            event_type="Ended", timestamp=at, trigger_reason="StopAuthorized",
            identifiers=_identifiers(id_tag) if id_tag else (), samples=samples,
            stopped_reason=payload.get("reason", "Local"), ocpp_version=self.ocpp_version,
            seq_counted=False))
        self._final_costs[transaction_id] = reply.total_cost
        response: Payload = {}
        if reply.authorization is not None:
            response["idTagInfo"] = _id_tag_info(reply.authorization)
        return response

    @after(Action.stop_transaction)
    async def after_stop_transaction(self, payload: Payload) -> None:
        """The transaction's profiles cleared (by id: another connector's stay); its final
        cost shown."""
        transaction_id = str(payload["transactionId"])
        for profile_id in sorted(self._installed.pop(transaction_id, set())):
            await self.execute(ClearProfile(profile_id))
        cost = self._final_costs.pop(transaction_id, None)
        _, shows_cost = await self.station_configuration()
        if shows_cost and cost is not None:
            await self._cost_message("FinalCost", {
                "transactionId": int(transaction_id), "cost": float(cost),
                "priceText": f"Total {cost}"})

    async def _cost_message(self, message_id: str, data: Payload) -> None:
        await self.answered(f"DataTransfer {message_id}", call.DataTransfer(
            vendor_id=COST_VENDOR, message_id=message_id, data=json.dumps(data)))

    # --- vendor messages: the energy request ------------------------------------------

    @on(Action.data_transfer)
    async def on_data_transfer(self, payload: Payload) -> Payload:
        if payload["vendorId"] != ENERGY_VENDOR:
            await self.services.records.keep(self.id, "DataTransfer", payload)
            return {"status": "UnknownVendorId"}
        if payload.get("messageId") != ENERGY_REQUEST:
            return {"status": "UnknownMessageId"}
        try:
            connector_id, request = _energy_request(payload.get("data"))
        except (ValueError, TypeError, KeyError) as error:
            return {"status": "Rejected", "data": json.dumps({
                "reason": f"EnergyRequest data: {error}"[:255]})}
        negotiation = await self.services.charging_needs(self.id, connector_id, request)
        if negotiation is None:
            return {"status": "Rejected", "data": json.dumps({
                "reason": "no bound PEV at this connector"})}
        self._profiles[connector_id] = negotiation.profiles
        plan = negotiation.plan
        return {"status": "Accepted", "data": json.dumps({
            "connectorId": connector_id, "energyAvailableWh": plan.available_wh,
            "departure": to_wire(plan.departure), "note": plan.note[:255]})}

    @after(Action.data_transfer)
    def after_data_transfer(self, payload: Payload) -> Coroutine[Any, Any, None] | None:
        if payload["vendorId"] != ENERGY_VENDOR or payload.get("messageId") != ENERGY_REQUEST:
            return None
        try:
            connector_id, _ = _energy_request(payload.get("data"))
        except (ValueError, TypeError, KeyError):
            return None
        return self._send_planned(connector_id)

    # --- security (the 1.6 security whitepaper) ---------------------------------------

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, payload: Payload) -> Payload:
        try:
            self._signed_chain = self.services.sign_certificate(self.id, payload["csr"], None)
        except CsrRefused as refused:
            log.warning("certificate signing refused", extra={"station": self.id,
                                                              "reason": str(refused)})
            return {"status": "Rejected"}
        return {"status": "Accepted"}

    @after(Action.sign_certificate)
    def send_signed_certificate(self, payload: Payload) -> Coroutine[Any, Any, str] | None:
        chain, self._signed_chain = self._signed_chain, None
        if chain is None:
            return None
        return self.answered("CertificateSigned", call.CertificateSigned(certificate_chain=chain))


# Messages whose content the central keeps as sent, answered with an empty response.
KEPT = ("DiagnosticsStatusNotification", "FirmwareStatusNotification",
        "SecurityEventNotification", "LogStatusNotification",
        "SignedFirmwareStatusNotification")

StationLink16.routes = routes_of(StationLink16, {action: kept(action) for action in KEPT})


def _identifiers(id_tag: str) -> tuple[Identifier, ...]:
    """A 1.6 idTag, typeless, as each registry identifier it may be."""
    return tuple(Identifier(id_tag, kind) for kind in ID_TAG_TYPES)


def _id_tag_info(result: AuthorizationResult) -> Payload:
    info: Payload = {"status": result.status if result.status in ID_TAG_STATUSES
                     else "Invalid"}
    if result.group_id:
        info["parentIdTag"] = result.group_id[:20]
    return info


def _energy_request(data: Any) -> tuple[int, EnergyRequest]:
    """Our EnergyRequest's data (a JSON object in the DataTransfer's data string)."""
    fields = json.loads(data) if isinstance(data, str) else None
    if not isinstance(fields, dict):
        raise ValueError("must be a JSON object")
    connector_id = int(fields.get("connectorId", 1))
    energy_wh = int(fields["energyWh"])
    if energy_wh < 0 or connector_id < 1:
        raise ValueError("energyWh must be >= 0 and connectorId >= 1")
    departure = fields.get("departure")
    voltage = int(fields.get("voltageV", 230))
    phases = int(fields.get("phases", 1))
    current = fields.get("maxCurrentA")
    return connector_id, EnergyRequest(
        energy_wh, parse_timestamp(departure) if departure else None,
        ac_power_w(float(current), voltage, phases) if current is not None else None,
        voltage, phases)
