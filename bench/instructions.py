"""`python -m bench.instructions [CHECKOUT ...]`: the instructions a TransactionEvent costs
each checkout's central, counted by callgrind (valgrind).

This VM's speed drifts by a third within minutes, and from one VM to the next by half, so
a change worth 1-3 % is lost in wall-clock figures, bench.compare's included. An
instruction count is the same from one run to the next (0.1 % here) whatever the host is
doing. Each central runs under callgrind, 50 times slower, on its own copy of one
synthetic registry, under a closed load of a few stations; once they have settled, the
instructions of every thread are counted for a while, and divided by the events the
database gained meanwhile. The kernel's share (system calls) is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import (
    ROOT,
    TOKEN,
    checkout,
    import_registry,
    loadgen,
    start,
    write_registries,
)
from shared.cli_types import positive, positive_int


def events(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        count: int = connection.execute("SELECT count(*) FROM transaction_events").fetchone()[0]
        return count


def instructions_per_event(root: Path, registry: Path, stations: int, settle_s: float,
                           seconds: float, workdir: Path) -> tuple[int, int]:
    """(instructions per event, events counted) for the central of checkout `root`."""
    db, out = workdir / f"{root.name}.db", workdir / f"{root.name}.callgrind"
    db.unlink(missing_ok=True)
    import_registry(registry, db, root)
    server = start(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out}", sys.executable, "-m", "central", "serve",
                    "--db", str(db), "--port", "0", "--api-port", "0", "--log-level",
                    "WARNING"], workdir / "valgrind.log", env={"PEV_API_TOKEN": TOKEN},
                   root=root)
    generator = None
    try:
        assert server.process.stdout is not None
        server.process.stdout.readline()  # the API line
        generator = loadgen(server.url, stations, "--warmup-s", "0",
                            "--duration-s", str(settle_s + seconds + 60))
        assert generator.stdout is not None
        generator.stdout.readline()  # connected
        time.sleep(settle_s)
        before = _counting(server.process.pid, "on", db)
        time.sleep(seconds)
        counted = _counting(server.process.pid, "off", db) - before
    finally:
        if generator is not None:
            generator.kill()
            generator.wait()
        server.stop()
    totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
    return int(totals[0].split()[1]) // max(counted, 1), counted


def _counting(pid: int, state: str, db: Path) -> int:
    """Turn callgrind's counting on or off; the events stored at that moment."""
    subprocess.run(["callgrind_control", "--instr=" + state, str(pid)], check=True,
                   capture_output=True)
    return events(db)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", type=checkout, nargs="*", default=[ROOT],
                        help="checkouts to measure, in turn (default: this one)")
    parser.add_argument("--stations", type=positive_int, default=20)
    parser.add_argument("--settle-s", type=positive, default=12,
                        help="load before counting: connections made, sessions started")
    parser.add_argument("--seconds", type=positive, default=40, help="counting")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("bench.instructions: valgrind is not installed", file=sys.stderr)
        return 2  # a usage error, as argparse's
    workdir = Path(tempfile.mkdtemp(prefix="pev-instructions-"))
    try:
        _, registry = write_registries(workdir, args.stations)
        for root in args.checkouts:
            per_event, counted = instructions_per_event(root, registry, args.stations,
                                                        args.settle_s, args.seconds, workdir)
            print(f"{root}: {per_event:,} instructions per TransactionEvent "
                  f"({counted:,} events counted)", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
