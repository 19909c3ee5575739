"""A commit's fdatasync, made once the commit has let go of the database's write lock.

In WAL mode SQLite's synchronous=FULL is NORMAL plus one sync of the WAL file after each
commit (sqlite.org/pragma.html#pragma_synchronous), and the commit holds the write lock
until that sync returns: no unit could run a statement meanwhile, and under load the
units waiting for the lock were most of the central's idle time. The writer runs NORMAL
and WalSync makes the same sync of the same file after the COMMIT has returned. A batch
of units is told it is durable only by an fdatasync that began after its COMMIT
returned, so an acknowledged event is on disk exactly as with FULL. Checkpoints sync the
WAL before they copy it and the database after, in NORMAL as in FULL. (Unlike FULL, a
reader outside the units, the API or a CLI command, may see a commit a moment before it
is on disk: what a crash of the process cannot lose, a power cut could, and the station
then replays it, as it was not answered.)

A failed fdatasync may have lost what it was given while later ones succeed (the kernel
can drop pages it could not write), so from then on no unit of work is accepted and no
batch acknowledged until the store is opened again; SQLite's recovery then keeps what is
on disk, and the stations replay what was not answered.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from central.store.batch import Batch
from central.store.errors import StorageUnavailable

log = logging.getLogger("central.store")
# as SQLite syncs: only the data and what reading it back needs (fsync where there is no
# fdatasync, as on macOS)
_sync_data = getattr(os, "fdatasync", os.fsync)


class WalSync:
    def __init__(self, wal: Path) -> None:
        try:
            self._fd = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise StorageUnavailable(f"cannot open the write-ahead log {wal}: {error}") \
                from error
        self._committed: list[Batch] = []  # each waits for the next sync
        self._syncing: asyncio.Task[None] | None = None
        self.failure: str | None = None  # why nothing can be acknowledged any more

    def committed(self, batch: Batch) -> None:
        """`batch` has just been committed: settle it once that is on disk."""
        if self.failure is not None:
            batch.settle(self.failure)
            return
        self._committed.append(batch)
        if self._syncing is None:
            self._syncing = asyncio.create_task(self._sync())

    async def _sync(self) -> None:
        """One fdatasync at a time; the batches committed while it runs wait for the next
        one, which covers them all."""
        try:
            while self._committed:
                batches, self._committed = self._committed, []
                try:
                    await asyncio.to_thread(_sync_data, self._fd)
                except BaseException as error:  # an OSError, or the loop shutting down
                    self._fail(error, [*batches, *self._committed])
                    self._committed = []
                    if isinstance(error, OSError):
                        return
                    raise
                for batch in batches:
                    batch.settle()
        finally:
            self._syncing = None

    def _fail(self, error: BaseException, batches: list[Batch]) -> None:
        self.failure = f"the write-ahead log could not be synced ({error!r}): nothing " \
                       "more is acknowledged until the central is restarted"
        log.critical("write-ahead log sync failed", extra={"error": repr(error)})
        for batch in batches:
            batch.settle(self.failure)

    async def close(self) -> None:
        """After the last commit: wait for its sync, then let go of the file."""
        if self._syncing is not None:
            await asyncio.wait([self._syncing])
        os.close(self._fd)
