"""Who pays, end to end: L2-A (host pays at its rate plan), L2-B (driver pays; the host's
premise is credited), refusals, and statements that add it all up."""

import asyncio
import json
import sys
from decimal import Decimal

import pytest

from shared.timeutil import to_wire
from tests.helpers import ROOT
from tests.integration.conftest import open_link, rpc, run_agent, tonight


async def statement(central, account, month="2026-11", fmt="json"):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "statement", "--db", str(central.db), "--account",
        account, "--month", month, "--format", fmt, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_l2a_and_l2b_bill_the_right_accounts_and_credit_the_host(central, tmp_path):
    # L2-A: Alan's PEV-0003 is a listed guest at Grace's host-pays premise P-1002.
    # Economy (program ev-tou): 22:00-23:30 is all partial-peak there, so it charges at
    # once; billed at Grace's rate plan home-tou: off-peak after 21:00 at 0.31.
    # L2-B: Ada's PEV-0001 at Alan's portal CP-1003 (3600 W circuit), driver pays at her
    # program's ev-tou: economy waits for 00:00 off-peak (0.28); Alan's premise is
    # credited the same Wh at its own rate plan (home-tou off-peak 0.31).
    l2a, l2b = await asyncio.gather(
        run_agent(central, "CP-1002", "--pev", "PEV-0003", "--energy-wh", "5000",
                  "--plug-in-at", tonight("22:00"), "--departure", "23:30",
                  "--max-power-w", "11000",
                  state_dir=tmp_path / "a"),
        run_agent(central, "CP-1003", "--pev", "PEV-0001", "--energy-wh", "3000",
                  "--plug-in-at", tonight("23:00"), "--departure", "02:00",
                  "--max-power-w", "3600",
                  state_dir=tmp_path / "b"))
    assert l2a.returncode == 0 and l2b.returncode == 0, l2a.stderr + l2b.stderr
    hosted, away = sorted(await central.store.sessions(), key=lambda s: s.station_id)
    assert (hosted.scenario, hosted.payer_account, hosted.tariff_id) == ("L2-A", "A-1002",
                                                                        "home-tou")
    assert "host pays" in hosted.payer_rule
    assert hosted.energy_wh == 5000
    assert hosted.cost_by_period == {"off-peak": {"energy_wh": 5000, "cost": "1.55"}}
    assert (away.scenario, away.payer_account, away.tariff_id) == ("L2-B", "A-1001", "ev-tou")
    assert away.energy_wh == 3000 and away.cost_total == Decimal("0.84")
    assert max(limit for _, limit in away.schedule["periods"]) == 3600  # the outlet circuit

    code, out, _ = await statement(central, "A-1002")
    grace = json.loads(out)
    assert code == 0 and [line["session_id"] for line in grace["sections"]["hosted_guests"]] \
        == [hosted.id]
    assert grace["totals"] == {"energy_wh": 5000, "cost": "1.55", "credit_wh": 0,
                               "credit_value": "0.00"}
    ada = json.loads((await statement(central, "A-1001"))[1])
    assert [line["pev"] for line in ada["sections"]["away"]] == ["PEV-0001"]
    assert ada["totals"]["cost"] == "0.84" and ada["sections"]["home"] == []
    alan = json.loads((await statement(central, "A-1003"))[1])
    [credit] = alan["sections"]["guest_credits"]
    assert (credit["session_id"], credit["energy_wh"], credit["amount"]) == (away.id, 3000,
                                                                              "0.93")
    assert (credit["start"], credit["end"], credit["station"], credit["premise"],
            credit["pev"], credit["scenario"]) == (
        to_wire(away.started_at), to_wire(away.ended_at), "CP-1003", away.premise_id,
        "PEV-0001", "L2-B")
    assert alan["totals"] == {"energy_wh": 0, "cost": "0.00", "credit_wh": 3000,
                              "credit_value": "0.93"}
    assert all(line["reconciliation"] == "pass" for line in ada["sections"]["away"])

    code, csv_text, _ = await statement(central, "A-1003", fmt="csv")
    rows = csv_text.splitlines()
    assert rows[0] == ("section,session_id,start,end,station,premise,pev,scenario,period,"
                       "energy_wh,amount,reconciliation")
    assert any(r.startswith(f"guest_credits,{away.id},") and ",off-peak,3000,0.93," in r
               for r in rows)
    assert rows[-1] == "credit_total,,,,,,,,all,3000,0.93,"
    code, table, _ = await statement(central, "A-1003", fmt="table")
    assert code == 0 and "premise meter credits" in table and "0.93" in table


@pytest.mark.parametrize(("token", "kind", "expected"), [
    ("PEV-0001", "Central", "Accepted"),
    ("04A1B2C3D4E5F6", "ISO14443", "Accepted"),  # the owner's RFID card
    ("001122AABB01", "MacAddress", "Accepted"),  # the PEV's EVCCID
    ("PEV-0905", "Central", "Blocked"),
    ("PEV-0904", "Central", "Invalid"),  # enrolled in another territory
    ("NOBODY", "Central", "Invalid"),
])
async def test_any_identifier_binds_the_pev_and_refusals_say_why(central, token, kind,
                                                                  expected):
    link = await open_link(central, "CP-1003")
    reply = await rpc(link, "Authorize", {"idToken": {"idToken": token, "type": kind}})
    info = reply[2]["idTokenInfo"]
    assert info["status"] == expected
    if expected == "Accepted":
        assert "PEV-0001" in info["personalMessage"]["content"]
        assert info["groupIdToken"] == {"idToken": "GRP-RESIDENTIAL", "type": "Central"}
    if token == "PEV-0904":
        assert "outside your territory" in info["personalMessage"]["content"]
    await link.close()


async def test_a_vin_in_additional_info_binds_the_pev(central):
    link = await open_link(central, "CP-1001")
    reply = await rpc(link, "Authorize", {"idToken": {
        "idToken": "UNKNOWN-TAG", "type": "Local",
        "additionalInfo": [{"additionalIdToken": "5YJ3E1EA7KF000001", "type": "VIN"}]}})
    assert reply[2]["idTokenInfo"]["status"] == "Accepted"
    assert "PEV-0001 bound (L1)" in reply[2]["idTokenInfo"]["personalMessage"]["content"]
    await link.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--account", "A-9999", "--month", "2026-11"], "unknown account 'A-9999'"),
    (["--account", "A-1001", "--month", "2026-13"], "must be YYYY-MM"),
    (["--account", "A-1001", "--month", "November"], "must be YYYY-MM"),
])
async def test_a_bad_statement_request_is_a_clear_message_and_exit_2(central, args, message):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "statement", "--db", str(central.db), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await process.communicate()
    assert process.returncode == 2 and message in err.decode() and out == b""
