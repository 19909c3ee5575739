"""The charge point's link to the central: connect, boot, heartbeat, reconnect with backoff,
send transaction events in order, answer the central's requests, in the OCPP version the
station speaks (its protocol client, chargepoint.protocol.v16 / v201 / v21).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from chargepoint.backoff import Backoff
from chargepoint.outbox import Outbox
from chargepoint.protocol.base import Client
from chargepoint.protocol.v16 import StationClient16
from chargepoint.protocol.v21 import StationClient21
from chargepoint.protocol.v201 import StationClient
from chargepoint.session import ChargingSession
from shared.clock import Clock
from shared.timeutil import to_wire

log = logging.getLogger("chargepoint.agent")

RETRY_INTERVAL_S = 2.0  # OCPP MessageAttemptInterval, in real seconds
MESSAGE_ATTEMPTS = 3  # OCPP MessageAttempts: CALLERRORs before a message is set aside


# each version's client, by the version's name
CLIENTS: dict[str, type[Client]] = {"1.6": StationClient16, "2.0.1": StationClient,
                                    "2.1": StationClient21}


class Refused(Exception):
    """The central refused this station at the handshake (auth, path, subprotocol)."""


class Agent:
    def __init__(self, url: str, station_id: str, password: str | None, clock: Clock,
                 backoff: Backoff | None = None, vendor: str = "pev-grid",
                 model: str = "simulated", sync_clock: bool = True,
                 outbox: Outbox | None = None, tls: ssl.SSLContext | None = None,
                 ocpp_version: str = "2.0.1") -> None:
        """`password` None: a security profile 3 station, known by its TLS certificate."""
        self.ocpp_version = ocpp_version
        self.client_class = CLIENTS[ocpp_version]
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
        self._client: Client | None = None
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
            self.url, subprotocols=[Subprotocol(self.client_class.subprotocol)],
            additional_headers=self._headers, open_timeout=10,
            ssl=self.tls if self.url.startswith("wss:") else None,
        ) as connection:
            client = self.client_class(self.station_id, connection, self)
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

    async def _boot(self, client: Client) -> None:
        boot = await client.boot(self.vendor, self.model)
        if self.sync_clock:
            self.clock.sync(boot.current_time)
        self.heartbeat_interval_s = boot.interval or self.heartbeat_interval_s
        self._booted = boot.status == "Accepted"
        log.info("booted", extra={"status": boot.status, "ocpp": self.ocpp_version,
                                  "central_time": to_wire(boot.current_time)})

    async def _heartbeats(self, client: Client) -> None:
        while True:
            await self.clock.sleep(self.heartbeat_interval_s)
            with contextlib.suppress(OCPPError, TimeoutError):
                await client.heartbeat()

    # --- Transport for sessions -------------------------------------------------------

    async def request(self, action: str, **payload: Any) -> dict[str, Any]:
        """Send a request when connected; retried across reconnects until answered."""
        while True:
            await self._connected.wait()
            client = self._client
            assert client is not None
            try:
                return await client.request(action, payload)
            except (ConnectionClosed, TimeoutError):
                await asyncio.sleep(RETRY_INTERVAL_S)

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
                response = await client.transaction_event(pending.payload)
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
            await self.outbox.acknowledge(pending, response)
