"""Demand-response dispatch: watches the event table and pushes profiles to stations.

Operators create and cancel events in the database, with the CLI or the API; the running
central notices within a poll interval, sends overlay profiles to the live sessions in
scope and clears them on cancel, as domain commands the station's protocol adapter
translates.
"""

from __future__ import annotations

import asyncio
import logging

from central.domain.commands import ClearProfile, Command, NotConnected, SetProfile, Stations
from central.domain.services import CentralServices

log = logging.getLogger("central.domain.dispatch")


class DemandDispatcher:
    def __init__(self, services: CentralServices, stations: Stations,
                 poll_s: float = 1.0) -> None:
        self.services, self.stations, self.poll_s = services, stations, poll_s
        self._revision: tuple[int, str] | None = None
        self._applied: set[int] = set()
        self._cancelled: set[int] = set()

    async def run(self) -> None:
        while True:
            try:
                revision = await self.services.store.dr_revision()
                if revision != self._revision:
                    self._revision = revision
                    await self.dispatch()
            except Exception:  # a bad poll must not end DR dispatch for good
                log.exception("DR dispatch failed")
            await asyncio.sleep(self.poll_s)

    async def dispatch(self) -> None:
        now = self.services.clock.now()
        for event in await self.services.store.dr_events():
            if event.cancel_requested and event.id not in self._cancelled:
                self._cancelled.add(event.id)
                if event.cancelled_at is None:
                    for station, profile_id in await self.services.dr_cancel(event):
                        await self._send(station, ClearProfile(profile_id))
            elif not event.cancel_requested and event.id not in self._applied \
                    and event.ends > now:
                self._applied.add(event.id)
                for station, evse_id, profile in await self.services.dr_overlays(event):
                    await self._send(station, SetProfile(evse_id, profile))

    async def _send(self, station: str, command: Command) -> None:
        try:
            status = await self.stations.send(station, command)
        except NotConnected as error:
            log.warning("DR command not delivered", extra={"station": station,
                                                           "error": str(error)})
            return
        log.info("DR command answered", extra={"station": station,
                                               "command": type(command).__name__,
                                               "status": status})
