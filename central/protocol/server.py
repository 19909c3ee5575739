"""WebSocket accept: path /ocpp/<station_id>, Basic auth, then the OCPP version, all
before the upgrade; each version's connection served by its own protocol adapter."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from collections.abc import Sequence
from http import HTTPStatus
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from central.domain.passwords import verify_password
from central.domain.registry import CERTIFICATE_PROFILE, Station
from central.domain.services import CentralServices
from central.protocol.compression import COMPRESSION
from central.protocol.link import StationLink
from central.protocol.ratelimit import RateLimit
from central.protocol.router import CommandRouter
from central.protocol.tls import client_common_name
from central.protocol.v16.link import StationLink16
from central.protocol.v21.link import StationLink21
from central.protocol.v201.link import StationLink201

log = logging.getLogger("central.protocol.server")

PATH_PREFIX = "/ocpp/"
MAX_FRAME_BYTES = 64 * 1024
# each version's adapter, by the WebSocket subprotocol that names it; newest first, the
# order a station's offer is taken in
ADAPTERS: dict[str, type[StationLink]] = {
    link.subprotocol: link for link in (StationLink21, StationLink201, StationLink16)}


def station_id_from_path(path: str) -> str | None:
    """`/ocpp/<id>` (percent-encoded, query ignored) -> id; anything else -> None."""
    raw = path.split("?", 1)[0]
    if not raw.startswith(PATH_PREFIX):
        return None
    encoded = raw[len(PATH_PREFIX):]
    station_id = unquote(encoded)
    if not station_id or "/" in encoded or len(station_id) > 48:
        return None
    return station_id


def _offered_subprotocols(request: Request) -> list[str]:
    return [p.strip() for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in header.split(",")]


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class OcppServer:
    def __init__(self, services: CentralServices, router: CommandRouter,
                 rate_limit: RateLimit | None = None) -> None:
        self.services = services
        self.router = router
        self.rate_limit = rate_limit or RateLimit()

    async def process_request(self, connection: ServerConnection,
                              request: Request) -> Response | None:
        """Refuse before the upgrade: unknown path 404, auth 401/403, then no OCPP version
        both sides speak 400."""
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND,
                                      "connect to /ocpp/<station id>\n")
        station = await self.services.store.station(station_id)
        refusal = await self._refusal(station, request, connection)
        if refusal is not None:
            status, reason = refusal
            log.warning("refused: authentication", extra={"station": station_id,
                                                           "reason": reason})
            response = connection.respond(status, reason + "\n")
            if status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        assert station is not None
        allowed = [p for p in ADAPTERS if p[len("ocpp"):] in station.ocpp_versions]
        offered = _offered_subprotocols(request)
        chosen = next((p for p in allowed if p in offered), None)
        if chosen is None:
            log.warning("refused: subprotocol", extra={"station": station_id,
                                                       "offered": offered[:8]})
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                f"offer one of the WebSocket subprotocols {', '.join(allowed)}: the OCPP "
                "versions this central speaks with this station\n")
        connection.station_id = station_id  # type: ignore[attr-defined]
        connection.adapter = ADAPTERS[chosen]  # type: ignore[attr-defined]
        return None

    async def _refusal(self, station: Station | None, request: Request,
                       connection: ServerConnection) -> tuple[HTTPStatus, str] | None:
        """Why this station may not connect this way (OCPP security profiles), or None.

        Nothing is told about a station before it has shown a credential: an unknown
        station and a wrong password get the same answer.
        """
        unknown = (HTTPStatus.UNAUTHORIZED, "unknown station or wrong password")
        if station is None:
            return unknown
        ssl_object = connection.transport.get_extra_info("ssl_object")
        if station.security_profile == CERTIFICATE_PROFILE:
            common_name = client_common_name(ssl_object)
            if common_name is None:
                return (HTTPStatus.UNAUTHORIZED, "security profile 3: connect over TLS with "
                                                 "this station's client certificate")
            if common_name != station.id:
                return (HTTPStatus.FORBIDDEN, "the client certificate is not this station's")
            return None
        if not await self._password_matches(station.id, station.password_hash, request):
            return unknown
        if station.security_profile == 2 and ssl_object is None:
            return (HTTPStatus.FORBIDDEN, "security profile 2: connect over TLS (wss://)")
        return None

    async def _password_matches(self, station_id: str, password_hash: str,
                                request: Request) -> bool:
        credentials = _basic_credentials(request)
        if credentials is None or credentials[0] != station_id:
            return False
        # scrypt is deliberately slow: keep it off the event loop.
        return await asyncio.to_thread(verify_password, credentials[1], password_hash)

    async def handle(self, connection: ServerConnection) -> None:
        station_id: str = connection.station_id  # type: ignore[attr-defined]
        adapter: type[StationLink] = connection.adapter  # type: ignore[attr-defined]
        link = adapter(station_id, connection, self.services, rate_limit=self.rate_limit)
        await self.router.attach(station_id, link)
        try:
            await link.start()
        except ConnectionClosed:
            pass
        finally:
            self.router.detach(station_id, link)

    async def serve(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> Server:
        """Plain ws (security profile 1) or, with `tls`, wss (profiles 2 and 3)."""
        return await serve(self.handle, host, port, select_subprotocol=_select_subprotocol,
                           process_request=self.process_request, max_size=MAX_FRAME_BYTES,
                           ssl=tls, compression=None, extensions=[COMPRESSION])


def _select_subprotocol(connection: ServerConnection,
                        offered: Sequence[Subprotocol]) -> Subprotocol:
    """The one process_request chose for this station."""
    adapter: type[StationLink] = connection.adapter  # type: ignore[attr-defined]
    return Subprotocol(adapter.subprotocol)
