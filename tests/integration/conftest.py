"""A real central system on a real port with a real SQLite file, and real agent processes."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from central.domain.certificates import StationCa
from central.domain.dispatch import DemandDispatcher
from central.domain.registry import Registry
from central.domain.services import CentralServices
from central.operator.api import create_app, start_api
from central.protocol.router import CommandRouter
from central.protocol.server import OcppServer
from central.store import SqliteStore
from shared.clock import Clock
from shared.units import money
from tests.helpers import LA, ROOT, example_registry, local

AGENT_TIMEOUT_S = 120
EVENING = local(2026, 11, 22, 20, 0)  # where every test central's clock starts
SPEED = 3000  # simulated seconds per real second: an evening passes in seconds


def tonight(hh_mm: str) -> str:
    """A plug-in time on EVENING's evening, as an instant: "HH:MM" alone means its next
    occurrence, so an agent that starts a little late (0.6 s is 30 minutes at SPEED)
    would wait for the next day."""
    return datetime.combine(EVENING.astimezone(LA).date(), time.fromisoformat(hh_mm),
                            LA).isoformat()
PASSWORDS = {"CP-1001": "alder-lane-evse-2026", "CP-1002": "birch-road-evse-2026",
             "CP-1003": "cedar-court-portal-2026"}


@dataclass
class Central:
    url: str
    store: SqliteStore
    clock: Clock
    router: CommandRouter
    db: Path
    services: CentralServices

    @property
    def speed(self) -> float:
        return self.clock.speed


@asynccontextmanager
async def running_central(directory: Path, port: int = 0, speed: float = SPEED,
                          registry: Registry | None = None,
                          tls: ssl.SSLContext | None = None,
                          start: datetime | None = None,
                          station_ca: StationCa | None = None) -> AsyncIterator[Central]:
    """The central system in this event loop, its clock at `start` (default EVENING,
    20:00 on a winter evening)."""
    db = directory / "central.db"
    store = await SqliteStore.open(db)
    await store.import_registry(registry or example_registry())
    clock = Clock(speed, start=start or EVENING)
    router = CommandRouter()
    services = CentralServices(store, clock, bus=router.bus, station_ca=station_ca)
    server = await OcppServer(services, router).serve("127.0.0.1", port, tls)
    port = server.sockets[0].getsockname()[1]
    dispatcher = asyncio.create_task(DemandDispatcher(services, router, poll_s=0.1).run())
    try:
        scheme = "wss" if tls else "ws"
        yield Central(f"{scheme}://127.0.0.1:{port}/ocpp", store, clock, router, db, services)
    finally:
        dispatcher.cancel()
        server.close()
        await server.wait_closed()
        await store.close()


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[Central]:
    async with running_central(tmp_path) as running:
        yield running


WINTER_PEAK = local(2026, 11, 22, 20, 30)  # half an hour of winter peak, to 21:00


@pytest.fixture
async def peak_central(tmp_path: Path) -> AsyncIterator[Central]:
    """At WINTER_PEAK, its clock at real speed: for stations that send their own times."""
    async with running_central(tmp_path, start=WINTER_PEAK, speed=1) as running:
        yield running


async def cost_in_one_period(central: Central, session: Any, wh: int) -> Decimal:
    """The bill for `wh` metered inside one tariff period, from the session's tariff."""
    tariff = await central.store.tariff(session.tariff_id)
    return money(Decimal(wh) / 1000 * tariff.price_at(session.started_at))


@pytest.fixture
async def slow_central(tmp_path: Path) -> AsyncIterator[Central]:
    """At 600x, for tests where an operator acts while a session runs."""
    async with running_central(tmp_path, speed=600) as running:
        yield running


async def pev_central(*args: str) -> tuple[int, str, str]:
    """Run a `pev-central` command as a real process: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


API_TOKEN = "test-operator-token-0123456789"


@dataclass
class Api:
    url: str
    central: Central
    server: Any
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Take the API down, as a restart of the central would."""
        self.server.should_exit = True
        await self.task

    def client(self, token: str | None = API_TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


@pytest.fixture
async def api(central: Central) -> AsyncIterator[Api]:
    """The operator API on a real port, in the central's event loop."""
    app = create_app(central.services, central.router, API_TOKEN, command_timeout_s=1.5)
    server, task, port = await start_api(app, "127.0.0.1", 0)
    try:
        yield Api(f"http://127.0.0.1:{port}", central, server, task)
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AgentRun:
    returncode: int
    summary: dict[str, Any] | None
    logs: list[dict[str, Any]]
    stderr: str

    def log(self, message: str) -> dict[str, Any]:
        return next(entry for entry in self.logs if entry.get("msg") == message)


async def start_agent(url: str, station: str, *args: str, password: str | None = None,
                      state_dir: Path, speed: float = SPEED) -> asyncio.subprocess.Process:
    """Start `pev-chargepoint run` as a real process against the central at `url`
    (`password` "": none, as a security profile 3 station)."""
    password = PASSWORDS[station] if password is None else password
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "run", "--central", url,
        "--station", station, *(["--password", password] if password else []),
        "--speed", str(speed), "--timezone", "America/Los_Angeles",
        "--state-dir", str(state_dir), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)


async def finished(process: asyncio.subprocess.Process) -> AgentRun:
    talk = asyncio.ensure_future(process.communicate())
    if not (await asyncio.wait([talk], timeout=AGENT_TIMEOUT_S))[0]:
        process.kill()  # its output so far still comes through `talk`, to say why
        pytest.fail(f"the agent still ran after {AGENT_TIMEOUT_S} s; its log ends:\n"
                    + (await talk)[1].decode()[-6000:])
    stdout, stderr = talk.result()
    text = stderr.decode()
    logs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    out = stdout.decode().strip()
    assert process.returncode is not None
    return AgentRun(process.returncode, json.loads(out) if out else None, logs, text)


async def run_agent(central: Central, station: str, *args: str, password: str | None = None,
                    state_dir: Path) -> AgentRun:
    """Run one agent process to its end against the central."""
    return await finished(await start_agent(central.url, station, *args, password=password,
                                            state_dir=state_dir, speed=central.speed))


async def open_link(central: Any, station: str = "CP-1001", *,
                    password: str | None = None, subprotocols: list[str] | None = None,
                    tls: ssl.SSLContext | None = None,
                    **options: Any) -> websockets.ClientConnection:
    """A raw OCPP-J client connection to `central.url`, for sending exactly the frames a
    test wants (`password` "": no Basic auth; `options` go to websockets.connect)."""
    password = PASSWORDS.get(station, "x") if password is None else password
    credentials = base64.b64encode(f"{station}:{password}".encode()).decode()
    return await websockets.connect(
        f"{central.url}/{station}",
        subprotocols=subprotocols if subprotocols is not None else ["ocpp2.0.1"],
        additional_headers={"Authorization": "Basic " + credentials} if password else {},
        ssl=tls, **options)


async def rpc(link: websockets.ClientConnection, action: str, payload: Any,
              message_id: str = "m1") -> list[Any]:
    await link.send(json.dumps([2, message_id, action, payload]))
    return await next_frame(link)


async def next_frame(link: websockets.ClientConnection) -> list[Any]:
    """The next frame from the central, but for its running costs (CostUpdated), which
    are answered and passed over: a raw client has no display to show them on."""
    while True:
        frame: list[Any] = json.loads(await asyncio.wait_for(link.recv(), 10))
        if frame[:1] != [2] or frame[2] != "CostUpdated":
            return frame
        await link.send(json.dumps([3, frame[1], {}]))
