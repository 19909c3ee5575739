"""Hardware-backed charge points end to end: a real agent process reads an emulated SDM630
meter and drives an emulated Phoenix EV Charge Control controller on a real pymodbus TCP
server, against the real central system; and `pev-chargepoint probe` checks them."""

import asyncio
import sys
from datetime import datetime, timedelta

import pytest

from shared.clock import Clock
from shared.schedule import Schedule
from shared.timeutil import parse_timestamp, to_wire
from tests.helpers import ROOT, local
from tests.integration.conftest import (
    finished,
    pev_central,
    run_agent,
    running_central,
    tonight,
)
from tests.modbus_devices import SPEED, Plant, hardware_agent, modbus_devices, station_file, until

MINUTE, SECOND = timedelta(minutes=1), timedelta(seconds=1)
BEGIN_WH = 1_234_500  # the emulated meter's register when the tests start


async def session_of(central, station):
    sessions = [s for s in await central.store.sessions() if s.station_id == station]
    return sessions[-1] if sessions else None


async def l1_at_night(central, tmp_path, *options):
    """PEV-0001 at home, 2 kWh by 03:00 from 23:40, on the emulated 240 V devices (the
    schedule's 7200 W is a whole 30 A): plugged in, charged through its window, unplugged.
    The plant and the agent's run."""
    plant = Plant(central.clock, energy_wh=BEGIN_WH, voltage_v=240, wanted_wh=2000)
    async with modbus_devices(plant) as devices:
        agent = await hardware_agent(central, devices, "CP-1001", "--pev", "PEV-0001",
                                     "--energy-wh", "2000", "--departure", "03:00", *options,
                                     state_dir=tmp_path, max_power_w=7200, voltage_v=240)
        plant.plug_in()
        await until(lambda: [amps for _, amps in plant.limits] == [0, 30, 0],
                    "the schedule's charging window", 120)
        await central.clock.sleep(180)
        plant.unplug()
        return plant, await finished(agent)


async def test_a_hardware_backed_l1_session_follows_its_schedule_and_bills_the_register(
        tmp_path):
    async with running_central(tmp_path, speed=SPEED,
                               start=local(2026, 11, 22, 23, 40)) as central:
        plant, run = await l1_at_night(central, tmp_path)
        assert run.returncode == 0, run.stderr
        session = await session_of(central, "CP-1001")
        assert (session.scenario, session.status, session.complete) == ("L1", "ended", True)
        # billed: exactly the emulated register's delta, all off-peak
        assert session.begin_register_wh == plant.served_wh[0] == BEGIN_WH
        assert session.end_register_wh == plant.served_wh[-1]  # read after the unplug
        energy = plant.served_wh[-1] - plant.served_wh[0]
        assert session.energy_wh == run.summary["energy_wh"] == energy
        assert abs(energy - 2000) <= 20  # as planned, give or take a few seconds' latency
        assert set(session.cost_by_period) == {"off-peak"}
        assert str(session.cost_total) == run.summary["total_cost"]
        events = await central.store.events("CP-1001", session.transaction_id)
        assert [e["seq_no"] for e in events] == list(range(len(events)))
        assert events[-1]["trigger_reason"] == "EVDeparted"

        # The controller's current follows the schedule: nothing before midnight (economy),
        # then 7200 W as whole amperes at 240 V, changed at each edge of the schedule.
        schedule = Schedule(parse_timestamp(session.schedule["start"]),
                            tuple(tuple(p) for p in session.schedule["periods"]))
        midnight = local(2026, 11, 23, 0, 0)
        assert all(amps == 0 for at, amps in plant.limits if at < midnight)
        for at, amps in plant.limits:
            assert amps == min(schedule.limit_at(at), 7200) // 240
        applied = 0
        for offset, limit in schedule.periods:
            edge, amps = schedule.start + timedelta(seconds=offset), min(limit, 7200) // 240
            if amps != applied:  # within a simulated minute of the edge
                assert any(edge <= at < edge + MINUTE and a == amps for at, a in plant.limits)
            applied = amps
        assert run.log("setpoint applied")["current_a"] == 0


@pytest.mark.parametrize("version", ["1.6", "2.1"])
async def test_a_hardware_backed_session_speaks_each_ocpp_version(tmp_path, version):
    """The same hardware-backed agent over another OCPP version: it follows the schedule
    it gets and is billed the emulated register's delta."""
    async with running_central(tmp_path, speed=SPEED,
                               start=local(2026, 11, 22, 23, 40)) as central:
        plant, run = await l1_at_night(central, tmp_path, "--ocpp", version)
        assert run.returncode == 0, run.stderr
        session = await session_of(central, "CP-1001")
        assert (session.scenario, session.status, session.ocpp_version) == ("L1", "ended",
                                                                           version)
        energy = plant.served_wh[-1] - plant.served_wh[0]
        assert session.energy_wh == run.summary["energy_wh"] == energy
        assert abs(energy - 2000) <= 20 and session.complete


async def test_a_demand_response_event_lowers_the_controller_setpoint(tmp_path):
    async with running_central(tmp_path, speed=SPEED) as central:
        plant = Plant(central.clock, energy_wh=BEGIN_WH)
        async with modbus_devices(plant) as devices:
            agent = await hardware_agent(central, devices, "CP-1002", "--pev", "PEV-0002",
                                         "--energy-wh", "20000", "--departure", "23:30",
                                         state_dir=tmp_path)
            plant.plug_in()
            await until(lambda: plant.setpoint_a == 32, "charging at the EV's 32 A")
            start = central.clock.now().replace(second=0, microsecond=0) + 10 * MINUTE
            end = start + 20 * MINUTE
            code, _, err = await pev_central(
                "dr", "create", "--db", str(central.db), "--start", to_wire(start),
                "--end", to_wire(end), "--limit-w", "3000", "--scope", "station:CP-1002")
            assert code == 0, err
            await central.clock.sleep_until(end + 5 * MINUTE)
            plant.unplug()
            run = await finished(agent)
        assert run.returncode == 0, run.stderr
        assert plant.limit_at(start - 2 * MINUTE) == 32  # 7360 W, the EV's maximum
        assert plant.limit_at(start + 2 * MINUTE) == 13  # 3000 W at 230 V, rounded down
        assert plant.limit_at(end - MINUTE) == 13
        assert plant.limit_at(end + 2 * MINUTE) == 32  # and back
        session = await session_of(central, "CP-1002")
        readings = await central.store.readings(session.id)
        under_event = [r.power_w for r in readings
                       if start + 2 * MINUTE <= r.timestamp < end and r.power_w is not None]
        assert under_event and max(under_event) <= 3000
        assert session.end_register_wh == plant.served_wh[-1]
        assert session.energy_wh == session.end_register_wh - session.begin_register_wh
        assert abs(session.energy_wh - plant.delivered_wh) <= 1  # float32 kWh, to the Wh


async def test_the_same_readings_give_the_same_ocpp_traffic_and_bill_on_either_backend(
        tmp_path):
    """One L1 session simulated; then the emulated meter serves exactly its readings to a
    hardware-backed agent: the central sees the same transaction and bills the same."""
    # Slower than the other tests: the binding must be answered before the first minute
    # tick (60 simulated s after the plug-in) on both backends, or the ticks before it carry
    # no payer; at 150 that is 0.4 s, a loaded host's fsync and poll included.
    speed = 150
    # 10 simulated minutes (4 s) for either agent to boot before the plug-in, so that both
    # sessions start at the same whole minute and see the same ticks
    plug_in, departure = tonight("20:10"), "20:40"
    # 2950 Wh at 7360 W end 3 s past a minute: the hardware-backed session, plugged in a
    # few simulated seconds later, ends its charging window before the next tick too
    runs = {}
    for backend in ("simulated", "modbus"):
        directory = tmp_path / backend
        directory.mkdir()
        async with running_central(directory, speed=speed) as central, \
                central.router.bus.subscribe() as feed:
            args = ("--pev", "PEV-0002", "--energy-wh", "2950", "--departure", departure)
            if backend == "simulated":
                run = await run_agent(central, "CP-1002", *args, "--plug-in-at", plug_in,
                                      state_dir=directory)
            else:
                plant = Plant(central.clock, replay=runs["simulated"]["readings"])
                async with modbus_devices(plant) as devices:
                    agent = await hardware_agent(central, devices, "CP-1002", *args,
                                                 state_dir=directory)
                    await until(lambda: "CP-1002" in central.router.connected(),
                                "the hardware-backed agent connecting")
                    assert central.clock.now() < runs["simulated"]["started"], "booted late"
                    await central.clock.sleep_until(runs["simulated"]["started"])
                    plant.plug_in()
                    run = await finished(agent)
            assert run.returncode == 0, run.stderr
            session = await session_of(central, "CP-1002")
            if backend == "simulated":
                late = session.started_at - datetime.fromisoformat(plug_in)
                assert late < 10 * SECOND, "booted late"
            traffic = []
            while not feed.empty():
                event = feed.get_nowait()
                if event["type"] == "transaction":
                    traffic.append({k: event[k] for k in (
                        "event_type", "seq_no", "charging_state", "power_w", "energy_wh",
                        "cost", "status", "scenario", "payer")})
            runs[backend] = {
                "traffic": traffic, "readings": await central.store.readings(session.id),
                "started": session.started_at, "triggers": [
                    e["trigger_reason"] for e in await central.store.events(
                        "CP-1002", session.transaction_id)],
                "bill": (session.energy_wh, session.cost_by_period, session.cost_total,
                         session.begin_register_wh, session.end_register_wh)}
    simulated, hardware = runs["simulated"], runs["modbus"]
    assert hardware["triggers"] == simulated["triggers"]
    assert hardware["traffic"] == simulated["traffic"]
    assert [(r.context, r.register_wh, r.power_w) for r in hardware["readings"]] == \
        [(r.context, r.register_wh, r.power_w) for r in simulated["readings"]]
    assert hardware["bill"] == simulated["bill"]
    assert simulated["bill"][0] == 2950
    # what only a simulation knows: the PEV's own running total (location EV)
    assert all(r.ev_total_wh is None for r in hardware["readings"])


async def probe(config):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "probe", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_probe_prints_what_the_meter_and_controller_say(tmp_path):
    plant = Plant(Clock(), energy_wh=BEGIN_WH, vehicle_present=True)
    async with modbus_devices(plant) as devices:
        config = station_file(tmp_path, devices.port)
        code, out, err = await probe(config)
        assert code == 0, err
        meter, controller = out.splitlines()
        assert meter == (f"meter EUMD-CP-1002 (sdm630 on modbus tcp 127.0.0.1:{devices.port} "
                         "unit 1): import register 1234500 Wh, 0.0 W, 230.0 V, 0.0 A")
        assert controller == (
            f"controller (phoenix-ev-charge-control on modbus tcp 127.0.0.1:{devices.port} "
            "unit 2): vehicle state B, current setpoint 0 A, charging disabled")
    code, out, err = await probe(config)  # the server is gone
    assert code == 2 and out == ""
    assert f"probe: cannot connect to modbus tcp 127.0.0.1:{devices.port} unit 1" in err


async def test_probe_reads_a_simulated_station_too(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text('[station]\nid = "CP-1001"\nmax_power_w = 7200\n'
                      '[meter]\nbackend = "simulated"\n[controller]\nbackend = "simulated"\n')
    code, out, err = await probe(config)
    assert code == 0, err
    assert out.splitlines() == ["meter EUMD-CP-1001 (simulated): import register 0 Wh",
                                "controller (simulated): the simulated EVSE"]


async def test_probe_refuses_a_bad_station_file_with_its_field(tmp_path):
    config = station_file(tmp_path, 1502)
    config.write_text(config.read_text().replace('map = "sdm630"', 'map = "sdm999"'))
    code, _, err = await probe(config)
    assert code == 2
    assert f"{config}.meter.map: no built-in meter map 'sdm999'" in err
    code, _, err = await probe(tmp_path / "missing.toml")
    assert code == 2 and "missing.toml: cannot read" in err
