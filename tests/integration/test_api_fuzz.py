"""schemathesis against the served OpenAPI document of a real `pev-central serve` process:
whatever it sends, the API answers without a server error."""

import asyncio
import os
import shutil
import sys
from pathlib import Path

from tests.helpers import EXAMPLE, ROOT

TOKEN = "schemathesis-operator-token"


async def test_schemathesis_finds_no_server_error(tmp_path):
    db = tmp_path / "central.db"
    imported = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "registry", "import", str(EXAMPLE), "--db", str(db),
        stdout=asyncio.subprocess.DEVNULL, cwd=ROOT)
    assert await imported.wait() == 0
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "serve", "--db", str(db), "--port", "0",
        "--api-port", "0", stdout=asyncio.subprocess.PIPE,
        stderr=(tmp_path / "central.log").open("w"), cwd=ROOT,
        env={**os.environ, "PEV_API_TOKEN": TOKEN})
    try:
        assert server.stdout is not None
        await server.stdout.readline()  # the OCPP endpoint
        api_line = (await server.stdout.readline()).decode()
        url = api_line.split(" on ")[1].split()[0]
        schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        assert schemathesis
        fuzz = await asyncio.create_subprocess_exec(
            schemathesis, "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}",
            "--checks", "not_a_server_error", "--exclude-path", "/events",
            "--max-examples", "25", "--seed", "7", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
        report = (await asyncio.wait_for(fuzz.communicate(), 240))[0].decode()
        assert fuzz.returncode == 0, report[-3000:]
    finally:
        server.terminate()
        await server.wait()
    assert "Traceback" not in (tmp_path / "central.log").read_text()
