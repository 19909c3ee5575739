"""What a station reports beside its transactions, kept for the operator: its events,
security events, firmware and log status, charging limits, reservations, meter values
outside a transaction, and its multi-part reports (device model, monitors, customer
information), assembled as their parts arrive.

Each message is kept as it came; what an operator must see at once (a connector Faulted,
a security event, a failed firmware update) goes to the live feed as well.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from central.domain.device_reports import Report, ReportPart, assemble
from central.domain.events import EventBus
from central.store.sqlite import SqliteStore
from shared.clock import Clock
from shared.timeutil import parse_timestamp, to_wire

log = logging.getLogger("central.domain.station_records")

Payload = dict[str, Any]

FIRMWARE_FAILURES = frozenset({"DownloadFailed", "InstallationFailed", "InvalidSignature",
                               "InstallVerificationFailed", "PublishFailed",
                               "ChecksumVerificationFailed"})
CONNECTOR_STATUSES = frozenset({"Available", "Occupied", "Reserved", "Unavailable", "Faulted"})
LOG_FAILURES = frozenset({"BadMessage", "NotSupportedOperation", "PermissionDenied",
                          "UploadFailure"})


class StationRecords:
    def __init__(self, store: SqliteStore, clock: Clock, bus: EventBus) -> None:
        self.store, self.clock, self.bus = store, clock, bus

    async def connector_status(self, station_id: str, evse_id: int, connector_id: int,
                               status: str, at: datetime) -> None:
        await self.store.record_connector_status(station_id, evse_id, connector_id, status, at)
        if status == "Faulted":
            log.warning("connector faulted", extra={"station": station_id, "evse": evse_id,
                                                    "connector": connector_id})
        self.bus.publish("station.status", station=station_id, evse=evse_id,
                         connector=connector_id, status=status, at=to_wire(at))

    async def keep(self, station_id: str, action: str, payload: Payload) -> None:
        """Keep one message as the station sent it, and tell the live feed what matters."""
        now = self.clock.now()
        await self.store.add_station_message(station_id, action, now, payload)
        for kind, text in _alerts(action, payload):
            log.warning("station alert", extra={"station": station_id, "kind": kind,
                                                "alert": text})
            self.bus.publish("station.alert", station=station_id, category=kind, text=text,
                             at=to_wire(now))
        if action == "NotifyEvent":
            for evse_id, connector_id, status, at in availability_changes(payload):
                await self.connector_status(station_id, evse_id, connector_id, status, at)

    async def report_part(self, station_id: str, action: str, payload: Payload) -> Report:
        """Keep one part of a multi-part report; the report as it stands after it."""
        part = ReportPart(payload["requestId"], payload["seqNo"], payload.get("tbc", False),
                          parse_timestamp(payload["generatedAt"]), payload)
        report = assemble(action, await self.store.add_report_part(
            station_id, action, part, self.clock.now()))
        if report.complete:
            log.info("report received", extra={"station": station_id, "kind": report.kind,
                                                "request_id": report.request_id,
                                                "parts": report.parts})
            self.bus.publish("station.report", station=station_id, report=report.kind,
                             request_id=report.request_id, parts=report.parts)
        return report

    async def reports(self, station_id: str, action: str | None = None,
                      request_id: int | None = None) -> list[Report]:
        """The station's reports (whole or still arriving), newest first."""
        grouped: dict[tuple[str, int], list[ReportPart]] = {}
        for part_action, part in await self.store.report_parts(station_id, action,
                                                                request_id):
            grouped.setdefault((part_action, part.request_id), []).append(part)
        reports = [assemble(part_action, parts)
                   for (part_action, _), parts in grouped.items()]
        return sorted(reports, key=lambda r: r.generated_at, reverse=True)


def availability_changes(payload: Payload) -> list[tuple[int, int, str, datetime]]:
    """(EVSE, connector, status, at) for each connector AvailabilityState a NotifyEvent
    reports: a station may say a connector went Faulted this way rather than with a
    StatusNotification."""
    changes = []
    for event in payload["eventData"]:
        component, variable = event["component"], event["variable"]
        evse = component.get("evse")
        if variable["name"] == "AvailabilityState" and component["name"] == "Connector" \
                and evse is not None and event["actualValue"] in CONNECTOR_STATUSES:
            changes.append((evse["id"], evse.get("connectorId", 1), event["actualValue"],
                            parse_timestamp(event["timestamp"])))
    return changes


def _alerts(action: str, payload: Payload) -> list[tuple[str, str]]:
    """(kind, text) of what an operator must see at once in this message, if anything."""
    if action == "SecurityEventNotification":
        info = payload.get("techInfo")
        return [("security", payload["type"] + (f": {info}" if info else ""))]
    if action == "FirmwareStatusNotification" and payload["status"] in FIRMWARE_FAILURES:
        return [("firmware", f"firmware update {payload['status']}")]
    if action == "LogStatusNotification" and payload["status"] in LOG_FAILURES:
        return [("log", f"log upload {payload['status']}")]
    if action == "NotifyEvent":
        return [("event", _event_text(event)) for event in payload["eventData"]
                if event["trigger"] == "Alerting" and not event.get("cleared")]
    return []


def _event_text(event: Payload) -> str:
    where = event["component"]["name"]
    evse = event["component"].get("evse")
    if evse is not None:
        where += f" (EVSE {evse['id']})"
    text = f"{where} {event['variable']['name']} = {event['actualValue']}"
    return text + (f" [{event['techCode']}]" if event.get("techCode") else "")

