"""`make bench` at its smallest: every run of it works end to end and is reported (its
figures are measured by `make bench` itself, never asserted here)."""

import json
import os
import re
import subprocess
import sys

from tests.helpers import ROOT


def test_the_benchmark_runs_every_part_and_writes_its_figures(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--stations", "20", "--duration-s", "1",
         "--rounds", "2", "--rate", "100", "--latency-s", "1", "--idle", "30", "--fleet", "0",
         "--sessions", "200", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    [written] = tmp_path.glob("*.json")
    results = json.loads(written.read_text())
    for run in ("throughput", "throughput_16", "echo", "latency"):
        assert results[run]["connected"] == 20
        assert results[run]["round_trips"] > 0 and results[run]["errors"] == 0
        assert results[run]["p50_ms"] <= results[run]["p99_ms"]
        assert results[run]["server_cpu_pct"] > 0 and results[run]["loadgen_cpu_pct"] > 0
    ratios = [r["ratio_pct"] for r in results["rounds"]]  # central and echo in turn
    assert len(ratios) == 2 and min(ratios) > 0
    assert results["ratio_pct"] == min(ratios)  # the lower middle of two: a measured one
    assert results["idle"]["connected"] == 30 and results["idle"]["heartbeat_errors"] == 0
    assert results["statement"]["sessions"] == 200
    assert "over OCPP 1.6" in done.stdout
    assert "central / ceiling" in done.stdout and str(written) in done.stdout.replace("\n", "")


def test_two_checkouts_are_compared_round_by_round(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.compare", str(ROOT), "--stations", "20", "--rounds", "2",
         "--duration-s", "1"], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env={**os.environ, "COLUMNS": "250"})  # one line per row
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "of 2" in line]
    assert [row.split()[1] for row in rows] == ["this", "other"]
    for row in rows:
        assert row.count(" us") == 1 and len(re.findall(r"[\d,]+ \([\d.]+\)", row)) == 2
        assert re.search(r"[\d,]+/s, \d+\.\d us", row)  # a median of two, to 0.1 us
    won = [int(re.search(r"(\d) of 2", row).group(1)) for row in rows]
    assert sum(won) <= 2  # each pair is won by one side, or tied


def test_comparing_with_a_directory_that_is_no_checkout_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.compare", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "is not a checkout of this project" in done.stderr


def test_the_instructions_an_event_costs_are_counted_for_each_checkout(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.instructions", str(ROOT), "--stations", "5",
         "--settle-s", "6", "--seconds", "4"], cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    counted = re.fullmatch(rf"{re.escape(str(ROOT))}: ([\d,]+) instructions per "
                           r"TransactionEvent \(([\d,]+) events counted\)", line)
    assert counted, line
    per_event, events = (int(group.replace(",", "")) for group in counted.groups())
    assert events > 0 and 10_000 < per_event < 10_000_000


def test_counting_instructions_in_a_directory_that_is_no_checkout_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.instructions", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "is not a checkout of this project" in done.stderr
