"""Many simulated charge points in one process, for demos and load.

Reads the utility's registry file for stations (with their passwords), premises and PEVs,
plans one visit per station (mostly PEVs at home, some as guests elsewhere in the same
territory, so the central sees L1, L2-A and L2-B), staggers plug-ins and departures over
the run, and runs every station's agent and session concurrently on one clock.
"""

from __future__ import annotations

import asyncio
import random
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chargepoint.agent import Agent
from chargepoint.backoff import Backoff
from chargepoint.config import OCPP_VERSIONS
from chargepoint.evse import SimulatedEquipment, SimulatedEvse
from chargepoint.meter.simulated import SimulatedEumd
from chargepoint.outbox import Outbox, open_db
from chargepoint.pev import SimulatedPev
from chargepoint.session import ChargingSession, SessionResult
from shared.clock import Clock

HOME_SHARE = 0.6  # of visits: the PEV at its own premise (L1); the rest are guests


class FleetError(ValueError):
    """The registry file cannot drive a fleet (a message for the operator)."""


@dataclass(frozen=True)
class FleetStation:
    id: str
    password: str
    premise: str
    max_power_w: int
    eumd_serial: str


@dataclass(frozen=True)
class FleetPev:
    id: str
    vin: str | None
    home_premise: str
    territory: str


@dataclass(frozen=True)
class Visit:
    station: FleetStation
    pev: FleetPev
    plug_in: timedelta  # after the fleet's start
    stay: timedelta
    energy_wh: int
    ocpp: str = "2.0.1"  # the version the station speaks


@dataclass(frozen=True)
class Outcome:
    visit: Visit
    result: SessionResult | None
    error: str | None = None

    @property
    def scenario(self) -> str:
        if self.result is None:
            return "failed"
        if not self.result.accepted:
            return "refused"
        for scenario in ("L2-A", "L2-B", "L1"):
            if f"({scenario})" in self.result.message:
                return scenario
        return "accepted"


def read_registry(path: Path) -> tuple[list[FleetStation], list[FleetPev], dict[str, str]]:
    """Stations (with clear passwords), PEVs, and each premise's territory."""
    try:
        data = tomllib.loads(path.read_text())
        territory = {p["id"]: p["territory"] for p in data.get("premises", [])}
        stations = [FleetStation(s["id"], s["password"], s["premise"], s["max_power_w"],
                                 s["eumd_serial"])
                    for s in data.get("stations", []) if "password" in s]
        pevs = [FleetPev(p["id"], p.get("vin"), p["home_premise"], p["territory"])
                for p in data.get("pevs", []) if p.get("status", "active") == "active"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        raise FleetError(f"{path}: not a usable registry file: {error}") from None
    if not stations:
        raise FleetError(f"{path}: no station with a clear 'password' to simulate")
    return stations, pevs, territory


def parse_ocpp_mix(text: str) -> dict[str, int]:
    """`1.6:50,2.0.1:30,2.1:20` -> each version's share of the stations (weights)."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        version, _, weight = part.strip().partition(":")
        if version not in OCPP_VERSIONS or not weight.isdigit() or version in mix:
            raise FleetError(f"--ocpp-mix {text!r}: give VERSION:WEIGHT pairs, each of "
                             f"{', '.join(OCPP_VERSIONS)} at most once, e.g. "
                             "1.6:50,2.0.1:30,2.1:20")
        mix[version] = int(weight)
    if not sum(mix.values()):
        raise FleetError(f"--ocpp-mix {text!r}: the weights add up to 0")
    return mix


def versions_for(count: int, mix: dict[str, int]) -> list[str]:
    """`count` stations' versions in the mix's proportions (largest remainder), spread
    evenly through the fleet rather than in blocks."""
    total = sum(mix.values())
    exact = {v: count * w / total for v, w in mix.items()}
    shares = {v: int(e) for v, e in exact.items()}
    for version in sorted(exact, key=lambda v: exact[v] - shares[v],
                          reverse=True)[:count - sum(shares.values())]:
        shares[version] += 1
    placed = sorted((i / share, version) for version, share in shares.items()
                    for i in range(share))
    return [version for _, version in placed]


def plan_visits(stations: list[FleetStation], pevs: list[FleetPev],
                territory: dict[str, str], count: int, duration: timedelta,
                rng: random.Random, ocpp_mix: dict[str, int] | None = None) -> list[Visit]:
    """One visit per station: a PEV at home where there is one, else (or by chance) a
    guest from the same territory; each PEV goes to one place only. Stations speak the
    OCPP versions of `ocpp_mix` in its proportions (default: all 2.0.1)."""
    if count > len(stations):
        raise FleetError(f"--count {count}: the registry has only {len(stations)} stations "
                         "with passwords")
    free = {p.id: p for p in pevs}
    homes: dict[str, list[FleetPev]] = {}
    for pev in pevs:
        homes.setdefault(pev.home_premise, []).append(pev)
    visits = []
    versions = versions_for(count, ocpp_mix or {"2.0.1": 1})
    for station, version in zip(stations[:count], versions, strict=True):
        at_home = [p for p in homes.get(station.premise, []) if p.id in free]
        guests = [p for p in free.values() if p.home_premise != station.premise
                  and p.territory == territory.get(station.premise)]
        choices = at_home if at_home and (rng.random() < HOME_SHARE or not guests) else guests
        if not choices:
            continue
        pev = free.pop(rng.choice(choices).id)
        plug_in = duration * rng.uniform(0.0, 0.3)
        stay = (duration - plug_in) * rng.uniform(0.5, 1.0)
        visits.append(Visit(station, pev, plug_in, stay, rng.randrange(3_000, 25_000, 500),
                            version))
    return visits


class Fleet:
    def __init__(self, central_url: str, clock: Clock, state_dir: Path,
                 backoff_cap_s: float = 30.0) -> None:
        self.central_url, self.clock, self.state_dir = central_url, clock, state_dir
        self.backoff_cap_s = backoff_cap_s

    async def run(self, visits: list[Visit], on_connected: Callable[[], None] = lambda: None,
                  on_done: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
        """Connect every station, then run every visit; returns their outcomes."""
        # One outbox file for the fleet: a file per station would hold three open files
        # each, past the limit of open files at a few thousand stations.
        shared = open_db(self.state_dir / "outbox.db")
        agents = [Agent(self.central_url, v.station.id, v.station.password, self.clock,
                        backoff=Backoff(cap_s=self.backoff_cap_s), sync_clock=i == 0,
                        outbox=Outbox(shared=shared, queue=v.station.id), ocpp_version=v.ocpp)
                  for i, v in enumerate(visits)]
        links = [asyncio.create_task(agent.run()) for agent in agents]
        try:
            if agents:  # the first boot sets the shared clock before anyone plans a visit
                await self._online(agents[0], links[0], on_connected)
                start = self.clock.now()
                await asyncio.gather(*(self._online(a, t, on_connected)
                                       for a, t in zip(agents[1:], links[1:], strict=True)))
            outcomes = await asyncio.gather(*(
                self._visit(agent, visit, start, on_done)
                for agent, visit in zip(agents, visits, strict=True)))
        finally:
            for link in links:
                link.cancel()
        return list(outcomes)

    async def _online(self, agent: Agent, link: asyncio.Task[None],
                      on_connected: Callable[[], None]) -> None:
        online = asyncio.create_task(agent.wait_online())
        await asyncio.wait([online, link], return_when=asyncio.FIRST_COMPLETED)
        if link.done():
            online.cancel()
            link.result()  # raises why the central refused it
        on_connected()

    async def _visit(self, agent: Agent, visit: Visit, start: datetime,
                     on_done: Callable[[Outcome], None]) -> Outcome:
        await self.clock.sleep_until(start + visit.plug_in)
        plugged_in = self.clock.now()
        meter = SimulatedEumd(self.state_dir / f"{visit.station.id}.json",
                              visit.station.eumd_serial)
        pev = SimulatedPev(visit.pev.id, visit.pev.vin, visit.energy_wh)
        evse = SimulatedEquipment(SimulatedEvse(meter, visit.station.max_power_w))
        session = ChargingSession(agent, self.clock, evse, pev, plugged_in + visit.stay)
        agent.session = session
        try:
            result = await session.run()
            await agent.outbox.drained()
            outcome = Outcome(visit, result)
        except Exception as error:  # one station's failure is reported, not fatal
            outcome = Outcome(visit, None, f"{type(error).__name__}: {error}")
        on_done(outcome)
        return outcome


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    scenarios = Counter(o.scenario for o in outcomes)
    energy = sum(o.result.energy_wh for o in outcomes if o.result)
    cost = sum((o.result.total_cost for o in outcomes
                if o.result and o.result.total_cost is not None), start=0)
    versions = Counter(o.visit.ocpp for o in outcomes)
    return {"stations": len(outcomes), "scenarios": dict(sorted(scenarios.items())),
            "ocpp_versions": dict(sorted(versions.items())),
            "energy_wh": energy, "total_cost": str(cost),
            "failures": [f"{o.visit.station.id}: {o.error}" for o in outcomes if o.error]}
