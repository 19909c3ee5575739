"""Reconnect delays: exponential with full jitter, so a fleet does not reconnect in step."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base_s: float = 1.0, cap_s: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.base_s, self.cap_s = base_s, cap_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** self.attempt)
        self.attempt += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
