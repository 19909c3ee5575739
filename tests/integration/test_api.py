"""The operator API against a real running central, real agents and raw OCPP clients."""

import asyncio
import json

import pytest

from tests.integration.conftest import (
    finished,
    open_link,
    rpc,
    run_agent,
    start_agent,
    tonight,
)


async def test_every_route_but_health_needs_the_bearer_token(api):
    async with api.client(token=None) as anonymous, api.client("wrong-token-xxxxxxxxx") as bad:
        assert (await anonymous.get("/health")).json() == {"status": "ok"}
        for client in (anonymous, bad):
            for path in ("/stations", "/sessions", "/registry", "/dr-events"):
                response = await client.get(path)
                assert response.status_code == 401
                assert response.json() == {"detail": "a valid bearer token is required"}


async def test_stations_show_registry_data_and_live_connection_state(api):
    link = await open_link(api.central, "CP-1003")
    await rpc(link, "BootNotification", {"chargingStation": {"vendorName": "acme",
                                                             "model": "x1"},
                                         "reason": "PowerUp"})
    await rpc(link, "StatusNotification", {"timestamp": "2026-11-23T04:00:00Z",
                                           "connectorStatus": "Available", "evseId": 1,
                                           "connectorId": 1}, "m2")
    async with api.client() as client:
        stations = {s["id"]: s for s in (await client.get("/stations")).json()}
        assert stations["CP-1003"]["connected"] and not stations["CP-1001"]["connected"]
        assert stations["CP-1003"]["kind"] == "portal"
        assert stations["CP-1003"]["vendor"] == "acme"
        assert stations["CP-1003"]["connectors"]["1/1"]["status"] == "Available"
        assert stations["CP-1003"]["last_seen"] is not None
        assert (await client.get("/stations/CP-0666")).status_code == 404
    await link.close()


async def test_sessions_filter_and_a_session_shows_its_intervals(api, tmp_path):
    # departure 22:00: 2000 Wh whenever the agent boots (20:30 is 0.6 s after the central
    # started, and an agent that booted at 20:45 had left only 1615 Wh by 21:00)
    run = await run_agent(api.central, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "2000",
                          "--plug-in-at", tonight("20:30"), "--departure", "22:00",
                          "--max-power-w", "11000", state_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    async with api.client() as client:
        [row] = (await client.get("/sessions", params={"account": "A-1002"})).json()
        assert row["scenario"] == "L1" and row["energy_wh"] == 2000
        for params in ({"account": "A-1001"}, {"status": "active"}, {"scenario": "L2-B"},
                       {"since": "2026-11-24T00:00:00Z"}):
            assert (await client.get("/sessions", params=params)).json() == []
        assert (await client.get("/sessions", params={"status": "bogus"})).status_code == 422
        detail = (await client.get(f"/sessions/{row['id']}")).json()
        intervals = detail["intervals"]
        assert intervals[0]["context"] == "Transaction.Begin"
        assert intervals[-1]["context"] == "Transaction.End"
        assert intervals[-1]["register_wh"] - intervals[0]["register_wh"] == 2000
        assert (await client.get("/sessions/999")).status_code == 404
        statement = await client.get("/accounts/A-1002/statement", params={"month": "2026-11"})
        assert statement.json()["totals"]["energy_wh"] == 2000
        assert (await client.get("/accounts/A-9/statement",
                                 params={"month": "2026-11"})).status_code == 404
        assert (await client.get("/accounts/A-1002/statement",
                                 params={"month": "11/2026"})).status_code == 422


async def test_the_registry_can_be_read_and_changed_with_validation(api):
    async with api.client() as client:
        registry = (await client.get("/registry")).json()
        assert {p["id"] for p in registry["premises"]} == {"P-1001", "P-1002", "P-1003"}
        assert all("password_hash" not in s for s in registry["stations"])
        stored = await client.put("/registry/accounts/A-2001", json={"name": "Lin Ortiz"})
        assert stored.status_code == 200
        pev = {"owner": "A-2001", "home_premise": "P-1001", "program": "ev-gold",
               "territory": "cascade-north", "valid_until": "2030-01-01T00:00:00Z"}
        refused = await client.put("/registry/pevs/PEV-2001", json=pev)
        assert refused.status_code == 422
        assert "unknown program 'ev-gold'" in refused.json()["detail"]
        ok = await client.put("/registry/pevs/PEV-2001", json={**pev, "program": "ev-flex"})
        assert ok.status_code == 200
        assert (await client.delete("/registry/accounts/A-2001")).status_code == 409
        assert (await client.delete("/registry/pevs/PEV-2001")).status_code == 204
        assert (await client.delete("/registry/accounts/A-2001")).status_code == 204
        assert (await client.delete("/registry/accounts/A-2001")).status_code == 404
        assert (await client.put("/registry/widgets/x", json={})).status_code == 422
    link = await open_link(api.central, "CP-1001")
    reply = await rpc(link, "Authorize", {"idToken": {"idToken": "PEV-2001", "type": "Central"}})
    assert reply[2]["idTokenInfo"]["status"] == "Invalid"  # deleted: no longer binds
    await link.close()


async def test_dr_events_over_the_api(api):
    async with api.client() as client:
        created = await client.post("/dr-events", json={
            "start": "2026-11-23T05:00:00Z", "end": "2026-11-23T06:00:00Z",
            "scope": "premise:P-1001", "limit_w": 2000})
        assert created.status_code == 201 and created.json()["status"] == "scheduled"
        bad = await client.post("/dr-events", json={
            "start": "2026-11-23T06:00:00Z", "end": "2026-11-23T05:00:00Z", "scope": "all",
            "limit_w": 1})
        assert bad.status_code == 422 and "end after it starts" in bad.json()["detail"]
        assert len((await client.get("/dr-events")).json()) == 1
        event_id = created.json()["id"]
        assert (await client.post(f"/dr-events/{event_id}/cancel")).status_code == 200
        assert (await client.post(f"/dr-events/{event_id}/cancel")).status_code == 404


async def test_request_stop_transaction_ends_a_live_session(api, tmp_path):
    central = api.central
    agent = await start_agent(central.url, "CP-1002", "--pev", "PEV-0002", "--energy-wh",
                              "30000", "--plug-in-at", tonight("20:30"), "--departure", "23:59",
                              "--max-power-w", "11000", state_dir=tmp_path)
    async with api.client() as client:
        for _ in range(400):
            live = (await client.get("/sessions", params={"status": "active"})).json()
            if live and live[0]["pev"]:
                break
            await asyncio.sleep(0.05)
        transaction = live[0]["transaction_id"]
        stop = await client.post("/stations/CP-1002/commands/RequestStopTransaction",
                                 json={"transactionId": transaction})
        assert stop.status_code == 200, stop.text
        assert stop.json()["response"] == {"status": "Accepted"}
        run = await finished(agent)
        assert run.returncode == 0, run.stderr
        [ended] = (await client.get("/sessions")).json()
        assert ended["status"] == "ended" and ended["energy_wh"] < 30000
    [session] = await central.store.sessions()
    assert session.stopped_reason == "Remote"


async def test_commands_say_404_409_504_422_and_relay_the_station_answer(api):
    async with api.client() as client:
        for path in ("/stations/CP-0666/commands/Reset", "/stations/CP-0666/ocpp/Reset"):
            unknown = await client.post(path, json={"type": "Immediate"})
            assert unknown.status_code == 404, path
            assert unknown.json() == {"detail": "unknown station 'CP-0666'"}
        offline = await client.post("/stations/CP-1001/commands/Reset",
                                    json={"type": "Immediate"})
        assert offline.status_code == 409
        assert "not connected" in offline.json()["detail"]
        link = await open_link(api.central, "CP-1001")
        invalid = await client.post("/stations/CP-1001/commands/Reset", json={"type": "Now"})
        assert invalid.status_code == 422 and "OCPP schema" in invalid.json()["detail"]
        silent = await client.post("/stations/CP-1001/ocpp/GetVariables", json={
            "getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                 "variable": {"name": "HeartbeatInterval"}}]})
        assert silent.status_code == 504
        assert (await client.post("/stations/CP-1001/ocpp/Heartbeat", json={})).status_code \
            == 404  # a station-to-CSMS message is not a command

        async def answer_reset():
            request = json.loads(await link.recv())
            while request[2] != "Reset":  # the GetVariables that timed out
                request = json.loads(await link.recv())
            await link.send(json.dumps([3, request[1], {"status": "Scheduled"}]))

        answering = asyncio.create_task(answer_reset())
        reset = await client.post("/stations/CP-1001/commands/Reset",
                                  json={"type": "OnIdle"})
        await answering
        assert reset.status_code == 200
        assert reset.json()["response"] == {"status": "Scheduled"}
        await link.close()


async def test_the_event_feed_streams_what_happens(api):
    async with api.client() as client, client.stream("GET", "/events") as feed:
        assert feed.headers["content-type"].startswith("text/event-stream")
        lines = feed.aiter_lines()
        assert await anext(lines) == ": connected"
        link = await open_link(api.central, "CP-1001")
        await rpc(link, "Authorize", {"idToken": {"idToken": "NOBODY", "type": "Central"}})
        await link.send("not json")
        seen = []
        async with asyncio.timeout(10):
            async for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                if {e["type"] for e in seen} >= {"station.connected", "binding.refused",
                                                 "error"}:
                    break
        refused = next(e for e in seen if e["type"] == "binding.refused")
        assert refused["station"] == "CP-1001" and refused["status"] == "Invalid"
        assert refused["pev"] == "NOBODY"  # the PEV id presented
        await link.close()


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_the_openapi_document_is_served(api, path):
    async with api.client(token=None) as client:
        assert (await client.get(path)).status_code == 200
