"""Per-connection rate limit: a token bucket that delays, never drops.

A station flooding the central is slowed down to the configured rate by reading its next
frame only when a token is free; the socket's buffers then push back on the sender. Every
message is still answered, and other stations, served by the same event loop, never wait
for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    per_s: float = 20.0  # sustained messages per second per connection
    burst: int = 200  # messages accepted at once before the rate applies (an offline replay)

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")


class TokenBucket:
    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self._tokens = float(limit.burst)
        self._last = now

    def delay(self, now: float) -> float:
        """Take a token for one message: the seconds to wait before handling it (0: none)."""
        self._tokens = min(self.limit.burst,
                           self._tokens + (now - self._last) * self.limit.per_s)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.limit.per_s
