"""Run a program's event loop on uvloop where it is installed (faster sockets and timers),
else on asyncio's own, with the garbage collector set for a server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# CPython collects its youngest objects every 700 allocations. With 1,000 requests in
# flight, their frames, JSON and futures outlive that and are promoted although they die
# young, and every second or so that growth set off a full collection of the whole heap:
# measured 130-210 ms each, finding no garbage, a fifth of the central's time under load
# and its worst latencies. Collect young objects less often and the old ones rarely
# (cycles among them are nearly never garbage here; they are still collected).
GC_THRESHOLDS = (50_000, 20, 1000)


def run(main: Coroutine[Any, Any, T]) -> T:
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def started() -> None:
    """Leave what the program built to start (modules, routes, caches) out of every later
    collection: it lives as long as the process."""
    gc.freeze()
