"""The charge point's link to the central: connect, boot, heartbeat, reconnect with backoff,
send transaction events in order, answer the central's requests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from decimal import Decimal
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from chargepoint.backoff import Backoff
from chargepoint.outbox import Outbox
from chargepoint.session import ChargingSession
from shared.clock import Clock
from shared.fast_calls import FastCalls
from shared.protocol.v201 import SUBPROTOCOL
from shared.timeutil import parse_timestamp

log = logging.getLogger("chargepoint.agent")

RETRY_INTERVAL_S = 2.0  # OCPP MessageAttemptInterval, in real seconds
MESSAGE_ATTEMPTS = 3  # OCPP MessageAttempts: CALLERRORs before a message is set aside


class Refused(Exception):
    """The central refused this station at the handshake (auth, path, subprotocol)."""


class StationClient(FastCalls, ChargePoint):  # type: ignore[misc]  # ocpp is untyped
    """Handlers for what the central asks of this station."""

    def __init__(self, station_id: str, connection: ClientConnection, agent: Agent) -> None:
        super().__init__(station_id, connection)
        self.agent = agent

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        session = self.agent.session
        accepted = session is not None and session.evse_id == evse_id and \
            session.apply_profile(charging_profile)
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost: float, transaction_id: str,
                        **_: Any) -> call_result.CostUpdated:
        session = self.agent.session
        if session is not None and session.transaction_id == transaction_id:
            session.show_cost(Decimal(str(total_cost)))
        return call_result.CostUpdated()

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str,
                                    **_: Any) -> call_result.RequestStopTransaction:
        session = self.agent.session
        stopping = session is not None and session.transaction_id == transaction_id and \
            session.request_stop()
        return call_result.RequestStopTransaction(status="Accepted" if stopping else "Rejected")

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None,
                                  **_: Any) -> call_result.GetTransactionStatus:
        session = self.agent.session
        ongoing = session is not None and session.transaction_id == transaction_id \
            and session.ongoing
        return call_result.GetTransactionStatus(
            messages_in_queue=len(self.agent.outbox) > 0,
            ongoing_indicator=ongoing if transaction_id else None)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        session = self.agent.session
        cleared = session is not None and charging_profile_id is not None and \
            session.clear_profile(charging_profile_id)
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @after(Action.set_charging_profile)
    async def report_ev_schedule(self, evse_id: int, charging_profile: dict[str, Any],
                                 **_: Any) -> None:
        session = self.agent.session
        if session is None or charging_profile.get("stack_level") != 0 or \
                charging_profile.get("transaction_id") != session.transaction_id:
            return  # the PEV's plan answers its normal schedule, not each DR overlay
        schedule = session.ev_charging_schedule()
        with contextlib.suppress(OCPPError, TimeoutError, ConnectionClosed):
            answer = await self.call(call.NotifyEVChargingSchedule(
                time_base=schedule["start_schedule"], charging_schedule=schedule,
                evse_id=evse_id), suppress=False)
            log_fn = log.info if answer.status == "Accepted" else log.warning
            log_fn("EV schedule answered", extra={"status": answer.status,
                                                  "reason": (answer.status_info or {}).get(
                                                      "additional_info")})


class Agent:
    def __init__(self, url: str, station_id: str, password: str | None, clock: Clock,
                 backoff: Backoff | None = None, vendor: str = "pev-grid",
                 model: str = "simulated", sync_clock: bool = True,
                 outbox: Outbox | None = None, tls: ssl.SSLContext | None = None) -> None:
        """`password` None: a security profile 3 station, known by its TLS certificate."""
        self.url = url.rstrip("/") + "/" + station_id
        self.station_id = station_id
        self._headers = {"Authorization": "Basic " + base64.b64encode(
            f"{station_id}:{password}".encode()).decode()} if password is not None else {}
        self.tls = tls
        self.clock = clock
        self.vendor, self.model = vendor, model
        self.backoff = backoff or Backoff()
        self.sync_clock = sync_clock  # a fleet shares one clock: only one agent sets it
        self.session: ChargingSession | None = None
        self.outbox = outbox if outbox is not None else Outbox()  # (an empty one is falsy)
        self._client: StationClient | None = None
        self._connected = asyncio.Event()
        self._booted = False
        self.heartbeat_interval_s = 300

    @property
    def online(self) -> bool:
        return self._connected.is_set()

    async def wait_online(self) -> None:
        await self._connected.wait()

    async def run(self) -> None:
        """Stay connected until cancelled; Refused is raised on a handshake refusal."""
        sender = asyncio.create_task(self._send_transaction_events())
        backoff = self.backoff
        try:
            while True:
                try:
                    await self._connect_once(backoff)
                except InvalidStatus as error:
                    status = error.response.status_code
                    if status in (400, 401, 403, 404):
                        raise Refused(f"central refused {self.station_id} with HTTP {status}: "
                                      f"{error.response.body.decode(errors='replace').strip()}"
                                      ) from None
                    log.warning("connect failed", extra={"http_status": status})
                except ssl.SSLCertVerificationError as error:
                    raise Refused(f"the central's TLS certificate is not trusted: "
                                  f"{error.verify_message}") from None
                except (OSError, ConnectionClosed, TimeoutError) as error:
                    log.warning("connection lost", extra={"error": type(error).__name__,
                                                          "detail": str(error)[:200]})
                delay = backoff.next_delay()
                log.info("reconnecting", extra={"in_s": round(delay, 2)})
                await asyncio.sleep(delay)
        finally:
            sender.cancel()

    async def _connect_once(self, backoff: Backoff) -> None:
        async with websockets.connect(
            self.url, subprotocols=[Subprotocol(SUBPROTOCOL)],
            additional_headers=self._headers, open_timeout=10,
            ssl=self.tls if self.url.startswith("wss:") else None,
        ) as connection:
            client = StationClient(self.station_id, connection, self)
            reader = asyncio.create_task(client.start())
            heartbeat = None
            try:
                if not self._booted:  # once per power-up, not on every reconnect
                    await self._boot(client)
                self._client = client
                self._connected.set()
                backoff.reset()
                log.info("connected", extra={"station": self.station_id})
                heartbeat = asyncio.create_task(self._heartbeats(client))
                await reader
            finally:
                self._connected.clear()
                self._client = None
                for task in (reader, heartbeat):
                    if task:
                        task.cancel()

    async def _boot(self, client: StationClient) -> None:
        response = await client.call(call.BootNotification(
            charging_station={"vendor_name": self.vendor, "model": self.model},
            reason="PowerUp"), suppress=False)
        if self.sync_clock:
            self.clock.sync(parse_timestamp(response.current_time))
        self.heartbeat_interval_s = response.interval or self.heartbeat_interval_s
        self._booted = response.status == "Accepted"
        log.info("booted", extra={"status": response.status,
                                  "central_time": response.current_time})

    async def _heartbeats(self, client: StationClient) -> None:
        while True:
            await self.clock.sleep(self.heartbeat_interval_s)
            with contextlib.suppress(OCPPError, TimeoutError):
                await client.call(call.Heartbeat(), suppress=False)

    # --- Transport for sessions -------------------------------------------------------

    async def request(self, action: str, **payload: Any) -> dict[str, Any]:
        """Send a request when connected; retried across reconnects until answered."""
        message = getattr(call, action)(**payload)
        while True:
            await self._connected.wait()
            client = self._client
            assert client is not None
            try:
                response = await client.call(message, suppress=False)
            except (ConnectionClosed, TimeoutError):
                await asyncio.sleep(RETRY_INTERVAL_S)
                continue
            return dict(vars(response))

    def save_journal(self, key: str, state: dict[str, Any]) -> None:
        self.outbox.save_journal(key, state)

    def forget_journal(self, key: str) -> None:
        self.outbox.forget(key)

    async def transaction_event(self, payload: dict[str, Any],
                                journal: tuple[str, dict[str, Any]] | None = None,
                                ) -> asyncio.Future[dict[str, Any]]:
        return await self.outbox.put(payload, journal)

    async def _send_transaction_events(self) -> None:
        while True:
            pending = await self.outbox.head()
            await self._connected.wait()
            client = self._client
            assert client is not None
            try:
                response = await client.call(call.TransactionEvent(**pending.payload),
                                             suppress=False)
            except (ConnectionClosed, TimeoutError):
                # OCPP's MessageAttemptInterval x preceding attempts; the message stays
                await asyncio.sleep(RETRY_INTERVAL_S * self.outbox.failed(pending))
                continue
            except OCPPError as error:  # the central could not process it (OCPP E13)
                attempts = self.outbox.failed(pending)
                if attempts < MESSAGE_ATTEMPTS:
                    await asyncio.sleep(RETRY_INTERVAL_S * attempts)
                    continue
                log.error("transaction event refused; set aside", extra={
                    "error": str(error), "seq_no": pending.payload.get("seq_no")})
                await self.outbox.set_aside(pending, str(error))
                continue
            await self.outbox.acknowledge(pending, dict(vars(response)))
