"""`make demo`: one L1 evening at home, end to end, in about half a minute.

A fresh SQLite file gets the example registry; the central system starts on a free port
with its clock at 20:30 tonight (utility time) running 1200x; a simulated charge point
plugs PEV-0001 in at its owner's home and charges it until 07:00; then the billed
session is printed and everything stops.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
DB = WORK / "central.db"
SPEED = "1200"
ZONE = ZoneInfo("America/Los_Angeles")  # the example utility's time zone
console = Console()


def step(text: str) -> None:
    console.print(f"[bold cyan]>[/] {text}")


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    step("fresh database, example registry (3 premises, 3 accounts, illustrative EV TOU)")
    subprocess.run([sys.executable, "-m", "central", "registry", "import",
                    str(ROOT / "examples" / "utility.toml"), "--db", str(DB)], check=True)
    evening = datetime.combine(datetime.now(ZONE).date(), time(20, 30), ZONE)
    step(f"central system, clock at {evening:%Y-%m-%d %H:%M %Z}, {SPEED}x")
    central = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--db", str(DB), "--port", "0",
         "--speed", SPEED, "--sim-start", evening.isoformat()],
        stdout=subprocess.PIPE, stderr=(WORK / "central.log").open("w"), text=True)
    try:
        assert central.stdout is not None
        listening = central.stdout.readline().strip()
        if not listening:
            console.print("[red]central did not start; see .demo/central.log[/]")
            return 1
        url = listening.split()[-1].removesuffix("/<station_id>")
        step(f"{listening}")
        step("Ada plugs PEV-0001 in at home (CP-1001), asks for 20 kWh by 07:00")
        agent = subprocess.run(
            [sys.executable, "-m", "chargepoint", "run", "--central", url,
             "--station", "CP-1001", "--password", "alder-lane-evse-2026",
             "--pev", "PEV-0001", "--vin", "5YJ3E1EA7KF000001", "--energy-wh", "20000",
             "--departure", "07:00", "--timezone", str(ZONE), "--pev-meter-error", "0.004",
             "--speed", SPEED, "--state-dir", str(WORK / "chargepoint")],
            capture_output=True, text=True, timeout=110)
        (WORK / "chargepoint.log").write_text(agent.stderr)
        show_agent_story(agent.stderr)
        if agent.returncode != 0:
            console.print(f"[red]charge point exited {agent.returncode}; see "
                          ".demo/chargepoint.log[/]")
            return 1
    finally:
        central.send_signal(signal.SIGTERM)
        central.wait(10)
    step("the bill, from the central's database (pev-central sessions)")
    subprocess.run([sys.executable, "-m", "central", "sessions", "--db", str(DB)], check=True)
    return 0


def show_agent_story(log_text: str) -> None:
    """The few agent log lines a person wants to see, out of the JSON log."""
    wanted = {"binding accepted": "personal_message", "binding refused": "reason",
              "energy request answered": "note", "schedule received": "start",
              "session ended": "energy_wh"}
    for line in log_text.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        key = wanted.get(entry.get("msg", ""))
        if key:
            step(f"charge point: {entry['msg']}: {entry.get(key)}")


if __name__ == "__main__":
    raise SystemExit(main())
