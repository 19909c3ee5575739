"""The one way CSMS-initiated calls reach a station.

Demand response and the operator send through here, never to a socket directly: a
domain command (`send`), which the station's protocol adapter turns into its OCPP
version's message, or an operator's raw request in that version (`relay`). A multi-node
central system later only swaps this class.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from central.domain.commands import Command, NotConnected
from central.domain.events import EventBus

log = logging.getLogger("central.protocol.router")


class Link(Protocol):
    """A station's live connection, through its version's protocol adapter."""

    @property
    def ocpp_version(self) -> str: ...

    async def execute(self, command: Command) -> str: ...

    async def exchange(self, action: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    def sends(self, action: str) -> bool: ...

    async def close(self, reason: str) -> None: ...


class UnknownAction(LookupError):
    """Not a request a CSMS sends in the station's OCPP version."""


class CommandRouter:
    def __init__(self, bus: EventBus | None = None) -> None:
        self._links: dict[str, Link] = {}
        self.bus = bus or EventBus()

    async def attach(self, station_id: str, link: Link) -> None:
        """Route to `link` from now on; a previous connection of the station is closed."""
        previous = self._links.get(station_id)
        self._links[station_id] = link
        log.info("station connected", extra={"station": station_id,
                                             "ocpp": link.ocpp_version,
                                             "replaces_previous": previous is not None})
        self.bus.publish("station.connected", station=station_id, ocpp=link.ocpp_version)
        if previous is not None:
            await previous.close("replaced by a newer connection of this station")

    def detach(self, station_id: str, link: Link) -> None:
        if self._links.get(station_id) is link:
            del self._links[station_id]
            log.info("station disconnected", extra={"station": station_id})
            self.bus.publish("station.disconnected", station=station_id)

    def connected(self) -> list[str]:
        return sorted(self._links)

    def version(self, station_id: str) -> str | None:
        """The OCPP version the station's live connection speaks; None if not connected."""
        link = self._links.get(station_id)
        return None if link is None else link.ocpp_version

    async def send(self, station_id: str, command: Command) -> str:
        """Satisfies central.domain.commands.Stations."""
        link = self._link(station_id)
        try:
            return await link.execute(command)
        except ConnectionClosed:
            raise NotConnected(f"station {station_id!r} went away before answering") from None

    async def relay(self, station_id: str, action: str,
                    payload: dict[str, Any]) -> dict[str, Any]:
        """An operator's request, camelCase as on the wire, in the station's own OCPP
        version; its answer the same way. UnknownAction, the schema's OCPPError (nothing
        sent), shared.fast_calls.CallErrorAnswer, TimeoutError, NotConnected."""
        link = self._link(station_id)
        if not link.sends(action):
            raise UnknownAction(f"{action!r} is not an OCPP {link.ocpp_version} request a "
                                "CSMS sends")
        try:
            return await link.exchange(action, payload)
        except ConnectionClosed:
            raise NotConnected(f"station {station_id!r} went away before answering") from None

    def _link(self, station_id: str) -> Link:
        link = self._links.get(station_id)
        if link is None:
            raise NotConnected(f"station {station_id!r} is not connected")
        return link
