"""Our agent against a central that is not our code (tests/third_party_csms.py: the `ocpp`
package's own v16 / v201 / v21 classes), in each version: it boots, binds, asks for
energy, charges under the CSMS's profile, reports the EUMD every minute and ends with
the register delta, all in messages the package's schemas accept."""

import pytest

from tests.helpers import local
from tests.integration.conftest import finished, start_agent
from tests.third_party_csms import PROFILE_W, third_party_csms

EVENING = local(2026, 11, 22, 20, 0)
SPEED = 1200


async def a_session(url, version, tmp_path):
    agent = await start_agent(url, "CP-1001", "--pev", "PEV-0001", "--energy-wh", "1200",
                              "--departure", "21:00", "--max-power-w", "7200",
                              "--ocpp", version, state_dir=tmp_path, speed=SPEED)
    return await finished(agent)


def registers_16(received):
    start = next(p for a, p in received if a == "StartTransaction")
    stop = next(p for a, p in received if a == "StopTransaction")
    meters = [p for a, p in received if a == "MeterValues"]
    return start["meter_start"], stop["meter_stop"], meters


async def test_the_agent_speaks_16_to_a_16_csms(tmp_path):
    async with third_party_csms("1.6", EVENING) as (url, served):
        run = await a_session(url, "1.6", tmp_path)
    assert run.returncode == 0, run.stderr
    received = served[-1].received
    begin, end, meters = registers_16(received)
    assert end - begin == run.summary["energy_wh"] == 1200
    assert ("SetChargingProfile answered", {"status": "Accepted"}) in received
    assert next(p for a, p in received if a == "StartTransaction")["id_tag"] == "PEV-0001"
    assert all(m["transaction_id"] == 4242 for m in meters) and len(meters) >= 15
    [request] = [p for a, p in received if a == "DataTransfer"]
    assert (request["vendor_id"], request["message_id"]) == ("org.pev-grid", "EnergyRequest")
    peak = max(int(s["value"]) for m in meters for v in m["meter_value"]
               for s in v["sampled_value"] if s["measurand"] == "Power.Active.Import")
    assert peak == PROFILE_W


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_the_agent_speaks_2x_to_a_2x_csms(tmp_path, version):
    async with third_party_csms(version, EVENING) as (url, served):
        run = await a_session(url, version, tmp_path)
    assert run.returncode == 0, run.stderr
    received = served[-1].received
    events = [p for a, p in received if a == "TransactionEvent"]
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    assert (events[0]["event_type"], events[-1]["event_type"]) == ("Started", "Ended")

    def register(event):
        return next(int(s["value"]) for v in event["meter_value"]
                    for s in v["sampled_value"]
                    if s["measurand"] == "Energy.Active.Import.Register"
                    and s.get("location") == "Outlet")

    assert register(events[-1]) - register(events[0]) == run.summary["energy_wh"] == 1200
    assert ("SetChargingProfile answered", {"status": "Accepted"}) in received
    assert any(a == "NotifyEVChargingNeeds" for a, _ in received)
