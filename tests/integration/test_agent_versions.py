"""Our agent speaking each OCPP version end to end (`pev-chargepoint run --ocpp`): the
same session logic, outbox and EUMD, only the protocol client differs, and a session is
billed identically whatever version carried it."""

import pytest

from tests.integration.conftest import run_agent, running_central, tonight

VERSIONS = ["1.6", "2.0.1", "2.1"]
SCENARIOS = [  # (station, PEV, scenario, payer)
    ("CP-1001", "PEV-0001", "L1", "A-1001"),
    ("CP-1002", "PEV-0003", "L2-A", "A-1002"),
    ("CP-1003", "PEV-0001", "L2-B", "A-1001"),
]


async def charge(central, tmp_path, version, station, pev):
    return await run_agent(central, station, "--pev", pev, "--energy-wh", "3000",
                           "--plug-in-at", tonight("22:00"), "--departure", "02:00",
                           "--max-power-w", "3600", "--ocpp", version,
                           state_dir=tmp_path / version / station)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("station", "pev", "scenario", "payer"), SCENARIOS,
                         ids=[s[2] for s in SCENARIOS])
async def test_each_version_carries_each_scenario_to_its_payer(central, tmp_path, version,
                                                               station, pev, scenario, payer):
    run = await charge(central, tmp_path, version, station, pev)
    assert run.returncode == 0, run.stderr
    [session] = await central.store.sessions()
    assert (session.scenario, session.payer_account, session.ocpp_version) == (
        scenario, payer, version)
    assert session.status == "ended" and session.complete
    assert session.energy_wh == run.summary["energy_wh"] == 3000  # the register delta
    assert session.energy_requested_wh == 3000  # the PEV's own request, whatever version


async def test_a_session_is_billed_the_same_whatever_version_carried_it(tmp_path):
    bills = {}
    for version in VERSIONS:
        (tmp_path / version).mkdir()
        async with running_central(tmp_path / version) as central:
            run = await charge(central, tmp_path / version, version, "CP-1001", "PEV-0001")
            assert run.returncode == 0, run.stderr
            [session] = await central.store.sessions()
            bills[version] = (session.energy_wh, session.cost_total, session.cost_by_period)
    assert bills["1.6"] == bills["2.0.1"] == bills["2.1"]
    assert bills["2.0.1"][0] == 3000 and bills["2.0.1"][1] > 0


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_refused_pev_is_refused_and_billed_nothing_in_each_version(central, tmp_path,
                                                                          version):
    run = await charge(central, tmp_path, version, "CP-1001", "PEV-0905")  # blocked
    assert run.returncode == 1, run.stderr  # the binding was refused
    assert not run.summary["accepted"] and run.summary["energy_wh"] == 0
    [session] = await central.store.sessions()
    assert (session.status, session.pev_id, session.payer_account) == ("refused",
                                                                      "PEV-0905", None)
    assert session.cost_total is None and session.ocpp_version == version
