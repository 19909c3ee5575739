"""A lean OCPP load generator: N stations over real WebSockets, each running a real
transaction: in 2.0.1, Started with the PEV's idToken, Updated with meter values, Ended;
in 1.6 (`--ocpp 1.6`), StartTransaction, MeterValues, StopTransaction.

Not the full agent: frames are built from templates and only the reply's id is read, so
the generator spends as little CPU as it can and the server is what is measured.

Modes: `closed` (every station sends its next Updated as soon as the last is answered:
the server's maximum), `rate` (a fixed total offered rate, spread over the stations:
latency at a given load), `idle` (connect, then heartbeats only: memory per connection).
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from shared.eventloop import run

HANDSHAKES = asyncio.Semaphore(200)  # at once: a crowd of 20,000 would time out its own


@dataclass
class Tally:
    """Round trips counted inside the measuring window (after the warm-up)."""

    window_start: float = 0.0
    window_end: float = 0.0
    latencies_us: list[int] = field(default_factory=list)
    errors: int = 0
    connected: int = 0

    def record(self, sent: float, answered: float) -> None:
        if self.window_start <= sent and answered <= self.window_end:
            self.latencies_us.append(int((answered - sent) * 1e6))


class Station:
    subprotocol = "ocpp2.0.1"

    def __init__(self, number: int, base: datetime) -> None:
        self.id = f"CP-{number:05d}"
        self.pev = f"PEV-{number:05d}"
        self.transaction_id = f"bench-{number:05d}-{int(time.time())}"
        self.base = base
        self.seq_no = 0
        self.register_wh = 1_000_000 + number
        self.message_id = 0

    def _frame(self, action: str, payload: dict[str, Any]) -> tuple[str, str]:
        self.message_id += 1
        message_id = str(self.message_id)
        return message_id, json.dumps([2, message_id, action, payload])

    def _event(self, event_type: str, trigger: str, context: str,
               extra: dict[str, Any]) -> tuple[str, str]:
        at = (self.base + timedelta(seconds=self.seq_no)).isoformat().replace("+00:00", "Z")
        payload = {
            "eventType": event_type, "timestamp": at, "triggerReason": trigger,
            "seqNo": self.seq_no, "transactionInfo": {"transactionId": self.transaction_id},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": at, "sampledValue": [
                {"value": self.register_wh, "context": context,
                 "measurand": "Energy.Active.Import.Register", "location": "Outlet",
                 "unitOfMeasure": {"unit": "Wh"}},
                {"value": 7200, "context": context, "measurand": "Power.Active.Import",
                 "location": "Outlet", "unitOfMeasure": {"unit": "W"}}]}],
            **extra}
        self.seq_no += 1
        self.register_wh += 2  # 7.2 kW for one second
        return self._frame("TransactionEvent", payload)

    def started(self) -> tuple[str, str]:
        return self._event("Started", "CablePluggedIn", "Transaction.Begin",
                           {"idToken": {"idToken": self.pev, "type": "Central"}})

    def updated(self) -> tuple[str, str]:
        return self._event("Updated", "MeterValuePeriodic", "Sample.Periodic", {})

    def ended(self) -> tuple[str, str]:
        frame = self._event("Ended", "EVCommunicationLost", "Transaction.End", {})
        return frame

    def heartbeat(self) -> tuple[str, str]:
        return self._frame("Heartbeat", {})

    def answered(self, reply: list[Any]) -> None:
        """What the station keeps of an answer (2.0.1: nothing)."""


class Station16(Station):
    """The same transaction in OCPP 1.6J messages; the central assigns its id."""

    subprotocol = "ocpp1.6"

    def _at(self) -> str:
        at = (self.base + timedelta(seconds=self.seq_no)).isoformat().replace("+00:00", "Z")
        self.seq_no += 1
        self.register_wh += 2  # 7.2 kW for one second
        return at

    def started(self) -> tuple[str, str]:
        return self._frame("StartTransaction", {"connectorId": 1, "idTag": self.pev,
                                                "meterStart": self.register_wh,
                                                "timestamp": self._at()})

    def answered(self, reply: list[Any]) -> None:
        if reply[0] == 3 and "transactionId" in reply[2]:
            self.transaction_id = reply[2]["transactionId"]

    def updated(self) -> tuple[str, str]:
        register, at = self.register_wh, self._at()
        return self._frame("MeterValues", {
            "connectorId": 1, "transactionId": self.transaction_id, "meterValue": [{
                "timestamp": at, "sampledValue": [
                    {"value": str(register), "context": "Sample.Periodic", "unit": "Wh",
                     "measurand": "Energy.Active.Import.Register", "location": "Outlet"},
                    {"value": "7200", "context": "Sample.Periodic", "unit": "W",
                     "measurand": "Power.Active.Import", "location": "Outlet"}]}]})

    def ended(self) -> tuple[str, str]:
        register, at = self.register_wh, self._at()
        return self._frame("StopTransaction", {"transactionId": self.transaction_id,
                                               "meterStop": register, "timestamp": at,
                                               "reason": "EVDisconnected"})


STATIONS = {"2.0.1": Station, "1.6": Station16}
# what the central may ask of a station here, answered as a station would
ANSWERS: dict[str, dict[str, Any]] = {"CostUpdated": {},
                                      "GetConfiguration": {"configurationKey": []}}


async def round_trip(link: ClientConnection, station: Station, frame: tuple[str, str],
                     tally: Tally) -> None:
    message_id, text = frame
    sent = time.perf_counter()
    await link.send(text)
    while True:
        reply = json.loads(await link.recv())
        if reply[1] == message_id:
            break
        if reply[0] == 2:  # the central asks something (a profile, a cost): say yes
            answer = ANSWERS.get(reply[2], {"status": "Accepted"})
            await link.send(json.dumps([3, reply[1], answer]))
    tally.record(sent, time.perf_counter())
    station.answered(reply)
    if reply[0] == 4:
        tally.errors += 1


async def connect(url: str, station: Station, password: str,
                  compression: bool) -> ClientConnection:
    credentials = base64.b64encode(f"{station.id}:{password}".encode()).decode()
    for attempt in range(20):
        try:
            async with HANDSHAKES:
                return await websockets.connect(
                    f"{url}/{station.id}",
                    subprotocols=[websockets.Subprotocol(station.subprotocol)],
                    additional_headers={"Authorization": f"Basic {credentials}"},
                    open_timeout=60, ping_interval=None, max_size=2**20,
                    compression="deflate" if compression else None)
        except (OSError, TimeoutError, websockets.InvalidStatus, websockets.InvalidMessage):
            await asyncio.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"{station.id} could not connect")


async def run_station(url: str, station: Station, password: str, tally: Tally,
                      connected: asyncio.Event, go: asyncio.Event, stop_at: list[float],
                      interval_s: float | None, mode: str, phase: float,
                      compression: bool) -> None:
    """`phase` (0..1) spreads the stations' sends evenly over each interval."""
    link = await connect(url, station, password, compression)
    tally.connected += 1
    connected.set()
    try:
        await go.wait()
        if interval_s is not None:
            await asyncio.sleep(phase * interval_s)
        if mode == "idle":
            while time.perf_counter() < stop_at[0]:
                await round_trip(link, station, station.heartbeat(), tally)
                await asyncio.sleep(interval_s or 30)
            return
        await round_trip(link, station, station.started(), tally)
        next_at = time.perf_counter()
        while time.perf_counter() < stop_at[0]:
            if interval_s is not None:  # open loop: keep to the schedule, late or not
                next_at += interval_s
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await round_trip(link, station, station.updated(), tally)
        await round_trip(link, station, station.ended(), tally)
    finally:
        with contextlib.suppress(Exception):
            await link.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    base = datetime.now(UTC).replace(microsecond=0)
    stations = [STATIONS[args.ocpp](args.first + n, base) for n in range(args.stations)]
    tally = Tally()
    go = asyncio.Event()
    stop_at = [float("inf")]
    interval = args.stations / args.rate if args.mode == "rate" else None
    if args.mode == "idle":
        interval = args.heartbeat_s
    connected_events = [asyncio.Event() for _ in stations]
    tasks = []
    connect_started = time.perf_counter()
    for n, (station, event) in enumerate(zip(stations, connected_events, strict=True)):
        tasks.append(asyncio.create_task(run_station(
            args.url, station, args.password, tally, event, go, stop_at, interval, args.mode,
            n / len(stations), not args.no_compression)))
        if n % 100 == 99:
            await asyncio.sleep(0)  # let the handshakes progress
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in connected_events)),
                           args.connect_timeout_s)
    connect_s = time.perf_counter() - connect_started
    print(json.dumps({"connected": tally.connected, "connect_s": round(connect_s, 2)}),
          flush=True)
    if args.hold:  # idle: wait to be told (a line on stdin) before the heartbeats start
        await asyncio.get_running_loop().run_in_executor(None, input)
    now = time.perf_counter()
    tally.window_start = now + args.warmup_s
    tally.window_end = now + args.warmup_s + args.duration_s
    stop_at[0] = tally.window_end
    go.set()
    await asyncio.gather(*tasks)
    latencies = sorted(tally.latencies_us)

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1000

    return {"mode": args.mode, "stations": args.stations, "connected": tally.connected,
            "connect_s": round(connect_s, 2), "round_trips": len(latencies),
            "round_trips_per_s": round(len(latencies) / args.duration_s, 1),
            "p50_ms": percentile(50), "p95_ms": percentile(95), "p99_ms": percentile(99),
            "errors": tally.errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="e.g. ws://127.0.0.1:9000/ocpp")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--first", type=int, default=1, help="number of the first station")
    parser.add_argument("--password", required=True)
    parser.add_argument("--mode", choices=("closed", "rate", "idle"), default="closed")
    parser.add_argument("--ocpp", choices=tuple(STATIONS), default="2.0.1")
    parser.add_argument("--rate", type=float, default=1000, help="messages/s in rate mode")
    parser.add_argument("--heartbeat-s", type=float, default=30)
    parser.add_argument("--warmup-s", type=float, default=3)
    parser.add_argument("--duration-s", type=float, default=10)
    parser.add_argument("--connect-timeout-s", type=float, default=300)
    parser.add_argument("--no-compression", action="store_true",
                        help="offer no RFC 7692 compression (many embedded chargers don't)")
    parser.add_argument("--hold", action="store_true",
                        help="after connecting, wait for a line on stdin")
    args = parser.parse_args()
    print(json.dumps(run(main_async(args))), flush=True)


if __name__ == "__main__":
    main()
