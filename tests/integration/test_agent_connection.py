"""The agent's link: it waits out a central that is not there yet, and keeps secrets out
of its logs."""

import asyncio

from tests.integration.conftest import (
    PASSWORDS,
    finished,
    free_port,
    run_agent,
    running_central,
    start_agent,
    tonight,
)


async def test_the_agent_retries_with_backoff_until_the_central_comes_up(tmp_path):
    port = free_port()
    # The retry lands up to 1.5 s (75 min of the clock) after the central's 20:00 start.
    # Plugged in at 21:30, or at once if it is later: inside the 21:00-24:00 period with
    # room to spare (plugged in as it came, at 20:42 the plan had 24 Wh of slack, and a
    # few ms of lag at 3000x left the PEV 23 Wh short).
    agent = await start_agent(f"ws://127.0.0.1:{port}/ocpp", "CP-1002", "--pev", "PEV-0002",
                              "--energy-wh", "2000", "--departure", "23:00",
                              "--plug-in-at", tonight("21:30"),
                              "--backoff-cap-s", "1.5", state_dir=tmp_path / "cp")
    await asyncio.sleep(2.5)  # a few refused attempts
    async with running_central(tmp_path, port) as central:
        run = await finished(agent)
        assert run.returncode == 0, run.stderr
        retries = [e for e in run.logs if e["msg"] == "reconnecting"]
        assert len(retries) >= 2
        [session] = await central.store.sessions()
        assert session.energy_wh == 2000 and session.complete


async def test_no_password_appears_in_the_agent_logs(central, tmp_path, caplog):
    run = await run_agent(central, "CP-1001", "--pev", "PEV-0001", "--departure", "20:40",
                          state_dir=tmp_path)
    wrong = await run_agent(central, "CP-1002", "--pev", "PEV-0002", state_dir=tmp_path,
                            password="a-wrong-password-123")
    assert run.returncode == 0 and wrong.returncode == 2
    for secret in (PASSWORDS["CP-1001"], "a-wrong-password-123"):
        assert secret not in run.stderr + wrong.stderr
        assert secret not in caplog.text
