"""The dashboard, rendered as a person would see it, from an event stream recorded off a
real central while a real agent charged under a DR event."""

import asyncio

from rich.console import Console

from central.dashboard import DashboardState, follow, render
from tests.integration.conftest import API_TOKEN, open_link, pev_central, rpc, run_agent, tonight


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
    mid_session = next(i for i, e in enumerate(events)
                       if e["type"] == "transaction" and e["at"] >= "2026-11-23T04:55")
    for event in events[:mid_session + 1]:
        state.apply(event)
    small = screen(state, 80, 24)
    assert len(small.splitlines()) <= 24
    assert all(len(line) <= 80 for line in small.splitlines())
    row = next(line for line in small.splitlines() if "CP-1002" in line)
    for expected in ("PEV-0002", "L1", "A-1002", "DR-limited", "2.0"):
        assert expected in row, row
    assert "DR ACTIVE" in small and "limit 2000 W" in small
    assert "refused: CP-1001: Blocked" in small
    assert "live" in small and "stations 1" in small

    wide = screen(state, 160, 50)
    header = next(line for line in wide.splitlines() if "station" in line and "PEV" in line)
    assert "premise" in header and "departs" in header
    assert "P-1002" in wide and "05:10Z" in wide  # departure 21:10 local (UTC-8)

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
