"""One clock for both sides: real time, or accelerated so a night's charge runs in a minute.

Simulated time = anchor + (wall time elapsed since anchoring) x speed. A charge point
re-anchors on the central's `currentTime` (BootNotificationResponse), the way a real
charger sets its clock, so both sides agree without sharing anything but the speed.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from shared.timeutil import require_utc


class Clock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._anchor = require_utc(start) if start else datetime.now(UTC)
        self._wall_anchor = time.time()

    def now(self) -> datetime:
        elapsed = (time.time() - self._wall_anchor) * self.speed
        return self._anchor + timedelta(seconds=elapsed)

    def sync(self, moment: datetime) -> None:
        """Set the clock to `moment` (e.g. the central's currentTime)."""
        self._anchor = require_utc(moment)
        self._wall_anchor = time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of clock time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until(self, moment: datetime) -> None:
        # A loop, not one sleep: the event loop's timer may wake a little early.
        while (remaining := (moment - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining / self.speed)
