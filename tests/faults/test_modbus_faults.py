"""A hardware-backed station whose Modbus devices misbehave mid-session: the meter's
server goes away, returns garbage, answers too slowly. The transaction stays open, no
made-up value is ever reported, and the register carries every Wh to the bill."""

import itertools
from datetime import timedelta

from tests.integration.conftest import finished, running_central
from tests.modbus_devices import SPEED, Plant, hardware_agent, modbus_devices, until

MINUTE = timedelta(minutes=1)
BEGIN_WH = 1_234_500


def connector(central, status):
    async def check():
        state = await central.store.station_state("CP-1002")
        return state["connectors"].get("1/1", {}).get("status") == status
    return check


async def charge(central, devices, tmp_path, wanted_wh):
    agent = await hardware_agent(central, devices, "CP-1002", "--pev", "PEV-0002",
                                 "--energy-wh", str(wanted_wh), "--departure", "23:30",
                                 state_dir=tmp_path)
    devices.plant.plug_in()
    await until(lambda: devices.plant.delivered_wh > 1000, "charging the first kWh")
    return agent


async def unplug_when_full(central, plant, agent):
    await until(lambda: plant.delivered_wh >= plant.wanted_wh, "charging to the end", 120)
    await central.clock.sleep(120)
    plant.unplug()
    return await finished(agent)


async def billed_the_register(central, plant, run):
    """One transaction, complete, billed exactly the emulated register's delta."""
    assert run.returncode == 0, run.stderr
    [session] = await central.store.sessions()
    assert session.status == "ended" and session.complete
    assert session.begin_register_wh == BEGIN_WH
    assert session.end_register_wh == plant.served_wh[-1]
    assert session.energy_wh == session.end_register_wh - BEGIN_WH == run.summary["energy_wh"]
    assert abs(session.energy_wh - plant.wanted_wh) <= 1  # float32 kWh, to the Wh
    readings = await central.store.readings(session.id)
    registers = [r.register_wh for r in readings]
    assert registers == sorted(registers)  # nothing refused was ever reported
    events = await central.store.events("CP-1002", session.transaction_id)
    periodic = [e["timestamp"] for e in events if e["trigger_reason"] == "MeterValuePeriodic"]
    assert all(b - a == MINUTE for a, b in itertools.pairwise(periodic))
    return session, readings, periodic


def statuses(run):
    return [entry["status"] for entry in run.logs if entry.get("msg") == "connector status"]


def failures(run):
    return [entry["error"] for entry in run.logs if entry.get("msg") == "meter reading failed"]


async def test_the_meter_gone_mid_session_faults_the_connector_and_loses_no_energy(tmp_path):
    async with running_central(tmp_path, speed=SPEED) as central:
        plant = Plant(central.clock, energy_wh=BEGIN_WH, wanted_wh=6000)
        async with modbus_devices(plant) as devices:
            agent = await charge(central, devices, tmp_path, 6000)
            await devices.stop()
            gone = central.clock.now()
            await until(connector(central, "Faulted"), "Faulted after 3 intervals")
            await central.clock.sleep_until(gone + 10 * MINUTE)  # the vehicle charges on
            during = plant.delivered_wh
            await devices.start()
            back = central.clock.now()
            await until(connector(central, "Occupied"), "Occupied when readings are back")
            run = await unplug_when_full(central, plant, agent)
        session, readings, periodic = await billed_the_register(central, plant, run)
    assert statuses(run) == ["Faulted", "Occupied"]
    assert any("cannot connect" in error for error in failures(run))
    # the outage's intervals were reported, without readings; the first good one after
    # carries the energy that flowed meanwhile
    outage = [at for at in periodic if gone + MINUTE < at < back - MINUTE]
    assert len(outage) >= 8
    assert not any(gone + MINUTE < r.timestamp < back - MINUTE for r in readings)
    after = next(r for r in readings if r.timestamp >= back)
    assert after.register_wh - BEGIN_WH >= during - 125  # within a minute's charging
    assert session.transaction_id == run.summary["transaction_id"]


async def test_garbage_readings_are_refused_and_never_reported(tmp_path):
    async with running_central(tmp_path, speed=SPEED) as central:
        plant = Plant(central.clock, energy_wh=BEGIN_WH, wanted_wh=4000)
        async with modbus_devices(plant) as devices:
            agent = await charge(central, devices, tmp_path, 4000)
            now_wh = plant.energy_wh
            garbage = [float("nan"), now_wh - 500, now_wh + 1_000_000]
            plant.garbage = list(garbage)
            await until(lambda: not plant.garbage, "the garbage served")
            run = await unplug_when_full(central, plant, agent)
        _, readings, _ = await billed_the_register(central, plant, run)
    refused = failures(run)
    assert any("not a number" in error for error in refused)
    assert any("went backwards" in error for error in refused)
    assert any("impossible jump" in error for error in refused)
    # The backwards value, had it been reported, would break the registers' order (which
    # billed_the_register checks); looked for by value it can match a genuine reading from
    # minutes before it was served. The jump can be looked for by value.
    assert round(garbage[2]) not in {r.register_wh for r in readings}
    assert statuses(run) == []  # one interval without a reading is not a fault


async def test_slow_answers_time_out_fault_the_connector_and_recover(tmp_path):
    async with running_central(tmp_path, speed=SPEED) as central:
        plant = Plant(central.clock, energy_wh=BEGIN_WH, wanted_wh=6000)
        async with modbus_devices(plant) as devices:
            agent = await charge(central, devices, tmp_path, 6000)
            plant.delay_s = 1.0  # twice the station file's timeout
            await until(connector(central, "Faulted"), "Faulted after 3 slow intervals")
            plant.delay_s = 0.0
            await until(connector(central, "Occupied"), "Occupied when answers are quick")
            run = await unplug_when_full(central, plant, agent)
        await billed_the_register(central, plant, run)
    assert statuses(run) == ["Faulted", "Occupied"]
    assert any("Timeout" in error or "ModbusIOException" in error for error in failures(run))
