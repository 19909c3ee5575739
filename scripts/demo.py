"""`make demo`: an evening of the utility's PEV program, end to end, in about a minute.

A fresh SQLite file gets a synthetic registry (24 premises); the central system starts
on free ports (OCPP and operator API) with its clock at 17:30 tonight running 600x. A
fleet of 24 simulated charge points plugs PEVs in through the evening, at home (L1) and
as guests (L2-A where the host pays, L2-B where the driver does). At 19:00 the operator
calls a demand-response event. On a terminal the live dashboard shows it all; otherwise
a summary line is printed every few seconds. Then the sessions and a statement for each
kind of payer are printed, and everything stops.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time as wall
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
DB = WORK / "central.db"
REGISTRY = WORK / "registry.toml"
SPEED = 600
STATIONS = 24
ZONE = ZoneInfo("America/Los_Angeles")  # the synthetic utility's time zone
console = Console()


def step(text: str) -> None:
    console.print(f"[bold cyan]>[/] {text}")


def central_cli(*args: str, db: bool = True) -> None:
    subprocess.run([sys.executable, "-m", "central", *args, *(["--db", str(DB)] if db else [])],
                   check=True)


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "PEV_API_TOKEN": token}
    step(f"synthetic registry of {STATIONS} premises, imported into a fresh database")
    central_cli("registry", "generate", "--premises", str(STATIONS), "--out", str(REGISTRY),
                db=False)
    central_cli("registry", "import", str(REGISTRY))
    evening = datetime.combine(datetime.now(ZONE).date(), time(17, 30), ZONE)
    step(f"central system, clock at {evening:%Y-%m-%d %H:%M %Z}, {SPEED}x")
    central = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--db", str(DB), "--port", "0",
         "--api-port", "0", "--speed", str(SPEED), "--sim-start", evening.isoformat()],
        stdout=subprocess.PIPE, stderr=(WORK / "central.log").open("w"), text=True, env=env)
    children: list[subprocess.Popen[str]] = [central]
    try:
        assert central.stdout is not None
        ocpp_line, api_line = central.stdout.readline(), central.stdout.readline()
        if not api_line:
            console.print("[red]central did not start; see .demo/central.log[/]")
            return 1
        url = ocpp_line.split()[-1].removesuffix("/<station_id>")
        api = api_line.split(" on ")[1].split()[0]
        step(ocpp_line.strip())
        step(api_line.strip())
        step(f"fleet of {STATIONS} charge points: plug-ins and departures over 5 hours")
        fleet = subprocess.Popen(
            [sys.executable, "-m", "chargepoint", "fleet", "--central", url, "--registry",
             str(REGISTRY), "--count", str(STATIONS), "--speed", str(SPEED), "--duration",
             "5h", "--json", "--state-dir", str(WORK / "fleet")],
            stdout=subprocess.PIPE, stderr=(WORK / "fleet.log").open("w"), text=True)
        children.append(fleet)
        dr_start = evening + timedelta(minutes=90)
        watch(fleet, api, token, env, dr_start)
        out, _ = fleet.communicate(timeout=300)
        summary = json.loads(out)
        step(f"fleet: {summary['stations']} stations, {summary['scenarios']}, "
             f"{summary['energy_wh'] / 1000:.1f} kWh, billed {summary['total_cost']}")
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}) as client:
            sessions = client.get("/sessions").json()
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait(10)
    step("sessions (pev-central sessions)")
    central_cli("sessions")
    for scenario, account in statement_accounts(sessions):
        step(f"statement of {account}, who {scenario} (pev-central statement)")
        central_cli("statement", "--account", account, "--month", f"{evening:%Y-%m}")
    return 0


def watch(fleet: subprocess.Popen[str], api: str, token: str, env: dict[str, str],
          dr_start: datetime) -> None:
    """The dashboard on a terminal, else a summary line every few seconds; the operator
    calls a DR event along the way."""
    dashboard = None
    if sys.stdout.isatty():
        dashboard = subprocess.Popen([sys.executable, "-m", "central", "dashboard", "--api",
                                      api], env=env)
    else:
        step("stdout is not a terminal: periodic summaries instead of the dashboard")
    wall.sleep(3)
    if dashboard is None:
        step("operator: demand response 19:00-20:00, 1.5 kW per station, all premises")
    central_cli("dr", "create", "--start", dr_start.isoformat(), "--end",
                (dr_start + timedelta(hours=1)).isoformat(), "--limit-w", "1500",
                "--scope", "all", "--randomize-s", "300")
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}) as client:
        while fleet.poll() is None:
            if dashboard is None:
                sessions = client.get("/sessions").json()
                live = [s for s in sessions if s["status"] == "active"]
                metered = sum(s["energy_so_far_wh"] or 0 for s in sessions)
                step(f"{len(live)} plugged in, {len(sessions) - len(live)} done, "
                     f"{metered / 1000:.1f} kWh metered so far")
            wall.sleep(4)
    if dashboard is not None:
        dashboard.send_signal(signal.SIGINT)
        dashboard.wait(10)


def statement_accounts(sessions: list[dict[str, object]]) -> list[tuple[str, str]]:
    """One account for each kind of payer the evening produced."""
    picks = []
    for scenario, label in (("L1", "charged at home"), ("L2-A", "hosted a guest and paid"),
                            ("L2-B", "charged away and paid")):
        account = next((str(s["payer_account"]) for s in sessions
                        if s["scenario"] == scenario), None)
        if account:
            picks.append((label, account))
    return picks


if __name__ == "__main__":
    raise SystemExit(main())
