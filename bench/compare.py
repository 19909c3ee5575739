"""`python -m bench.compare OTHER`: this checkout's central against another checkout's, for
telling whether a change made the central faster.

This VM's speed drifts by a third within minutes, more than most changes gain, so two
`make bench` runs minutes apart say little. Here both centrals run at once, each on its
own copy of one synthetic registry, and the same load generator (this checkout's) drives
them in turn, round after round: each pair of rounds is a few seconds apart. Reported:
every round, the medians, and how many pairs each side won. OTHER is a directory holding
the project, e.g. `git worktree add /tmp/before HEAD~3`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.run import (
    ROOT,
    Server,
    checkout,
    import_registry,
    measured_load,
    start_central,
    write_registries,
)
from shared.cli_types import positive, positive_int


def compare(roots: dict[str, Path], stations: int, rounds: int, duration_s: float,
            workdir: Path) -> dict[str, list[dict[str, Any]]]:
    _, hashed = write_registries(workdir, stations)
    centrals: dict[str, Server] = {}
    try:
        for name, root in roots.items():
            db = workdir / f"{name}.db"
            import_registry(hashed, db, root)
            centrals[name] = start_central(db, workdir / f"{name}.log", root)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in roots}
        for _ in range(rounds):
            for name, central in centrals.items():
                runs[name].append(measured_load(central, stations, "--duration-s",
                                                str(duration_s)))
        return runs
    finally:
        for central in centrals.values():
            central.stop()


def report(runs: dict[str, list[dict[str, Any]]]) -> Table:
    (this, these), (other, others) = runs.items()
    table = Table("central", "median", "rounds (round trips/s, server CPU us each)",
                  "pairs won", title="central against central, rounds alternating")
    for name, mine, theirs in ((this, these, others), (other, others, these)):
        rates = [r["round_trips_per_s"] for r in mine]
        cpu = [r["server_cpu_us_per_round_trip"] for r in mine]
        won = sum(a > b["round_trips_per_s"] for a, b in zip(rates, theirs, strict=True))
        table.add_row(name, f"{statistics.median(rates):,.0f}/s, {statistics.median(cpu):.1f} us",
                      ", ".join(f"{rate:,.0f} ({us})" for rate, us in zip(rates, cpu,
                                                                          strict=True)),
                      f"{won} of {len(mine)}")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=checkout, help="the other checkout's directory")
    parser.add_argument("--stations", type=positive_int, default=1000)
    parser.add_argument("--rounds", type=positive_int, default=8)
    parser.add_argument("--duration-s", type=positive, default=4,
                        help="each round, after a 3 s warm-up")
    args = parser.parse_args()
    other = args.other
    workdir = Path(tempfile.mkdtemp(prefix="pev-compare-"))
    try:
        runs = compare({f"this ({ROOT.name})": ROOT, f"other ({other.name})": other},
                       args.stations, args.rounds, args.duration_s, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Console().print(report(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
