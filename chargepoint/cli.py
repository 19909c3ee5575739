"""`pev-chargepoint`: run a premise charge point (simulated, or hardware-backed per a
station file) against the central system; probe a station's devices."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from chargepoint.agent import Agent, Refused
from chargepoint.backends import hardware_equipment, open_devices, probe
from chargepoint.backoff import Backoff
from chargepoint.config import OCPP_VERSIONS, ConfigError, StationConfig, load_station_config
from chargepoint.evse import SimulatedEquipment, SimulatedEvse
from chargepoint.fleet import (
    Fleet,
    FleetError,
    parse_ocpp_mix,
    plan_visits,
    read_registry,
    summary,
)
from chargepoint.hardware import HardwareEquipment
from chargepoint.meter.simulated import SimulatedEumd
from chargepoint.modbus.link import DeviceError
from chargepoint.outbox import Outbox
from chargepoint.pev import SimulatedPev
from chargepoint.session import ChargingSession, SessionResult
from chargepoint.tls import client_context
from shared import cli_types, eventloop, logs
from shared.clock import Clock
from shared.timeutil import parse_timestamp

USAGE_ERROR = 2
PASSWORD_ENV = "PEV_CHARGEPOINT_PASSWORD"


def _time_spec(text: str) -> str:
    try:
        time.fromisoformat(text) if len(text) <= 5 else parse_timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither HH:MM nor an ISO 8601 date-time") from None
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pev-chargepoint", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="connect one station; with --pev, run one session")
    run.add_argument("--config", type=Path, metavar="STATION.toml",
                     help="station file: id, central, limits, meter and EVSE controller "
                          "backends (see examples/station-modbus.toml)")
    run.add_argument("--central", help="e.g. ws://127.0.0.1:9000/ocpp (default: the "
                                       "station file's)")
    run.add_argument("--station", help="station id, the Basic auth user (default: the "
                                       "station file's)")
    run.add_argument("--password", default=os.environ.get(PASSWORD_ENV),
                     help=f"station password (default: ${PASSWORD_ENV})")
    run.add_argument("--ca-cert", type=Path,
                     help="CA to verify the central's wss:// certificate (default: system CAs)")
    run.add_argument("--client-cert", type=Path,
                     help="this station's TLS client certificate (PEM), security profile 3")
    run.add_argument("--client-key", type=Path, help="its private key (PEM)")
    run.add_argument("--pev", help="plug this PEV in at once and charge it until departure")
    run.add_argument("--plug-in-at", type=_time_spec, metavar="TIME",
                     help="plug in at this HH:MM local (next occurrence) or ISO date-time "
                          "(default: at once)")
    run.add_argument("--vin", help="the PEV's VIN, sent as additional idToken info")
    run.add_argument("--energy-wh", type=cli_types.positive_int, default=20000,
                     help="energy the PEV asks for, AC side (default 20000)")
    run.add_argument("--departure", type=_time_spec, default="07:00",
                     help="HH:MM local (next occurrence) or ISO date-time (default 07:00)")
    run.add_argument("--timezone", type=cli_types.zone, default=ZoneInfo("UTC"),
                     help="the premise's time zone, for --departure HH:MM (default UTC)")
    run.add_argument("--pev-max-w", type=cli_types.positive_int, default=7360,
                     help="PEV on-board charger maximum in W (default 7360: 32 A x 230 V)")
    run.add_argument("--battery-kwh", type=cli_types.positive, default=75.0,
                     help="PEV battery capacity in kWh (default 75)")
    run.add_argument("--soc", type=cli_types.fraction, default=0.3,
                     help="PEV state of charge at plug-in, 0..1 (default 0.3)")
    run.add_argument("--pev-efficiency", type=cli_types.fraction, default=0.92,
                     help="PEV on-board charger efficiency, AC to battery (default 0.92)")
    run.add_argument("--pev-meter-error", type=float, default=0.0,
                     help="the PEV's running-total error vs the EUMD, e.g. 0.01 (default 0)")
    run.add_argument("--max-power-w", type=cli_types.positive_int,
                     help="station maximum in W (default: the station file's, else 7200)")
    run.add_argument("--eumd-serial", help="EUMD serial (default: EUMD-<station>)")
    run.add_argument("--state-dir", type=Path,
                     help="where the outbox and the simulated EUMD register are kept across "
                          "runs (default: the station file's, else .pev-state)")
    run.add_argument("--ocpp", choices=OCPP_VERSIONS,
                     help="the OCPP version to speak (default: the station file's, else 2.0.1)")
    run.add_argument("--speed", type=cli_types.positive, default=1.0,
                     help="clock speed; must match the central's")
    run.add_argument("--backoff-cap-s", type=cli_types.positive, default=60.0,
                     help="longest wait between reconnect attempts, real seconds (default 60)")
    run.add_argument("--log-level", default="INFO")

    probe = commands.add_parser("probe", help="read a station's meter and EVSE controller "
                                              "once and print what they say")
    probe.add_argument("--config", type=Path, required=True, metavar="STATION.toml")

    fleet = commands.add_parser("fleet", help="many simulated stations in one process")
    fleet.add_argument("--central", required=True, help="e.g. ws://127.0.0.1:9000/ocpp")
    fleet.add_argument("--registry", type=Path, required=True,
                       help="the utility's registry TOML (stations need clear passwords)")
    fleet.add_argument("--count", type=cli_types.positive_int, required=True)
    fleet.add_argument("--speed", type=cli_types.positive, default=1.0)
    fleet.add_argument("--duration", type=cli_types.duration, default=timedelta(hours=4),
                       help="simulated span of plug-ins and departures, e.g. 4h (default)")
    fleet.add_argument("--seed", type=int, default=1, help="for a reproducible mix of visits")
    fleet.add_argument("--ocpp-mix", default="2.0.1:1", metavar="V:W,...",
                       help="the OCPP versions the stations speak, by weight, e.g. "
                            "1.6:50,2.0.1:30,2.1:20 (default: all 2.0.1)")
    fleet.add_argument("--state-dir", type=Path, default=Path(".pev-state/fleet"))
    fleet.add_argument("--json", action="store_true", help="print the summary as JSON")
    fleet.add_argument("--backoff-cap-s", type=cli_types.positive, default=30.0,
                       help="longest wait between reconnect attempts, real seconds")
    fleet.add_argument("--log-level", default="WARNING")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_station_config(args.config) if getattr(args, "config", None) else None
    except ConfigError as error:
        print(f"pev-chargepoint: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.command == "probe":
        assert config is not None
        return eventloop.run(run_probe(config))
    if args.command == "fleet":
        logs.setup(args.log_level)
        try:
            return eventloop.run(run_fleet(args))
        except (FleetError, Refused) as error:
            print(f"pev-chargepoint: {error}", file=sys.stderr)
            return USAGE_ERROR
        except KeyboardInterrupt:
            return 130
    if problem := _settle(args, config):
        print(f"pev-chargepoint: {problem}", file=sys.stderr)
        return USAGE_ERROR
    logs.setup(args.log_level)
    try:
        result = eventloop.run(run(args, config))
    except (Refused, BadTls) as error:
        print(f"pev-chargepoint: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    if result is None:
        return 0
    print(json.dumps(_summary(result)), flush=True)
    return 0 if result.accepted else 1


def _settle(args: argparse.Namespace, config: StationConfig | None) -> str | None:
    """Fill what the command line left out from the station file; what is still missing."""
    args.central = args.central or (config.central if config else None)
    args.station = args.station or (config.station if config else None)
    args.ocpp = args.ocpp or (config.ocpp if config else "2.0.1")
    args.max_power_w = args.max_power_w or (config.max_power_w if config else 7200)
    args.state_dir = args.state_dir or (config.state_dir if config else Path(".pev-state"))
    if not args.central or not args.station:
        return "--central and --station are required (or a --config file giving them)"
    if not args.password and not args.client_cert:
        return (f"a password is required (--password or ${PASSWORD_ENV}), or a --client-cert "
                "for security profile 3")
    if config and config.hardware and args.plug_in_at:
        return "--plug-in-at is for simulated stations: a hardware-backed one waits for " \
               "its controller to see the vehicle"
    return None


async def run_probe(config: StationConfig) -> int:
    try:
        lines = await probe(config)
    except DeviceError as error:
        print(f"pev-chargepoint: probe: {error}", file=sys.stderr)
        return USAGE_ERROR
    for line in lines:
        print(line)
    return 0


def next_time(now: datetime, spec: str, zone: ZoneInfo) -> datetime:
    """The next HH:MM in `zone` after `now`, or the given ISO instant."""
    if len(spec) > 5:
        return parse_timestamp(spec)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), time.fromisoformat(spec), zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1),
                                     time.fromisoformat(spec), zone)
    return candidate.astimezone(now.tzinfo)


class BadTls(Exception):
    """The TLS files given on the command line cannot be used."""


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.central.startswith("wss:"):
        if args.ca_cert or args.client_cert:
            raise BadTls("--ca-cert and --client-cert need a wss:// central")
        return None
    try:
        return client_context(args.ca_cert, args.client_cert, args.client_key)
    except (OSError, ssl.SSLError) as error:
        raise BadTls(f"cannot load the TLS CA, certificate or key: {error}") from None


async def run(args: argparse.Namespace,
              config: StationConfig | None = None) -> SessionResult | None:
    clock = Clock(args.speed)
    tls = _tls(args)
    outbox = Outbox(args.state_dir / f"{args.station}.db")
    hardware = config if config is not None and config.hardware else None
    agent = Agent(args.central, args.station, args.password or None, clock,
                  backoff=Backoff(cap_s=args.backoff_cap_s), outbox=outbox, tls=tls,
                  model="modbus" if hardware else "simulated", ocpp_version=args.ocpp)
    journal = outbox.journal("evse/1")
    connection = asyncio.create_task(agent.run())
    if not args.pev and journal is None:
        await connection
        return None
    online = asyncio.create_task(agent.wait_online())
    await asyncio.wait([online, connection], return_when=asyncio.FIRST_COMPLETED)
    if connection.done():
        connection.result()  # raises Refused
    evse: SimulatedEquipment | HardwareEquipment
    devices = follower = None
    if hardware:
        devices = open_devices(hardware)
        evse = hardware_equipment(hardware, devices, clock)
        follower = asyncio.create_task(evse.follow_schedule())
    else:
        serial = args.eumd_serial or (config.meter.serial if config else f"EUMD-{args.station}")
        evse = SimulatedEquipment(SimulatedEvse(
            SimulatedEumd(args.state_dir / f"{args.station}.json", serial), args.max_power_w))
    try:
        return await _charge(args, agent, connection, evse, journal)
    finally:
        if follower:
            follower.cancel()
        if devices:
            devices.close()


async def _charge(args: argparse.Namespace, agent: Agent, connection: asyncio.Task[None],
                  evse: SimulatedEquipment | HardwareEquipment,
                  journal: dict[str, Any] | None) -> SessionResult:
    clock = agent.clock
    if journal is not None:  # a transaction this station had going when it stopped
        session = ChargingSession.resume(agent, clock, evse, journal)
    else:
        if isinstance(evse, HardwareEquipment):
            await evse.plugged_in()
        elif args.plug_in_at:
            await clock.sleep_until(next_time(clock.now(), args.plug_in_at, args.timezone))
        pev = SimulatedPev(args.pev, args.vin, args.energy_wh, max_power_w=args.pev_max_w,
                           battery_capacity_wh=int(args.battery_kwh * 1000),
                           state_of_charge=args.soc, efficiency=args.pev_efficiency,
                           meter_error=args.pev_meter_error)
        session = ChargingSession(agent, clock, evse, pev,
                                  next_time(clock.now(), args.departure, args.timezone))
    agent.session = session
    charging = asyncio.create_task(session.run())
    await asyncio.wait([charging, connection], return_when=asyncio.FIRST_COMPLETED)
    if connection.done():
        charging.cancel()
        connection.result()
    result = charging.result()
    await agent.outbox.drained()
    connection.cancel()
    return result


def _summary(result: SessionResult) -> dict[str, Any]:
    return {"transaction_id": result.transaction_id, "accepted": result.accepted,
            "energy_wh": result.energy_wh, "message": result.message,
            "total_cost": str(result.total_cost) if result.total_cost is not None else None,
            "running_cost": str(result.running_cost) if result.running_cost is not None
            else None, "cost_updates": result.cost_updates}


async def run_fleet(args: argparse.Namespace) -> int:
    stations, pevs, territory = read_registry(args.registry)
    visits = plan_visits(stations, pevs, territory, args.count, args.duration,
                         random.Random(args.seed), parse_ocpp_mix(args.ocpp_mix))
    console = Console(stderr=args.json)
    fleet = Fleet(args.central, Clock(args.speed), args.state_dir, args.backoff_cap_s)
    with Progress(*Progress.get_default_columns(), console=console) as progress:
        connecting = progress.add_task("connecting", total=len(visits))
        charging = progress.add_task("sessions", total=len(visits))
        outcomes = await fleet.run(
            visits, on_connected=lambda: progress.advance(connecting),
            on_done=lambda _: progress.advance(charging))
    result = summary(outcomes)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        table = Table("stations", "L1", "L2-A", "L2-B", "refused", "failed", "kWh",
                      "billed", title="Fleet summary")
        counts = result["scenarios"]
        table.add_row(str(result["stations"]), *(str(counts.get(k, 0)) for k in
                      ("L1", "L2-A", "L2-B", "refused", "failed")),
                      f"{result['energy_wh'] / 1000:.1f}", result["total_cost"])
        console.print(table)
    return 0 if not result["failures"] else 1
