"""Operator HTTP API: stations and what they report, sessions, statements, the registry,
DR events, commands to connected stations, and a live event feed (Server-Sent Events).

Served by `pev-central serve` in the same event loop as the OCPP server. Every route but
/health, /docs and /openapi.json needs `Authorization: Bearer <token>`. Errors are JSON
`{"detail": "..."}` with a 4xx or 5xx status (502: the station answered CALLERROR, 504: it
did not answer); nothing answers with a traceback.

(No `from __future__ import annotations` here: FastAPI reads the annotations of routes
defined inside create_app at run time.)
"""

import asyncio
import contextlib
import hmac
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import uvicorn
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from ocpp.exceptions import OCPPError
from pydantic import BaseModel, Field

from central.domain import demand, statements
from central.domain.commands import NotConnected
from central.domain.device_reports import ACTIONS as REPORT_ACTIONS
from central.domain.device_reports import Report
from central.domain.registry import RegistryError, Station, parse_entry
from central.domain.services import CentralServices
from central.operator import reports
from central.protocol.router import CommandRouter, UnknownAction
from central.store.sqlite import NotFound
from shared.fast_calls import CallErrorAnswer
from shared.tariff import tariff_definition
from shared.timeutil import parse_timestamp, to_wire

log = logging.getLogger("central.operator.api")

RowId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]  # what SQLite can hold


class Command(StrEnum):
    """The commands operators use most, by their names in OCPP 2.0.1 / 2.1 and in 1.6
    (a station is sent only its own version's); any other goes through /ocpp/{action}."""

    RemoteStartTransaction = "RemoteStartTransaction"
    RemoteStopTransaction = "RemoteStopTransaction"
    GetConfiguration = "GetConfiguration"
    ChangeConfiguration = "ChangeConfiguration"
    DataTransfer = "DataTransfer"
    RequestStartTransaction = "RequestStartTransaction"
    RequestStopTransaction = "RequestStopTransaction"
    SetChargingProfile = "SetChargingProfile"
    ClearChargingProfile = "ClearChargingProfile"
    GetCompositeSchedule = "GetCompositeSchedule"
    TriggerMessage = "TriggerMessage"
    Reset = "Reset"
    GetVariables = "GetVariables"
    SetVariables = "SetVariables"
    ChangeAvailability = "ChangeAvailability"
    UnlockConnector = "UnlockConnector"
    GetTransactionStatus = "GetTransactionStatus"


class RegistryKind(StrEnum):
    tariffs = "tariffs"
    programs = "programs"
    accounts = "accounts"
    premises = "premises"
    stations = "stations"
    pevs = "pevs"


class SessionStatus(StrEnum):
    active = "active"
    ended = "ended"
    refused = "refused"


class Scenario(StrEnum):
    L1 = "L1"
    L2A = "L2-A"
    L2B = "L2-B"


class ReportKindName(StrEnum):
    device_model = "device-model"
    monitoring = "monitoring"
    customer_information = "customer-information"


class NewDrEvent(BaseModel):
    start: datetime
    end: datetime
    scope: str = Field(description="all, premise:ID or station:ID")
    limit_w: int | None = Field(default=None, ge=0, description="at most this many W")
    reduce_pct: int | None = Field(default=None, ge=1, le=100,
                                   description="or: cut the normal schedule by this %")
    randomize_s: int = Field(default=0, ge=0, le=86_400)


def create_app(services: CentralServices, router: CommandRouter, token: str,
               command_timeout_s: float = 30.0) -> FastAPI:
    app = FastAPI(title="pev-grid operator API", version="1",
                  description=__doc__ or "", redoc_url=None)
    bearer = HTTPBearer(auto_error=False)
    store = services.store

    async def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                Depends(bearer)]) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, token.encode()):
            raise HTTPException(401, "a valid bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorized)]

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("API error", extra={"path": request.url.path})
        return JSONResponse({"detail": "internal error; see the central's log"}, 500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/utility", dependencies=auth)
    async def get_utility() -> dict[str, str]:
        """The utility's name, local time zone (of its tariffs and statements) and currency."""
        utility = await store.utility()
        return {"name": utility.name, "timezone": utility.timezone.key,
                "currency": utility.currency}

    # --- stations -----------------------------------------------------------------------

    async def known_station(station_id: str) -> Station:
        station = await store.station(station_id)
        if station is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        return station

    async def station_view(station_id: str) -> dict[str, Any]:
        station = await known_station(station_id)
        state = await store.station_state(station_id)
        return {"id": station.id, "premise": station.premise_id, "kind": station.kind,
                "eumd_serial": station.eumd_serial, "max_power_w": station.max_power_w,
                "security_profile": station.security_profile,
                "connected": station.id in router.connected(), **state}

    @app.get("/stations", dependencies=auth)
    async def list_stations() -> list[dict[str, Any]]:
        return [await station_view(s.id) for s in (await store.registry()).stations]

    @app.get("/stations/{station_id}", dependencies=auth)
    async def get_station(station_id: str) -> dict[str, Any]:
        """As in /stations, with the station's latest firmware and log upload status."""
        view = await station_view(station_id)
        for key, action in (("firmware_status", "FirmwareStatusNotification"),
                            ("log_status", "LogStatusNotification")):
            latest = await store.station_messages(station_id, [action], limit=1)
            view[key] = {"status": latest[0]["payload"]["status"],
                         "at": latest[0]["received_at"]} if latest else None
        return view

    @app.get("/stations/{station_id}/events", dependencies=auth)
    async def station_events(
        station_id: str,
        action: Annotated[list[str] | None, Query(
            description="only these OCPP actions, e.g. NotifyEvent, SecurityEventNotification, "
                        "FirmwareStatusNotification, MeterValues")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1,
                                            description="ids below this one (paging)")] = None,
    ) -> list[dict[str, Any]]:
        """What the station reported beside its transactions, newest first, as it sent it:
        events, security events, firmware and log status, charging limits, reservations,
        display messages, meter values outside a transaction, data transfers."""
        await known_station(station_id)
        return await store.station_messages(station_id, action or (), limit, before)

    @app.get("/stations/{station_id}/reports", dependencies=auth)
    async def station_reports(station_id: str) -> list[dict[str, Any]]:
        """The station's multi-part reports, whole or still arriving, newest first."""
        await known_station(station_id)
        return [_report_summary(r) for r in await services.records.reports(station_id)]

    @app.get("/stations/{station_id}/report", dependencies=auth)
    async def station_report(
        station_id: str, kind: ReportKindName = ReportKindName.device_model,
        request_id: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
    ) -> dict[str, Any]:
        """A whole report, its parts joined in order: the newest of its kind, or the one of
        `request_id`. 404 while its last part has not arrived."""
        await known_station(station_id)
        reports = await services.records.reports(station_id, REPORT_ACTIONS[kind.value],
                                                 request_id)
        whole = next((r for r in reports if r.complete), None)
        if whole is None:
            wanted = f"{kind.value} report" + (f" {request_id}" if request_id is not None
                                               else "")
            if not reports:
                raise HTTPException(404, f"{station_id} has sent no {wanted}")
            raise HTTPException(404, f"{station_id} is still sending its {wanted}: "
                                     f"{reports[0].parts} part(s) so far")
        return {**_report_summary(whole), "content": whole.content}

    # --- sessions -----------------------------------------------------------------------

    @app.get("/sessions", dependencies=auth)
    async def list_sessions(
        station: str | None = None, premise: str | None = None,
        account: Annotated[str | None, Query(description="payer account")] = None,
        pev: str | None = None, status: SessionStatus | None = None,
        scenario: Scenario | None = None,
        since: Annotated[datetime | None, Query(description="started at or after")] = None,
        until: Annotated[datetime | None, Query(description="started before")] = None,
    ) -> list[dict[str, Any]]:
        wanted = {"station_id": station, "premise_id": premise, "payer_account": account,
                  "pev_id": pev, "status": status, "scenario": scenario}
        rows = []
        for session in await store.sessions():
            if any(value is not None and getattr(session, key) != value
                   for key, value in wanted.items()):
                continue
            started = session.started_at
            if since and (started is None or started < _utc(since)):
                continue
            if until and (started is None or started >= _utc(until)):
                continue
            rows.append(reports.session_row(session))
        return rows

    @app.get("/sessions/{session_id}", dependencies=auth)
    async def get_session(session_id: RowId) -> dict[str, Any]:
        session = await store.session_by_id(session_id)
        if session is None:
            raise HTTPException(404, f"unknown session {session_id}")
        readings = await store.readings(session_id)
        return {**reports.session_row(session), "schedule": session.schedule,
                "dr_windows": session.dr_windows, "energy_requested_wh":
                session.energy_requested_wh, "energy_available_wh":
                session.energy_available_wh, "payer_rule": session.payer_rule,
                "intervals": [{"timestamp": to_wire(r.timestamp), "context": r.context,
                               "register_wh": r.register_wh, "power_w": r.power_w,
                               "ev_total_wh": r.ev_total_wh} for r in readings]}

    # --- statements ---------------------------------------------------------------------

    @app.get("/accounts/{account_id}/statement", dependencies=auth)
    async def get_statement(account_id: str, month: Annotated[
            str, Query(description="YYYY-MM, the utility's local month")]) -> dict[str, Any]:
        try:
            return (await statements.build(store, account_id, month)).to_json()
        except NotFound as error:
            raise HTTPException(404, str(error)) from None
        except statements.BadMonth as error:
            raise HTTPException(422, str(error)) from None

    # --- registry -----------------------------------------------------------------------

    @app.get("/registry", dependencies=auth)
    async def get_registry() -> dict[str, Any]:
        registry = await store.registry()
        u = registry.utility
        return {
            "utility": {"name": u.name, "timezone": u.timezone.key, "currency": u.currency},
            "tariffs": [{"id": t.id, "name": t.name, "illustrative": t.illustrative,
                         **tariff_definition(t)} for t in registry.tariffs],
            "programs": [asdict(p) for p in registry.programs],
            "accounts": [asdict(a) for a in registry.accounts],
            "premises": [asdict(p) for p in registry.premises],
            "stations": [{k: v for k, v in asdict(s).items() if k != "password_hash"}
                         for s in registry.stations],
            "pevs": [{**asdict(p), "valid_until": to_wire(p.valid_until)
                      if p.valid_until else None} for p in registry.pevs],
        }

    @app.put("/registry/{kind}/{entry_id}", dependencies=auth)
    async def put_entry(kind: RegistryKind, entry_id: str,
                        entry: Annotated[dict[str, Any], Body()]) -> dict[str, str]:
        """Create or update one entry; fields as in the registry TOML format."""
        if entry.setdefault("id", entry_id) != entry_id:
            raise HTTPException(422, f"the body's id {entry['id']!r} is not {entry_id!r}")
        try:
            parsed = parse_entry(kind.value, _toml_like(entry), await store.known_ids(),
                                 (await store.utility()).timezone)
            await store.upsert_entry(kind.value, parsed)
        except RegistryError as error:
            raise HTTPException(422, str(error)) from None
        except sqlite3.IntegrityError as error:
            raise HTTPException(409, f"conflicts with the registry: {error}") from None
        return {"kind": kind.value, "id": entry_id, "result": "stored"}

    @app.delete("/registry/{kind}/{entry_id}", dependencies=auth, status_code=204)
    async def delete_entry(kind: RegistryKind, entry_id: str) -> Response:
        try:
            deleted = await store.delete_entry(kind.value, entry_id)
        except sqlite3.IntegrityError:
            raise HTTPException(409, f"{entry_id!r} is still referred to; delete or change "
                                     "what refers to it first") from None
        if not deleted:
            raise HTTPException(404, f"no {kind.value[:-1]} {entry_id!r}")
        return Response(status_code=204)

    # --- demand response ----------------------------------------------------------------

    @app.get("/dr-events", dependencies=auth)
    async def list_dr_events() -> list[dict[str, Any]]:
        return [reports.dr_row(e) for e in await store.dr_events()]

    @app.post("/dr-events", dependencies=auth, status_code=201)
    async def create_dr_event(new: NewDrEvent) -> dict[str, Any]:
        start, end = _utc(new.start), _utc(new.end)
        try:
            demand.validate(start, end, new.scope, new.limit_w, new.reduce_pct,
                            new.randomize_s)
            event = await store.add_dr_event(start, end, new.scope, new.limit_w,
                                             new.reduce_pct, new.randomize_s,
                                             services.clock.now())
        except demand.BadEvent as error:
            raise HTTPException(422, str(error)) from None
        except NotFound as error:
            raise HTTPException(422, str(error)) from None
        return reports.dr_row(event)

    @app.post("/dr-events/{event_id}/cancel", dependencies=auth)
    async def cancel_dr_event(event_id: RowId) -> dict[str, Any]:
        if not await store.request_dr_cancel(event_id, services.clock.now()):
            raise HTTPException(404, f"no DR event {event_id} to cancel")
        return {"id": event_id, "status": "cancel requested"}

    # --- commands to stations -----------------------------------------------------------

    async def relay(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        await known_station(station_id)
        try:
            async with asyncio.timeout(command_timeout_s):
                answer = await router.relay(station_id, action, payload)
        except UnknownAction as error:
            raise HTTPException(404, str(error)) from None
        except NotConnected as error:
            raise HTTPException(409, str(error)) from None
        except TimeoutError:
            raise HTTPException(504, f"{station_id} did not answer {action} within "
                                     f"{command_timeout_s} s") from None
        except OCPPError as error:
            raise HTTPException(422, f"payload fails the OCPP schema for {action} (OCPP "
                                     f"{router.version(station_id)}): {error.description}; "
                                     f"{error.details}") from None
        except CallErrorAnswer as answer:
            raise HTTPException(502, f"{station_id} {answer}") from None
        log.info("command relayed", extra={"station": station_id, "action": action})
        return {"station": station_id, "action": action, "response": answer}

    @app.post("/stations/{station_id}/commands/{command}", dependencies=auth)
    async def send_command(station_id: str, command: Command,
                           payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Send a common command; the payload is the OCPP request (camelCase). 404 for a
        station the registry does not know, 409 for one not connected."""
        return await relay(station_id, command.value, payload)

    @app.post("/stations/{station_id}/ocpp/{action}", dependencies=auth)
    async def send_any(station_id: str, action: str,
                       payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Relay any OCPP 2.0.1 CSMS request with a caller-supplied payload."""
        return await relay(station_id, action, payload)

    # --- live feed ----------------------------------------------------------------------

    @app.get("/events", dependencies=auth,
             responses={200: {"content": {"text/event-stream": {}}}})
    async def events() -> StreamingResponse:
        """Server-Sent Events: station.connected, station.disconnected, station.status (a
        connector's status), station.alert (a security event, a failed firmware update or
        log upload, a monitor that tripped), station.report (a multi-part report whole),
        transaction, binding.refused, dr.applied, dr.cancelled, error."""
        return StreamingResponse(_stream(services), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return app


async def _stream(services: CentralServices) -> AsyncIterator[str]:
    async with services.bus.subscribe() as queue:
        yield ": connected\n\n"
        while True:
            try:
                async with asyncio.timeout(15):
                    event = await queue.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"id: {event['id']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"


def _report_summary(report: Report) -> dict[str, Any]:
    return {"kind": report.kind, "request_id": report.request_id,
            "generated_at": to_wire(report.generated_at), "parts": report.parts,
            "complete": report.complete}


def _utc(moment: datetime) -> datetime:
    return parse_timestamp(moment.isoformat())


def _toml_like(entry: dict[str, Any]) -> dict[str, Any]:
    """JSON has no dates: a PEV's valid_until arrives as text."""
    value = entry.get("valid_until")
    if isinstance(value, str):
        try:
            return {**entry, "valid_until": parse_timestamp(value)}
        except ValueError:
            raise HTTPException(422, f"valid_until {value!r} is not an ISO 8601 date-time"
                                ) from None
    return entry


class ApiServer(uvicorn.Server):
    """uvicorn inside our event loop: the OCPP server owns the process's signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_api(app: FastAPI, host: str, port: int) -> tuple[ApiServer, asyncio.Task[None],
                                                               int]:
    """Serve `app` in this event loop; returns the server, its task and the bound port."""
    # Event-feed clients never close their streams: shutdown does not wait for them.
    server = ApiServer(uvicorn.Config(app, host=host, port=port, log_config=None,
                                      lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise OSError(f"the API could not listen on {host}:{port}")
        await asyncio.sleep(0.01)
    return server, task, server.servers[0].sockets[0].getsockname()[1]
