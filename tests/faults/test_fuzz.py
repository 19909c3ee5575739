"""Random frames against a real central process: every frame is answered or its connection
is closed cleanly, the server stays up, and a well-behaved station charging on the same
server all the while completes its session and is billed exactly."""

import asyncio
import json
import signal
from types import SimpleNamespace

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from central.store import SqliteStore
from tests.faults.processes import start_central
from tests.helpers import EXAMPLE
from tests.integration.conftest import (
    EVENING,
    finished,
    free_port,
    open_link,
    pev_central,
    start_agent,
)

SPEED = 300  # the neighbour's hour of charging spans the whole fuzz run
CLEAN_CLOSES = {1000, 1002, 1007, 1008, 1009, 1011}
ACTIONS = ["BootNotification", "Heartbeat", "StatusNotification", "Authorize",
           "TransactionEvent", "NotifyEVChargingNeeds", "MeterValues", "DataTransfer",
           "NotifyEVChargingSchedule", "FlyToTheMoon"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)
nearly_valid_event = st.fixed_dictionaries({
    "eventType": st.sampled_from(["Started", "Updated", "Ended", "Paused"]),
    "timestamp": st.sampled_from(["2026-11-23T04:00:00Z", "2026-11-23T04:00:00",
                                  "9999-12-31T23:59:59Z", "yesterday"]),
    "triggerReason": st.sampled_from(["MeterValuePeriodic", "CablePluggedIn", "Nonsense"]),
    "seqNo": st.integers(-3, 2**40),
    "transactionInfo": st.fixed_dictionaries({"transactionId": st.text(max_size=40)}),
    "meterValue": st.lists(st.fixed_dictionaries({
        "timestamp": st.just("2026-11-23T04:00:00Z"),
        "sampledValue": st.lists(st.fixed_dictionaries({
            "value": st.floats(allow_nan=False) | st.integers(),
            "measurand": st.just("Energy.Active.Import.Register")}), max_size=2)}),
        max_size=2)})
frames = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(json.dumps),
    st.tuples(st.sampled_from([2, 3, 4, 5, -1, "2", None]), st.text(max_size=40),
              st.sampled_from(ACTIONS), json_values).map(lambda t: json.dumps(list(t))),
    st.tuples(st.just(2), st.text(min_size=1, max_size=36), st.just("TransactionEvent"),
              nearly_valid_event).map(lambda t: json.dumps(list(t))),
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def target(tmp_path_factory):
    """A central process, and an agent charging CP-1002 on it meanwhile."""
    tmp = tmp_path_factory.mktemp("fuzz")
    db = tmp / "central.db"
    code, _, err = await pev_central("registry", "import", str(EXAMPLE), "--db", str(db))
    assert code == 0, err
    port = free_port()
    central = await start_central(db, port, EVENING, tmp / "central.log",
                                  SPEED, "--rate-limit", "5000", "--rate-burst", "5000")
    url = f"ws://127.0.0.1:{port}/ocpp"
    neighbour = await start_agent(url, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "4000",
                                  "--departure", "21:30", "--max-power-w", "11000",
                                  state_dir=tmp / "cp", speed=SPEED)
    target = SimpleNamespace(url=url, db=db, central=central, neighbour=neighbour, link=None)
    try:
        yield target
    finally:
        if neighbour.returncode is None:
            neighbour.kill()
        central.send_signal(signal.SIGTERM)
        await central.wait()


async def frame_is_handled(target, frame, probe_id="probe"):
    """Send `frame`, then a Heartbeat: True if the link answered both sensibly, False if it
    was closed cleanly on the way (and the test reconnects); anything else fails."""
    if target.link is None:
        target.link = await open_link(target, "CP-1001")
    link = target.link
    try:
        await link.send(frame)
        await link.send(json.dumps([2, probe_id, "Heartbeat", {}]))
        while True:
            message = json.loads(await asyncio.wait_for(link.recv(), 10))
            assert isinstance(message, list) and message[0] in (2, 3, 4), message
            if message[0] != 2 and message[1] == probe_id:  # the central's own calls: skip
                assert message[0] == 3, message
                return True
    except ConnectionClosed:
        target.link = None
        assert link.close_code in CLEAN_CLOSES, (link.close_code, link.close_reason)
        return False


@pytest.mark.asyncio(loop_scope="module")
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
async def test_random_frames_are_answered_or_closed_cleanly(target, frame):
    await frame_is_handled(target, frame)
    assert target.central.returncode is None  # still up


@pytest.mark.asyncio(loop_scope="module")
async def test_the_well_behaved_station_completed_its_session_meanwhile(target):
    if target.link is not None:
        await target.link.close()
    run = await finished(target.neighbour)
    assert run.returncode == 0, run.stderr
    store = await SqliteStore.open(target.db)
    try:
        [session] = [s for s in await store.sessions() if s.station_id == "CP-1002"]
    finally:
        await store.close()
    assert session.complete and session.status == "ended"
    assert session.energy_wh == session.end_register_wh - session.begin_register_wh == 4000
