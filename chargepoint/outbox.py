"""Transaction messages waiting for the central's acknowledgement, in order.

Each TransactionEvent is queued when it happens and leaves the queue only when the
central has answered it; the sender retries across reconnects. (In memory for now: the
durable SQLite outbox that survives a restart is the reliability issue's job.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Pending:
    payload: Any
    done: asyncio.Future[Any] = field(repr=False)
    attempts: int = 0


class Outbox:
    def __init__(self) -> None:
        self._queue: deque[Pending] = deque()
        self._changed = asyncio.Condition()

    async def put(self, payload: Any) -> asyncio.Future[Any]:
        pending = Pending(payload, asyncio.get_running_loop().create_future())
        async with self._changed:
            self._queue.append(pending)
            self._changed.notify_all()
        return pending.done

    async def head(self) -> Pending:
        """The oldest unacknowledged message (waits for one)."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._queue))
            return self._queue[0]

    async def acknowledge(self, pending: Pending, response: Any) -> None:
        async with self._changed:
            if self._queue and self._queue[0] is pending:
                self._queue.popleft()
            self._changed.notify_all()
        if not pending.done.done():
            pending.done.set_result(response)

    async def drained(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._queue)

    def __len__(self) -> int:
        return len(self._queue)
