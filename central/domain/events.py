"""The live event feed: what happens in the central system, as it happens.

Services publish small JSON-able events; each subscriber (the API's event stream, and
through it the dashboard) gets its own bounded queue, so one slow reader can lose its
oldest events but never slows the OCPP path.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

QUEUE_SIZE = 1000


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._ids = itertools.count(1)

    @property
    def listened(self) -> bool:
        return bool(self._subscribers)

    def publish(self, kind: str, **data: Any) -> None:
        event = {"id": next(self._ids), "type": kind, **data}
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # drop the oldest for this slow reader
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
