"""`make demo`: one evening of the utility's PEV program, end to end, in about a minute.

A fresh SQLite file gets the example registry; the central system starts on a free port
with its clock at 20:30 tonight (utility time) running 1200x. Three simulated charge
points plug PEVs in at once:

- L1   Ada's PEV-0001 at home (CP-1001), economy program: waits for off-peak;
- L2-A Alan's PEV-0003 at Grace's (CP-1002), a listed guest: Grace pays at her plan;
- L2-B Grace's PEV-0002 at Alan's outlet (CP-1003): Grace pays, Alan's meter is credited.

While they run, the operator calls a demand-response event (21:30-22:30, 1.5 kW per
station). Then every account's statement is printed and everything stops.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time as wall
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
DB = WORK / "central.db"
SPEED = 1200
ZONE = ZoneInfo("America/Los_Angeles")  # the example utility's time zone
SESSIONS = [  # station, password, PEV, energy Wh, departure, station max W, story
    ("CP-1001", "alder-lane-evse-2026", "PEV-0001", 20000, "07:00", 7200,
     "L1: Ada charges at home, economy program"),
    ("CP-1002", "birch-road-evse-2026", "PEV-0003", 12000, "06:00", 11000,
     "L2-A: Alan visits Grace, who pays for listed guests"),
    ("CP-1003", "cedar-court-portal-2026", "PEV-0002", 8000, "23:30", 3600,
     "L2-B: Grace visits Alan's outlet and pays herself"),
]
ACCOUNTS = ("A-1001", "A-1002", "A-1003")
console = Console()


def step(text: str) -> None:
    console.print(f"[bold cyan]>[/] {text}")


def central_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "central", *args, "--db", str(DB)], check=True)


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    step("fresh database, example registry (3 premises, 3 accounts, illustrative EV TOU)")
    central_cli("registry", "import", str(ROOT / "examples" / "utility.toml"))
    evening = datetime.combine(datetime.now(ZONE).date(), time(20, 30), ZONE)
    step(f"central system, clock at {evening:%Y-%m-%d %H:%M %Z}, {SPEED}x")
    central = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--db", str(DB), "--port", "0",
         "--speed", str(SPEED), "--sim-start", evening.isoformat()],
        stdout=subprocess.PIPE, stderr=(WORK / "central.log").open("w"), text=True)
    agents: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        assert central.stdout is not None
        listening = central.stdout.readline().strip()
        if not listening:
            console.print("[red]central did not start; see .demo/central.log[/]")
            return 1
        url = listening.split()[-1].removesuffix("/<station_id>")
        step(listening)
        for station, password, pev, energy, departure, max_w, story in SESSIONS:
            step(f"{story} ({pev} at {station}, {energy // 1000} kWh by {departure})")
            agents.append((station, subprocess.Popen(
                [sys.executable, "-m", "chargepoint", "run", "--central", url,
                 "--station", station, "--password", password, "--pev", pev,
                 "--energy-wh", str(energy), "--departure", departure,
                 "--timezone", str(ZONE), "--max-power-w", str(max_w),
                 "--pev-meter-error", "0.004", "--speed", str(SPEED),
                 "--state-dir", str(WORK / "chargepoint")],
                stdout=subprocess.PIPE, stderr=(WORK / f"{station}.log").open("w"),
                text=True)))
        wall.sleep(1.5)  # half an hour of utility time: the L2-B guest is charging
        dr_start = evening + timedelta(hours=1)
        step("operator: demand response 21:30-22:30, 1.5 kW per station, all premises")
        central_cli("dr", "create", "--start", dr_start.isoformat(),
                    "--end", (dr_start + timedelta(hours=1)).isoformat(),
                    "--limit-w", "1500", "--scope", "all", "--randomize-s", "300")
        for station, agent in agents:
            out, _ = agent.communicate(timeout=150)
            if agent.returncode not in (0, 1):
                console.print(f"[red]{station} exited {agent.returncode}; see "
                              f".demo/{station}.log[/]")
                return 1
            summary = json.loads(out)
            step(f"{station}: {summary['message']}; metered {summary['energy_wh']} Wh, "
                 f"total cost {summary['total_cost']}")
    finally:
        for _, agent in agents:
            if agent.poll() is None:
                agent.kill()
        central.send_signal(signal.SIGTERM)
        central.wait(10)
    step("sessions (pev-central sessions)")
    central_cli("sessions")
    month = f"{evening:%Y-%m}"
    for account in ACCOUNTS:
        step(f"statement for {account}, {month} (pev-central statement)")
        central_cli("statement", "--account", account, "--month", month)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
