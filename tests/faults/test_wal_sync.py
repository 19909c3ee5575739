"""An event is answered only once the write-ahead log holding it is on disk (the fdatasync
that synchronous=FULL would make inside COMMIT, made after it); a failed sync stops all
acknowledgement until a restart, after which the replay is counted once."""

import asyncio
import errno
import json
import os
import threading
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosedError

from central.store import SqliteStore, walsync
from central.store.errors import StorageUnavailable
from tests.integration.conftest import open_link, pev_central, rpc, running_central

REAL_SYNC = walsync._sync_data


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
        REAL_SYNC(fd)

    async with running_central(tmp_path) as central:
        wal = central.db.with_name(central.db.name + "-wal")
        link = await open_link(central)
        monkeypatch.setattr(walsync, "_sync_data", held_fdatasync)
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


async def test_a_batch_committed_while_the_wal_syncs_waits_for_the_next_sync(
        tmp_path, monkeypatch):
    syncs: list[threading.Event] = []
    syncing = threading.Event()

    def gated_fdatasync(fd: int) -> None:
        syncs.append(gate := threading.Event())
        syncing.set()
        gate.wait(30)
        REAL_SYNC(fd)

    async with running_central(tmp_path) as central:
        first, second = await open_link(central, "CP-1001"), await open_link(central, "CP-1002")
        monkeypatch.setattr(walsync, "_sync_data", gated_fdatasync)
        await first.send(json.dumps([2, "a", "TransactionEvent", started("tx-first")]))
        assert await asyncio.to_thread(syncing.wait, 10)  # committed, its sync under way
        await second.send(json.dumps([2, "b", "TransactionEvent", started("tx-second")]))
        await asyncio.sleep(0.3)  # committed meanwhile, after that sync began
        syncs[0].set()
        assert json.loads(await asyncio.wait_for(first.recv(), 5))[:2] == [3, "a"]
        with pytest.raises(TimeoutError):  # that sync may not have covered it
            await asyncio.wait_for(second.recv(), 0.5)
        assert len(syncs) == 2  # the next one is for it
        syncs[1].set()
        assert json.loads(await asyncio.wait_for(second.recv(), 5))[:2] == [3, "b"]
        await first.close()
        await second.close()


async def test_the_wal_synced_is_the_one_beside_a_symlinked_databases_file(tmp_path,
                                                                            monkeypatch):
    (tmp_path / "disk").mkdir()
    (tmp_path / "central.db").symlink_to(tmp_path / "disk" / "real.db")
    synced = []
    monkeypatch.setattr(walsync, "_sync_data",
                        lambda fd: synced.append(os.fstat(fd).st_ino) or REAL_SYNC(fd))
    store = await SqliteStore.open(tmp_path / "central.db")
    try:
        await store.record_seen("CP-1001", datetime.now(UTC))
        assert synced and set(synced) == {(tmp_path / "disk" / "real.db-wal").stat().st_ino}
        assert not (tmp_path / "central.db-wal").exists()
    finally:
        await store.close()


async def test_a_failed_wal_sync_acknowledges_nothing_until_a_restart(tmp_path, monkeypatch):
    def failing_fdatasync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    async with running_central(tmp_path) as central:
        monkeypatch.setattr(walsync, "_sync_data", failing_fdatasync)
        for transaction_id in ("tx-sync-failed", "tx-after-it"):
            link = await open_link(central)
            await link.send(json.dumps([2, "e0", "TransactionEvent", started(transaction_id)]))
            await asyncio.wait_for(link.wait_closed(), 10)
            assert link.close_code == 1011  # unanswered: the station keeps it to replay
            with pytest.raises(ConnectionClosedError):
                await link.recv()
        # the first was committed (a reader sees it), the second not even written
        assert [s.transaction_id for s in await central.store.sessions()] == [
            "tx-sync-failed"]
        monkeypatch.setattr(walsync, "_sync_data", REAL_SYNC)  # the disk is mended...
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
