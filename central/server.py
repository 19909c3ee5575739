"""WebSocket accept: path /ocpp/<station_id>, subprotocol and Basic auth before the upgrade."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from http import HTTPStatus
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from central.compression import COMPRESSION
from central.passwords import verify_password
from central.ratelimit import RateLimit
from central.registry import CERTIFICATE_PROFILE
from central.router import CommandRouter
from central.services import CentralServices
from central.station import StationLink
from central.tls import client_common_name
from shared.ocpp201 import SUBPROTOCOL

log = logging.getLogger("central.server")

PATH_PREFIX = "/ocpp/"
MAX_FRAME_BYTES = 64 * 1024


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
        """Refuse before the upgrade: unknown path 404, no OCPP subprotocol 400, auth 401/403."""
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND,
                                      "connect to /ocpp/<station id>\n")
        if SUBPROTOCOL not in _offered_subprotocols(request):
            log.warning("refused: subprotocol", extra={"station": station_id})
            return connection.respond(HTTPStatus.BAD_REQUEST,
                                      f"offer the WebSocket subprotocol {SUBPROTOCOL}\n")
        refusal = await self._refusal(station_id, request, connection)
        if refusal is not None:
            status, reason = refusal
            log.warning("refused: authentication", extra={"station": station_id,
                                                           "reason": reason})
            response = connection.respond(status, reason + "\n")
            if status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        connection.station_id = station_id  # type: ignore[attr-defined]
        return None

    async def _refusal(self, station_id: str, request: Request,
                       connection: ServerConnection) -> tuple[HTTPStatus, str] | None:
        """Why this station may not connect this way (OCPP security profiles), or None.

        Nothing is told about a station before it has shown a credential: an unknown
        station and a wrong password get the same answer.
        """
        unknown = (HTTPStatus.UNAUTHORIZED, "unknown station or wrong password")
        station = await self.services.store.station(station_id)
        if station is None:
            return unknown
        ssl_object = connection.transport.get_extra_info("ssl_object")
        if station.security_profile == CERTIFICATE_PROFILE:
            common_name = client_common_name(ssl_object)
            if common_name is None:
                return (HTTPStatus.UNAUTHORIZED, "security profile 3: connect over TLS with "
                                                 "this station's client certificate")
            if common_name != station_id:
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
        link = StationLink(station_id, connection, self.services, rate_limit=self.rate_limit)
        await self.router.attach(station_id, link)
        try:
            await link.start()
        except ConnectionClosed:
            pass
        finally:
            self.router.detach(station_id, link)

    async def serve(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> Server:
        """Plain ws (security profile 1) or, with `tls`, wss (profiles 2 and 3)."""
        return await serve(self.handle, host, port, subprotocols=[Subprotocol(SUBPROTOCOL)],
                           process_request=self.process_request, max_size=MAX_FRAME_BYTES,
                           ssl=tls, compression=None, extensions=[COMPRESSION])
