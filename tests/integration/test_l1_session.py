"""L1 end to end: a real agent process charges an enrolled PEV at home; the central plans,
meters and bills it to the home account (design.md section 3, steps 1-11)."""

import asyncio
import itertools
import json
import sys
from datetime import timedelta
from decimal import Decimal

from shared.timeutil import parse_timestamp, to_wire
from shared.units import money
from tests.helpers import ROOT, local
from tests.integration.conftest import run_agent, tonight

PEAK, PARTIAL_PEAK, OFF_PEAK = Decimal("0.42"), Decimal("0.40"), Decimal("0.28")  # winter


async def only_session(central):
    [session] = await central.store.sessions()
    return session


async def test_economy_l1_session_is_planned_off_peak_metered_every_minute_and_billed_home(
        central, tmp_path):
    async with central.router.bus.subscribe() as feed:
        run = await run_agent(central, "CP-1001", "--pev", "PEV-0001", "--vin",
                              "5YJ3E1EA7KF000001", "--energy-wh", "14000",
                              "--plug-in-at", tonight("22:30"), "--departure", "03:00",
                              state_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.summary["accepted"] and "A-1001" in run.summary["message"]
    live = [event for event in (feed.get_nowait() for _ in range(feed.qsize()))
            if event["type"] == "transaction"]
    session = await only_session(central)
    assert (session.scenario, session.payer_account, session.status) == ("L1", "A-1001",
                                                                         "ended")
    assert session.complete

    # The schedule respects every limit: program 7200 W, station 7200 W, premise 9600 W,
    # EV 7360 W; economy: nothing before off-peak at 00:00; everything before departure.
    start = local(2026, 11, 23, 0, 0)
    departure = local(2026, 11, 23, 3, 0)
    periods = session.schedule["periods"]
    schedule_start = parse_timestamp(session.schedule["start"])
    for (offset, limit), following in zip(periods, [*periods[1:], None], strict=True):
        assert limit <= 7200
        if limit > 0:
            begins = schedule_start + timedelta(seconds=offset)
            ends = schedule_start + timedelta(seconds=following[0])
            assert start <= begins and ends <= departure
    assert session.energy_available_wh == session.energy_requested_wh == 14000
    answered = run.log("energy request answered")
    assert answered["energy_available_wh"] == 14000
    assert run.log("schedule received")["max_power_w"] == 7200

    # One Updated per simulated minute, on the minute, from plug-in to departure.
    events = await central.store.events("CP-1001", session.transaction_id)
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    periodic = [e["timestamp"] for e in events if e["trigger_reason"] == "MeterValuePeriodic"]
    assert all(t.second == 0 and t.microsecond == 0 for t in periodic)
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(periodic))
    plugged_in = events[0]["timestamp"]
    first_tick = plugged_in.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert periodic[0] == first_tick and periodic[-1] == departure - timedelta(minutes=1)
    assert events[-1]["event_type"] == "Ended" and events[-1]["timestamp"] == departure

    # Billed Wh is exactly the EUMD register delta; all of it off-peak.
    assert session.energy_wh == session.end_register_wh - session.begin_register_wh == 14000
    assert run.summary["energy_wh"] == 14000
    assert session.cost_by_period == {"off-peak": {"energy_wh": 14000, "cost": "3.92"}}
    assert session.cost_total == money(Decimal("14.000") * OFF_PEAK)
    assert Decimal(run.summary["total_cost"]) == session.cost_total  # TransactionEvent Ended

    # The live view's cost, event by event, is the energy so far at the off-peak price:
    # a running total kept exact, not a sum of each minute's rounded cents.
    charging = [e for e in live if e["event_type"] == "Updated" and e["energy_wh"]]
    assert len(charging) > 100
    for event in charging:
        assert event["cost"] == str(money(Decimal(event["energy_wh"]) / 1000 * OFF_PEAK))
    assert live[-1]["event_type"] == "Ended" and live[-1]["cost"] == str(session.cost_total)

    # The operator's view: `pev-central sessions --json`, one row per session.
    listing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "central", "sessions", "--db", str(central.db), "--json",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    [row] = json.loads((await listing.communicate())[0])
    assert row == {
        "id": session.id, "station": "CP-1001", "transaction_id": session.transaction_id,
        "ocpp_version": "2.0.1",
        "premise": "P-1001", "pev": "PEV-0001", "payer_account": "A-1001", "scenario": "L1",
        "status": "ended", "complete": True, "energy_wh": 14000, "energy_so_far_wh": 14000,
        "cost_by_period": {"off-peak": {"energy_wh": 14000, "cost": "3.92"}},
        "cost_total": "3.92", "currency": "USD", "start": to_wire(plugged_in),
        "end": "2026-11-23T11:00:00Z", "refusal": None, "reconciliation": "pass",
        "dr_energy_wh": {}, "problems": []}


async def test_a_session_crossing_the_peak_boundary_costs_what_the_hand_computes(
        central, tmp_path):
    run = await run_agent(central, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "5000",
                          "--plug-in-at", tonight("20:40"), "--departure", "21:30",
                          "--max-power-w", "11000", state_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    session = await only_session(central)
    assert session.scenario == "L1" and session.payer_account == "A-1002"
    readings = {r.timestamp: r.register_wh
                for r in await central.store.readings(session.id)}
    at_nine = readings[local(2026, 11, 22, 21, 0)]
    peak_wh = at_nine - session.begin_register_wh
    partial_wh = session.end_register_wh - at_nine
    assert peak_wh > 0 and partial_wh > 0
    assert session.energy_wh == peak_wh + partial_wh == 5000
    expected = money(Decimal(peak_wh) / 1000 * PEAK) + money(Decimal(partial_wh) / 1000 *
                                                             PARTIAL_PEAK)
    assert session.cost_by_period == {
        "peak": {"energy_wh": peak_wh, "cost": str(money(Decimal(peak_wh) / 1000 * PEAK))},
        "partial-peak": {"energy_wh": partial_wh,
                         "cost": str(money(Decimal(partial_wh) / 1000 * PARTIAL_PEAK))}}
    assert session.cost_total == expected
    # the flex program charges on arrival at the EV's 7360 W (the tightest limit)
    assert max(limit for _, limit in session.schedule["periods"]) == 7360
    # the station was shown the cost so far every 5 minutes and at 21:00, then the bill
    assert run.summary["cost_updates"] >= 9
    assert Decimal("0") < Decimal(run.summary["running_cost"]) <= session.cost_total
    assert Decimal(run.summary["total_cost"]) == session.cost_total
    shown = [entry for entry in run.logs if entry.get("msg") == "running cost"]
    assert len(shown) == run.summary["cost_updates"]


async def test_the_eumd_register_carries_on_across_sessions(central, tmp_path):
    for plug_in, departure in ((tonight("20:30"), "21:10"), (tonight("22:00"), "22:30")):
        run = await run_agent(central, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "1000",
                              "--plug-in-at", plug_in, "--departure", departure,
                              state_dir=tmp_path)
        assert run.returncode == 0, run.stderr
    first, second = await central.store.sessions()
    assert first.end_register_wh == first.begin_register_wh + 1000
    assert second.begin_register_wh == first.end_register_wh
    assert second.energy_wh == 1000


async def test_an_unknown_pev_is_refused_gets_no_energy_and_is_billed_nothing(
        central, tmp_path):
    run = await run_agent(central, "CP-1001", "--pev", "PEV-9999", state_dir=tmp_path)
    assert run.returncode == 1
    assert run.summary["accepted"] is False and "not enrolled" in run.summary["message"]
    session = await only_session(central)
    assert session.status == "refused" and session.payer_account is None
    assert session.schedule is None and session.energy_wh == 0
    assert session.cost_total is None
    assert Decimal(run.summary["total_cost"]) == 0  # "free" per OCPP: 0.00, not omitted


async def test_a_wrong_password_or_unknown_station_is_refused_before_any_ocpp_message(
        central, tmp_path):
    wrong = await run_agent(central, "CP-1001", "--pev", "PEV-0001",
                            password="not-the-password-at-all", state_dir=tmp_path)
    unknown = await run_agent(central, "CP-0666", "--pev", "PEV-0001",
                              password="whatever-it-may-be", state_dir=tmp_path)
    for run in (wrong, unknown):
        assert run.returncode == 2 and "HTTP 401" in run.stderr
    assert await central.store.sessions() == []
