"""A fleet of 200 simulated stations in one process over a simulated evening: every
visit binds, charges and is billed once, to the payer the registry implies."""

import asyncio
import json
import sys
import tomllib
from collections import Counter

import pytest

from central.domain.registry import load_registry
from chargepoint.fleet import FleetError, parse_ocpp_mix, versions_for
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


async def test_a_fleet_of_mixed_ocpp_versions_is_billed_alike_to_the_right_payers(tmp_path):
    registry_file = tmp_path / "synthetic.toml"
    code, _, err = await pev_central("registry", "generate", "--premises", "40",
                                     "--out", str(registry_file))
    assert code == 0, err
    registry = tomllib.loads(registry_file.read_text())
    async with running_central(tmp_path, speed=120,
                               registry=load_registry(registry_file)) as central:
        fleet = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargepoint", "fleet", "--central", central.url,
            "--registry", str(registry_file), "--count", "40", "--speed", "120",
            "--duration", "1h", "--state-dir", str(tmp_path / "fleet"), "--json",
            "--ocpp-mix", "1.6:50,2.0.1:30,2.1:20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
        out, err = await asyncio.wait_for(fleet.communicate(), 600)
        assert fleet.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out)
        sessions = await central.store.sessions()
    assert summary["ocpp_versions"] == {"1.6": 20, "2.0.1": 12, "2.1": 8}
    assert summary["failures"] == [] and len(sessions) == 40
    assert Counter(s.ocpp_version for s in sessions) == summary["ocpp_versions"]
    for session in sessions:
        assert session.status == "ended" and session.complete, session
        assert (session.scenario, session.payer_account) == expected_payer(
            registry, session.station_id, session.pev_id)
        assert session.energy_wh == session.end_register_wh - session.begin_register_wh
    assert summary["energy_wh"] == sum(s.energy_wh for s in sessions)


def test_an_ocpp_mix_is_shared_in_proportion_and_a_bad_one_is_refused():
    assert Counter(versions_for(10, parse_ocpp_mix("1.6:50,2.0.1:30,2.1:20"))) == {
        "1.6": 5, "2.0.1": 3, "2.1": 2}
    assert versions_for(4, {"1.6": 1, "2.1": 1}) == ["1.6", "2.1", "1.6", "2.1"]
    for bad in ("1.5:10", "1.6", "1.6:x", "1.6:1,1.6:2", "2.1:0"):
        with pytest.raises(FleetError):
            parse_ocpp_mix(bad)
