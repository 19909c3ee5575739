"""The units of one transaction wait together for its outcome, each on its own."""

import asyncio

import pytest

from central.store.batch import Batch
from central.store.errors import StorageUnavailable


async def test_a_unit_cancelled_while_it_waits_leaves_the_others_waiting():
    batch = Batch()
    kept, gone = (asyncio.ensure_future(_wait(batch.join())) for _ in range(2))
    await asyncio.sleep(0)
    gone.cancel()
    batch.settle()
    assert await kept == "durable"
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_a_lost_batch_tells_every_unit_why():
    batch = Batch()
    waiting = [asyncio.ensure_future(_wait(batch.join())) for _ in range(3)]
    await asyncio.sleep(0)
    batch.settle("disk full")
    for unit in waiting:
        with pytest.raises(StorageUnavailable, match="disk full"):
            await unit


async def _wait(durable: asyncio.Future[None]) -> str:
    await durable
    return "durable"
