"""A fleet of 200 simulated stations in one process over a simulated evening: every
visit binds, charges and is billed once, to the payer the registry implies."""

import asyncio
import json
import sys
import tomllib
from collections import Counter

from central.domain.registry import load_registry
from tests.helpers import ROOT
from tests.integration.conftest import pev_central, running_central

STATIONS = 200


def expected_payer(registry: dict, station_id: str, pev_id: str) -> tuple[str, str]:
    """(scenario, payer account) by the rules, worked out from the file by hand."""
    premises = {p["id"]: p for p in registry["premises"]}
    station = next(s for s in registry["stations"] if s["id"] == station_id)
    pev = next(p for p in registry["pevs"] if p["id"] == pev_id)
    host = premises[station["premise"]]
    if pev["home_premise"] == host["id"]:
        return "L1", pev["owner"]
    if host["guest_policy"] == "host_pays" and pev_id in host.get("host_pays_for", [pev_id]):
        return "L2-A", host["account"]
    return "L2-B", pev["owner"]


async def test_200_stations_bind_charge_and_bill_once_to_the_right_payer(tmp_path):
    registry_file = tmp_path / "synthetic.toml"
    code, _, err = await pev_central("registry", "generate", "--premises", str(STATIONS),
                                     "--out", str(registry_file))
    assert code == 0, err
    text = registry_file.read_text()
    registry = tomllib.loads(text)
    async with running_central(tmp_path, speed=120,
                               registry=load_registry(registry_file)) as central:
        fleet = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargepoint", "fleet", "--central", central.url,
            "--registry", str(registry_file), "--count", str(STATIONS), "--speed", "120",
            "--duration", "1h", "--state-dir", str(tmp_path / "fleet"), "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
        out, err = await asyncio.wait_for(fleet.communicate(), 600)
        assert fleet.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out)
        sessions = await central.store.sessions()
    assert summary["stations"] == STATIONS and summary["failures"] == []
    assert len(sessions) == STATIONS
    assert len({(s.station_id, s.transaction_id) for s in sessions}) == STATIONS
    scenarios = Counter()
    for session in sessions:
        assert session.status == "ended" and session.complete, session
        assert (session.scenario, session.payer_account) == expected_payer(
            registry, session.station_id, session.pev_id)
        assert session.energy_wh == session.end_register_wh - session.begin_register_wh
        assert session.cost_total is not None
        scenarios[session.scenario] += 1
    assert set(scenarios) == {"L1", "L2-A", "L2-B"}, scenarios  # a real mix
    assert dict(scenarios) == summary["scenarios"]
