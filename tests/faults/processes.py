"""A `pev-central serve` process to kill and restart in fault tests."""

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from tests.helpers import ROOT


async def start_central(db: Path, port: int, sim_start: datetime, log: Path, speed: float,
                        *options: str, api_port: int = 0) -> asyncio.subprocess.Process:
    """Start the central with its clock at `sim_start`; returns once it is listening."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "serve", "--db", str(db), "--port", str(port),
        "--api-port", str(api_port), "--speed", str(speed), "--sim-start",
        sim_start.isoformat(), *options, stdout=asyncio.subprocess.PIPE, stderr=log.open("a"),
        cwd=ROOT, env={**os.environ, "PEV_API_TOKEN": "fault-test-token-0123456789"})
    assert process.stdout is not None
    await process.stdout.readline()  # the OCPP endpoint
    await process.stdout.readline()  # the API
    return process
