"""The one way CSMS-initiated calls reach a station.

The API and demand response send commands through here, never to a socket directly, so
a multi-node central system later only swaps this class.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from central.events import EventBus

log = logging.getLogger("central.router")


class Link(Protocol):
    async def call(self, payload: Any, suppress: bool = True) -> Any: ...

    async def close(self, reason: str) -> None: ...


class NotConnected(LookupError):
    pass


class CommandRouter:
    def __init__(self, bus: EventBus | None = None) -> None:
        self._links: dict[str, Link] = {}
        self.bus = bus or EventBus()

    async def attach(self, station_id: str, link: Link) -> None:
        """Route to `link` from now on; a previous connection of the station is closed."""
        previous = self._links.get(station_id)
        self._links[station_id] = link
        log.info("station connected", extra={"station": station_id,
                                             "replaces_previous": previous is not None})
        self.bus.publish("station.connected", station=station_id)
        if previous is not None:
            await previous.close("replaced by a newer connection of this station")

    def detach(self, station_id: str, link: Link) -> None:
        if self._links.get(station_id) is link:
            del self._links[station_id]
            log.info("station disconnected", extra={"station": station_id})
            self.bus.publish("station.disconnected", station=station_id)

    def connected(self) -> list[str]:
        return sorted(self._links)

    async def call(self, station_id: str, payload: Any) -> Any:
        link = self._links.get(station_id)
        if link is None:
            raise NotConnected(f"station {station_id!r} is not connected")
        try:
            return await link.call(payload, suppress=False)
        except ConnectionClosed:
            raise NotConnected(f"station {station_id!r} went away before answering") from None
