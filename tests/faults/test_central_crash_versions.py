"""kill -9 of the central in the middle of a session carried by OCPP 1.6J or 2.1, with a
station that is not our code: the station sends again what was not answered, after a
restart, and the session is billed exactly its register delta, once."""

import asyncio
import signal
from datetime import timedelta
from decimal import Decimal

import pytest
from websockets.exceptions import ConnectionClosed

from central.store import SqliteStore
from shared.units import money
from tests.faults.processes import start_central
from tests.helpers import example_registry, local
from tests.integration.conftest import PASSWORDS, free_port
from tests.third_party import third_party_station
from tests.third_party_v16 import third_party_station_16

EVENING = local(2026, 11, 22, 20, 30)  # winter peak, to 21:00
MINUTE = timedelta(minutes=1)
READINGS = 20  # a reading a minute; the central is killed after the 10th


class Station16:
    """A 1.6 session's messages, each sent until it is answered."""

    def __init__(self, url):
        self.url = url
        self.transaction_id = None

    def connect(self):
        return third_party_station_16(self.url, "CP-1001", PASSWORDS["CP-1001"])

    async def send(self, cp, n):
        if n == 0:
            self.transaction_id = (await cp.start_transaction("PEV-0001", 50_000,
                                                              EVENING)).transaction_id
        elif n < READINGS:
            await cp.meter(self.transaction_id, EVENING + n * MINUTE, 50_000 + 100 * n)
        else:
            await cp.stop_transaction(self.transaction_id, 50_000 + 100 * n,
                                      EVENING + n * MINUTE)


class Station21:
    """A 2.1 session's events, seqNo counted; one unanswered is sent again as it was."""

    transaction_id = "tx-crash"

    def __init__(self, url):
        self.url = url

    def connect(self):
        return third_party_station(self.url, "CP-1001", PASSWORDS["CP-1001"], version="2.1")

    async def send(self, cp, n):
        cp._seq_nos[self.transaction_id] = iter([n])
        kind = "Started" if n == 0 else "Ended" if n == READINGS else "Updated"
        extra = {"id_token": "PEV-0001", "trigger": "CablePluggedIn"} if n == 0 else \
            {"trigger": "EVCommunicationLost", "stopped_reason": "EVDisconnected"} \
            if n == READINGS else {}
        await cp.event(kind, self.transaction_id, EVENING + n * MINUTE,
                       50_000 + 100 * n, **extra)


@pytest.mark.parametrize("kind", [Station16, Station21], ids=["1.6", "2.1"])
async def test_kill_9_mid_session_loses_nothing_and_bills_nothing_twice(tmp_path, kind):
    db = tmp_path / "central.db"
    store = await SqliteStore.open(db)
    await store.import_registry(example_registry())
    await store.close()
    port, log = free_port(), tmp_path / "central.log"
    central = await start_central(db, port, EVENING, log, 1)
    station = kind(f"ws://127.0.0.1:{port}/ocpp")
    n, killed = 0, False
    try:
        while n <= READINGS:
            try:
                async with station.connect() as cp:
                    while n <= READINGS:
                        sending = asyncio.ensure_future(station.send(cp, n))
                        if n == READINGS // 2 and not killed:
                            await asyncio.sleep(0.002)  # on its way; kept, perhaps
                            central.send_signal(signal.SIGKILL)
                            await central.wait()
                            killed = True
                        await asyncio.wait_for(sending, 5)
                        n += 1
            except (OSError, ConnectionClosed, TimeoutError):
                central = await start_central(db, port, EVENING + n * MINUTE, log, 1)
    finally:
        central.send_signal(signal.SIGTERM)
        await central.wait()
    store = await SqliteStore.open(db)
    try:
        [session] = await store.sessions()
        assert (session.transaction_id, session.status) == (str(station.transaction_id),
                                                            "ended")
        assert session.energy_wh == 100 * READINGS
        tariff = await store.tariff(session.tariff_id)
        assert session.cost_total == money(Decimal(100 * READINGS) / 1000
                                           * tariff.price_at(EVENING))
        readings = await store.readings(session.id)
        assert sorted({r.timestamp for r in readings}) == \
            [EVENING + m * MINUTE for m in range(READINGS + 1)]
        assert session.complete
    finally:
        await store.close()
