"""`pev-central dashboard`: live transactions in the terminal, fed by the API's event feed.

`DashboardState` folds events into what a person watches (pure, testable without a
server); `render` draws it for any terminal size from 80x24 up; `follow` keeps the state
fed from `GET /events`, reconnecting (and saying so) when the central restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.console import Group, RenderableType
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shared.timeutil import parse_timestamp

SPARKS = "▁▂▃▄▅▆▇█"
HISTORY = timedelta(hours=1)
KEEP_FINISHED = timedelta(minutes=10)  # an ended session stays on screen this long


@dataclass
class LiveSession:
    station: str
    transaction_id: str
    ocpp: str | None = None  # the version that carries it
    pev: str | None = None
    premise: str | None = None
    scenario: str | None = None
    payer: str | None = None
    state: str = "plugged in"
    power_w: int = 0
    energy_wh: int = 0
    cost: str | None = None
    departure: datetime | None = None
    updated: datetime | None = None
    ended: datetime | None = None


@dataclass
class DashboardState:
    status: str = "connecting"
    now: datetime | None = None  # the central's (possibly accelerated) time, from events
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # the utility's
    currency: str = ""
    connected: set[str] = field(default_factory=set)
    sessions: dict[tuple[str, str], LiveSession] = field(default_factory=dict)
    load: deque[tuple[datetime, int]] = field(default_factory=deque)
    dr_events: dict[int, dict[str, Any]] = field(default_factory=dict)
    faulted: dict[str, set[str]] = field(default_factory=dict)  # station -> "EVSE/connector"
    alerts: deque[str] = field(default_factory=lambda: deque(maxlen=5))  # security, ...
    refusals: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=5))

    def seed(self, utility: dict[str, Any], stations: list[dict[str, Any]],
             dr_events: list[dict[str, Any]]) -> None:
        """What was already true when the dashboard (re)connected."""
        self.zone, self.currency = ZoneInfo(utility["timezone"]), utility["currency"]
        self.connected = {s["id"] for s in stations if s.get("connected")}
        self.faulted = {}
        for station in stations:
            for connector, state in (station.get("connectors") or {}).items():
                self._connector(station["id"], connector, state["status"])
        self.dr_events = {e["id"]: {"description": e["description"], "start": e["start"],
                                    "end": e["end"]}
                          for e in dr_events if e["status"] == "scheduled"}

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "station.connected":
            self.connected.add(event["station"])
        elif kind == "station.disconnected":
            self.connected.discard(event["station"])
        elif kind == "station.status":
            self._connector(event["station"], f"{event['evse']}/{event['connector']}",
                            event["status"])
        elif kind == "station.alert":
            self.alerts.appendleft(f"{event['station']} {event['category']}: {event['text']}")
        elif kind == "transaction":
            self._transaction(event)
        elif kind == "binding.refused":
            self.refusals.appendleft(f"{event['station']}: {event.get('pev') or '?'} "
                                     f"{event['status']} - {event['reason']}")
        elif kind == "error":
            self.errors.appendleft(f"{event['station']}: {event['error']}")
        elif kind == "dr.applied":
            self.dr_events[event["event"]] = {"description": event["description"],
                                              "start": event["start"], "end": event["end"]}
        elif kind == "dr.cancelled":
            self.dr_events.pop(event["event"], None)

    def _connector(self, station: str, connector: str, status: str) -> None:
        faults = self.faulted.setdefault(station, set())
        if status == "Faulted":
            faults.add(connector)
        else:
            faults.discard(connector)
        if not faults:
            del self.faulted[station]

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def _transaction(self, event: dict[str, Any]) -> None:
        at = parse_timestamp(event["at"])
        self.now = max(self.now, at) if self.now else at
        key = (event["station"], event["transaction_id"])
        session = self.sessions.setdefault(key, LiveSession(*key))
        for name in ("ocpp", "pev", "premise", "scenario", "payer"):
            setattr(session, name, event.get(name) or getattr(session, name))
        if event.get("power_w") is not None:
            session.power_w = event["power_w"]
        if event.get("energy_wh") is not None:
            session.energy_wh = event["energy_wh"]
        session.cost = event.get("cost") or session.cost
        if event.get("departure"):
            session.departure = parse_timestamp(event["departure"])
        session.updated = at
        session.state = _state(event, at)
        if event["event_type"] == "Ended" or event.get("status") in ("ended", "refused"):
            session.ended, session.power_w = at, 0
        self._prune()
        self._sample_load()

    def _prune(self) -> None:
        assert self.now is not None
        for key, session in list(self.sessions.items()):
            if session.ended and self.now - session.ended > KEEP_FINISHED:
                del self.sessions[key]
        for event_id, dr in list(self.dr_events.items()):
            if parse_timestamp(dr["end"]) < self.now:
                del self.dr_events[event_id]

    def _sample_load(self) -> None:
        assert self.now is not None
        total = sum(s.power_w for s in self.sessions.values() if not s.ended)
        minute = self.now.replace(second=0, microsecond=0)
        if self.load and self.load[-1][0] == minute:
            self.load[-1] = (minute, total)
        else:
            self.load.append((minute, total))
        while self.load and minute - self.load[0][0] > HISTORY:
            self.load.popleft()

    @property
    def live(self) -> list[LiveSession]:
        return sorted(self.sessions.values(), key=lambda s: (s.ended is not None, s.station))

    @property
    def total_kw(self) -> float:
        return sum(s.power_w for s in self.sessions.values() if not s.ended) / 1000


def _state(event: dict[str, Any], at: datetime) -> str:
    if event.get("status") == "refused":
        return "refused"
    if event["event_type"] == "Ended":
        return "finishing"
    limited = any(parse_timestamp(w["from"]) <= at < parse_timestamp(w["to"])
                  for w in (event.get("dr_windows") or {}).values())
    state = event.get("charging_state")
    if state == "Charging":
        return "DR-limited" if limited else "charging"
    if state == "SuspendedEVSE":
        return "DR-limited" if limited else "waiting for off-peak"
    if state == "SuspendedEV":
        return "suspended"
    return "plugged in"


def sparkline(values: list[int], width: int) -> str:
    if not values or width <= 0:
        return ""
    values = values[-width:]
    top = max(values) or 1
    return "".join(SPARKS[min(len(SPARKS) - 1, v * (len(SPARKS) - 1) // top)] for v in values)


STATE_STYLE = {"charging": "green", "DR-limited": "bold red", "waiting for off-peak": "cyan",
               "suspended": "yellow", "finishing": "dim", "refused": "red"}


def render(state: DashboardState, width: int, height: int) -> RenderableType:
    """The whole screen; fits 80x24 and grows with the terminal."""
    layout = Layout()
    side = 5 if height < 30 else 8
    layout.split_column(Layout(_header(state), name="header", size=4),
                        Layout(_load(state, width), name="load", size=3),
                        Layout(_sessions(state, width, max(1, height - 9 - side - 2)),
                               name="sessions"),
                        Layout(_notes(state), name="notes", size=side))
    return layout


def _header(state: DashboardState) -> Panel:
    status = {"live": "[green]live[/]", "reconnecting": "[bold yellow]reconnecting[/]"}.get(
        state.status, f"[yellow]{state.status}[/]")
    clock = f"{state.local(state.now):%Y-%m-%d %H:%M %Z}" if state.now else "-"
    live = sum(1 for s in state.sessions.values() if not s.ended)
    line = Text.from_markup(f"{status}  {clock}  stations {len(state.connected)}  "
                            f"sessions {live}  load {state.total_kw:.1f} kW")
    if state.dr_events:
        banner = Text("DR ACTIVE: " + "; ".join(e["description"]
                                                 for e in state.dr_events.values()),
                      style="bold white on red", no_wrap=True, overflow="ellipsis")
    else:
        banner = Text("no demand-response event", style="dim")
    return Panel(Group(line, banner), title="pev-grid: live transactions",
                 title_align="left", padding=(0, 1))


def _load(state: DashboardState, width: int) -> Panel:
    peak = max((w for _, w in state.load), default=0) / 1000
    spark = sparkline([w for _, w in state.load], width - 24)
    return Panel(Text(spark, style="green"), title=f"load, last hour (peak {peak:.1f} kW)",
                 title_align="left", padding=(0, 1))


# A state's name where the screen is narrow (under 120 columns): every column stays,
# abbreviated, and the departure column says "until" (the clock above shows the zone).
SHORT_STATE = {"waiting for off-peak": "off-peak", "plugged in": "plugged"}


def _sessions(state: DashboardState, width: int, rows: int) -> Table:
    narrow = width < 120
    table = Table(expand=True, box=None, header_style="bold", pad_edge=False)
    zone = f"{state.local(state.now or datetime.now(state.zone)):%Z}"
    cost = f"{state.currency or 'cost'}"
    columns = ["station", *([] if narrow else ["OCPP"]), "PEV", "premise", "who", "payer",
               "state", "kW", "kWh", cost, f"departs {zone}" if not narrow else "until"]
    for column in columns:
        right = column in ("kW", "kWh", cost)
        table.add_column(column, no_wrap=True, overflow="ellipsis",
                         justify="right" if right else "left",
                         min_width=4 if column in ("station", "PEV", "premise") else None)
    shown = state.live[:rows]
    for s in shown:
        label = SHORT_STATE.get(s.state, s.state) if narrow else s.state
        table.add_row(
            s.station, *([] if narrow else [s.ocpp or ""]), s.pev or "?", s.premise or "",
            s.scenario or "", s.payer or "",
            Text(label, style=STATE_STYLE.get(s.state, "")),
            f"{s.power_w / 1000:.1f}", f"{s.energy_wh / 1000:.1f}",
            f"{Decimal(s.cost):.2f}" if s.cost else "",
            f"{state.local(s.departure):%H:%M}" if s.departure else "")
    if len(state.live) > len(shown):
        table.caption = f"... and {len(state.live) - len(shown)} more"
    return table


def _notes(state: DashboardState) -> Panel:
    def line(text: str, style: str) -> Text:
        return Text(text, style=style, overflow="ellipsis", no_wrap=True)

    lines: list[RenderableType] = [
        line(f"FAULTED: {station} (EVSE/connector {', '.join(sorted(connectors))})",
             "bold red") for station, connectors in sorted(state.faulted.items())]
    lines += [line(f"alert: {a}", "magenta") for a in state.alerts]
    lines += [line(f"refused: {r}", "red") for r in state.refusals]
    lines += [line(f"error: {e}", "yellow") for e in state.errors]
    return Panel(Group(*lines) if lines else Text("no alerts, refused bindings or errors",
                                                  style="dim"),
                 title="alerts, refused bindings and errors", title_align="left",
                 padding=(0, 1))


# --- the live feed ------------------------------------------------------------------------


class Unauthorized(Exception):
    pass


async def follow(api: str, token: str, state: DashboardState,
                 changed: Callable[[], None]) -> None:
    """Keep `state` fed from the API's event feed; reconnect when the central goes away."""
    delay = 0.5
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        try:
            async with httpx.AsyncClient(base_url=api, headers=headers,
                                         timeout=httpx.Timeout(10, read=None)) as client:
                stations = await client.get("/stations")
                if stations.status_code == 401:
                    raise Unauthorized("the API refused the token (401)")
                stations.raise_for_status()
                utility = (await client.get("/utility")).json()
                dr_events = (await client.get("/dr-events")).json()
                state.seed(utility, stations.json(), dr_events)
                async with client.stream("GET", "/events") as feed:
                    feed.raise_for_status()
                    state.status, delay = "live", 0.5
                    changed()
                    async for line in feed.aiter_lines():
                        if line.startswith("data: "):
                            state.apply(json.loads(line[6:]))
                            changed()
        except (httpx.HTTPError, json.JSONDecodeError):
            pass
        state.status = "reconnecting"
        changed()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10)


async def run(api: str, token: str) -> None:
    """Full-screen until q or Ctrl-C."""
    state = DashboardState()
    quit_event = asyncio.Event()
    with Live(screen=True, auto_refresh=False) as live:
        def redraw() -> None:
            size = live.console.size
            live.update(render(state, size.width, size.height), refresh=True)

        feeder = asyncio.create_task(follow(api, token, state, redraw))
        with _keys(quit_event):
            redraw()
            waiter = asyncio.create_task(quit_event.wait())
            await asyncio.wait([feeder, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if feeder.done():
            feeder.result()  # re-raises Unauthorized
        feeder.cancel()


@contextlib.contextmanager
def _keys(quit_event: asyncio.Event) -> Iterator[None]:
    """`q` quits (when stdin is a terminal)."""
    if not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()

    def on_key() -> None:
        if sys.stdin.read(1) in ("q", "Q"):
            quit_event.set()

    tty.setcbreak(fd)
    loop.add_reader(fd, on_key)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
