"""An event is answered only once the write-ahead log holding it is on disk (the fdatasync
that synchronous=FULL would make inside COMMIT, made after it); a failed sync stops all
acknowledgement until a restart, after which the replay is counted once."""

import asyncio
import errno
import json
import os
import threading

import pytest
from websockets.exceptions import ConnectionClosedError

from central.store import SqliteStore
from central.store.errors import StorageUnavailable
from tests.integration.conftest import open_link, pev_central, rpc, running_central

REAL_FDATASYNC = os.fdatasync


def started(transaction_id: str) -> dict:
    return {"eventType": "Started", "timestamp": "2026-11-23T04:00:00Z",
            "triggerReason": "CablePluggedIn", "seqNo": 0,
            "transactionInfo": {"transactionId": transaction_id}, "evse": {"id": 1},
            "meterValue": [{"timestamp": "2026-11-23T04:00:00Z", "sampledValue": [
                {"value": 1000, "measurand": "Energy.Active.Import.Register",
                 "context": "Transaction.Begin", "location": "Outlet"}]}]}


async def test_an_event_is_answered_only_after_its_wal_is_synced(tmp_path, monkeypatch):
    synced_files = []
    gate = threading.Event()

    def held_fdatasync(fd: int) -> None:
        synced_files.append((os.fstat(fd).st_ino, os.fstat(fd).st_size))
        gate.wait(30)
        REAL_FDATASYNC(fd)

    async with running_central(tmp_path) as central:
        wal = central.db.with_name(central.db.name + "-wal")
        link = await open_link(central)
        monkeypatch.setattr(os, "fdatasync", held_fdatasync)
        size_before = wal.stat().st_size
        await link.send(json.dumps([2, "e0", "TransactionEvent", started("tx-held")]))
        with pytest.raises(TimeoutError):  # committed, not yet on disk: no answer
            await asyncio.wait_for(link.recv(), 0.5)
        # the sync is of this database's WAL, after the COMMIT wrote the event to it
        assert synced_files and synced_files[0][0] == wal.stat().st_ino
        assert synced_files[0][1] > size_before
        gate.set()
        reply = json.loads(await asyncio.wait_for(link.recv(), 5))
        assert reply[:2] == [3, "e0"]
        await link.close()


async def test_a_failed_wal_sync_acknowledges_nothing_until_a_restart(tmp_path, monkeypatch):
    def failing_fdatasync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    async with running_central(tmp_path) as central:
        monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
        for transaction_id in ("tx-sync-failed", "tx-after-it"):
            link = await open_link(central)
            await link.send(json.dumps([2, "e0", "TransactionEvent", started(transaction_id)]))
            await asyncio.wait_for(link.wait_closed(), 10)
            assert link.close_code == 1011  # unanswered: the station keeps it to replay
            with pytest.raises(ConnectionClosedError):
                await link.recv()
        monkeypatch.setattr(os, "fdatasync", REAL_FDATASYNC)  # the disk is mended...
        link = await open_link(central)
        await link.send(json.dumps([2, "e1", "TransactionEvent", started("tx-after-it")]))
        await asyncio.wait_for(link.wait_closed(), 10)  # ... but a restart is needed
        assert link.close_code == 1011

    async with running_central(tmp_path) as central:
        link = await open_link(central)
        for transaction_id in ("tx-sync-failed", "tx-after-it"):
            reply = await rpc(link, "TransactionEvent", started(transaction_id), "replayed")
            assert reply[0] == 3
        await link.close()
        sessions = await central.store.sessions()
        assert sorted(s.transaction_id for s in sessions) == ["tx-after-it", "tx-sync-failed"]
        for session in sessions:
            assert len(await central.store.events(session.station_id,
                                                  session.transaction_id)) == 1


async def test_a_database_without_a_write_ahead_log_is_refused():
    with pytest.raises(StorageUnavailable, match="write-ahead log"):
        await SqliteStore.open(":memory:")
    code, _, err = await pev_central("serve", "--db", ":memory:", "--port", "0")
    assert code == 2 and "keeps no write-ahead log" in err
