"""The dashboard, rendered as a person would see it, from an event stream recorded off a
real central while a real agent charged under a DR event."""

import asyncio

from rich.console import Console

from central.operator.dashboard import DashboardState, follow, render
from tests.integration.conftest import API_TOKEN, open_link, pev_central, rpc, run_agent, tonight

UTILITY = {"name": "Cascade Valley Power", "timezone": "America/Los_Angeles", "currency": "USD"}


def screen(state: DashboardState, width: int, height: int) -> str:
    console = Console(record=True, width=width, height=height, color_system=None)
    console.print(render(state, width, height))
    return console.export_text()


async def record(central, tmp_path) -> list[dict]:
    events: list[dict] = []

    async def listen():
        async with central.services.bus.subscribe() as queue:
            while True:
                events.append(await queue.get())

    listener = asyncio.create_task(listen())
    code, _, err = await pev_central(
        "dr", "create", "--db", str(central.db), "--start", "2026-11-23T04:30:00Z",
        "--end", "2026-11-23T05:30:00Z", "--limit-w", "2000", "--scope", "all")
    assert code == 0, err
    await asyncio.sleep(0.3)  # the dispatcher notices
    link = await open_link(central, "CP-1001")
    await rpc(link, "Authorize", {"idToken": {"idToken": "PEV-0905", "type": "Central"}})
    await link.close()
    run = await run_agent(central, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "5000",
                          "--plug-in-at", tonight("20:40"), "--departure", "21:10",
                          "--max-power-w", "11000", state_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    await asyncio.sleep(0.1)
    listener.cancel()
    return events


async def test_what_an_operator_sees_during_and_after_a_dr_limited_session(slow_central,
                                                                            tmp_path):
    events = await record(slow_central, tmp_path)
    state = DashboardState(status="live")
    state.seed(UTILITY, [], [])
    mid_session = next(i for i, e in enumerate(events)
                       if e["type"] == "transaction" and e["at"] >= "2026-11-23T04:55")
    for event in events[:mid_session + 1]:
        state.apply(event)
    small = screen(state, 80, 24)
    assert len(small.splitlines()) <= 24
    assert all(len(line) <= 80 for line in small.splitlines())
    header = next(line for line in small.splitlines() if "station" in line and "PEV" in line)
    for column in ("premise", "who", "payer", "USD", "until"):  # cost in USD
        assert column in header, header
    row = next(line for line in small.splitlines() if "CP-1002" in line)
    for expected in ("PEV-0002", "P-1002", "L1", "A-1002", "DR-limited", "2.0", "21:10"):
        assert expected in row, row  # departs 21:10 local time (05:10 UTC)
    assert "DR ACTIVE" in small and "limit 2000 W" in small
    assert "refused: CP-1001: PEV-0905 Blocked" in small
    assert "live" in small and "stations 1" in small
    assert "2026-11-22 20:5" in small and "PST" in small  # the clock, local, with its zone

    wide = screen(state, 160, 50)
    header = next(line for line in wide.splitlines() if "station" in line and "PEV" in line)
    assert "premise" in header and "departs PST" in header
    assert "P-1002" in wide and "21:10" in wide

    for event in events[mid_session + 1:]:
        state.apply(event)
    after = screen(state, 80, 24)
    finished = next(line for line in after.splitlines() if "CP-1002" in line)
    assert "finishing" in finished and " 1.0 " in finished  # 30 min at the 2 kW DR limit
    assert "stations 0" in after


async def test_the_dashboard_says_reconnecting_when_the_central_goes_away(api):
    state = DashboardState()
    changed = asyncio.Event()

    async def until(condition):
        async with asyncio.timeout(10):
            while not condition():
                changed.clear()
                await changed.wait()

    feeding = asyncio.create_task(follow(api.url, API_TOKEN, state, changed.set))
    await until(lambda: state.status == "live")
    link = await open_link(api.central, "CP-1003")
    await until(lambda: "CP-1003" in state.connected)
    await link.close()
    await api.stop()
    await until(lambda: state.status == "reconnecting")
    assert "reconnecting" in screen(state, 80, 24)
    feeding.cancel()


async def test_after_a_restart_the_dashboard_shows_what_was_already_true(api):
    """What the dashboard reads when it (re)connects: the DR event with its limit, a
    connector that went Faulted, and then the station's security events as they come."""
    async with api.client() as client:
        created = await client.post("/dr-events", json={
            "start": "2026-11-23T04:00:00Z", "end": "2026-11-23T09:00:00Z",
            "reduce_pct": 40, "scope": "premise:P-1001"})
        assert created.status_code == 201
    link = await open_link(api.central, "CP-1001")
    await rpc(link, "StatusNotification", {"timestamp": "2026-11-23T04:10:00Z",
                                           "connectorStatus": "Faulted", "evseId": 1,
                                           "connectorId": 1})
    state = DashboardState()
    changed = asyncio.Event()
    feeding = asyncio.create_task(follow(api.url, API_TOKEN, state, changed.set))
    async with asyncio.timeout(10):
        while state.status != "live":
            changed.clear()
            await changed.wait()
    await rpc(link, "SecurityEventNotification", {"type": "TamperDetectionActivated",
                                                  "timestamp": "2026-11-23T04:11:00Z",
                                                  "techInfo": "cabinet opened"}, "m2")
    await rpc(link, "StatusNotification", {"timestamp": "2026-11-23T04:12:00Z",
                                           "connectorStatus": "Faulted", "evseId": 2,
                                           "connectorId": 1}, "m3")
    async with asyncio.timeout(10):
        while not state.alerts or "2/1" not in state.faulted.get("CP-1001", ()):
            changed.clear()
            await changed.wait()
    shown = screen(state, 80, 24)
    assert "reduce 40 %" in shown and "premise:P-1001" in shown
    assert "FAULTED: CP-1001 (EVSE/connector 1/1, 2/1)" in shown
    assert "CP-1001 security: TamperDetectionActivated: cabinet opened" in shown
    await rpc(link, "StatusNotification", {"timestamp": "2026-11-23T04:20:00Z",
                                           "connectorStatus": "Available", "evseId": 1,
                                           "connectorId": 1}, "m4")
    await rpc(link, "StatusNotification", {"timestamp": "2026-11-23T04:20:00Z",
                                           "connectorStatus": "Available", "evseId": 2,
                                           "connectorId": 1}, "m5")
    async with asyncio.timeout(10):
        while state.faulted:
            changed.clear()
            await changed.wait()
    assert "FAULTED" not in screen(state, 80, 24)
    feeding.cancel()
    await link.close()
