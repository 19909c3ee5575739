"""`pev-central`: serve the OCPP endpoint, manage the registry, list sessions."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import ssl
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console

from central.domain import demand, statements
from central.domain.certificates import StationCa
from central.domain.dispatch import DemandDispatcher
from central.domain.events import EventBus
from central.domain.reconcile import Thresholds
from central.domain.registry import RegistryError, load_registry
from central.domain.services import CentralServices
from central.operator import reports
from central.operator.generate import synthetic_registry
from central.protocol import tls
from central.protocol.ratelimit import RateLimit
from central.protocol.router import CommandRouter
from central.protocol.server import OcppServer
from central.store import SqliteStore
from central.store.errors import StorageUnavailable
from central.store.sqlite import NotFound
from shared import cli_types, eventloop, logs
from shared.clock import Clock
from shared.timeutil import to_wire

USAGE_ERROR = 2
TOKEN_ENV = "PEV_API_TOKEN"
MIN_TOKEN_LENGTH = 16


class UsageError(Exception):
    """Bad input from the operator: printed as a message, exit code 2."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pev-central", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the OCPP central system (1.6J, 2.0.1, 2.1)")
    serve.add_argument("--db", type=Path, required=True, help="SQLite database file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    serve.add_argument("--speed", type=cli_types.positive, default=1.0,
                       help="clock speed (e.g. 600: ten hours in a minute)")
    serve.add_argument("--api-port", type=int, default=8080,
                       help="operator HTTP API port (0 picks a free one; default 8080)")
    serve.add_argument("--api-token-file", type=Path,
                       help=f"file holding the API bearer token (default: ${TOKEN_ENV})")
    serve.add_argument("--sim-start", type=cli_types.timestamp,
                       help="start the clock at this instant (default: now)")
    percent = cli_types.non_negative_decimal
    serve.add_argument("--reconcile-pass-pct", type=percent, default=Decimal(2),
                       help="meter vs PEV: pass within this %% (default 2)")
    serve.add_argument("--reconcile-pass-wh", type=cli_types.positive_int, default=100,
                       help="... or within this many Wh, whichever is more (default 100)")
    serve.add_argument("--reconcile-warn-pct", type=percent, default=Decimal(5),
                       help="meter ahead of the PEV: warn up to this %%, flag beyond (default 5)")
    serve.add_argument("--tls-cert", type=Path,
                       help="serve wss:// with this certificate chain (PEM): profiles 2, 3")
    serve.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument("--tls-ca", type=Path,
                       help="CA that signs station client certificates (security profile 3)")
    serve.add_argument("--tls-ca-key", type=Path,
                       help="that CA's private key (PEM): the central then signs the "
                            "certificates stations ask for (SignCertificate)")
    serve.add_argument("--rate-limit", type=cli_types.positive, default=RateLimit.per_s,
                       help="messages per second per station before it is slowed down "
                            f"(default {RateLimit.per_s:g})")
    serve.add_argument("--rate-burst", type=cli_types.positive_int, default=RateLimit.burst,
                       help=f"messages a station may send at once (default {RateLimit.burst})")
    serve.add_argument("--log-level", default="INFO")

    registry = commands.add_parser("registry", help="enrollment registry")
    registry_commands = registry.add_subparsers(dest="registry_command", required=True)
    imp = registry_commands.add_parser("import", help="load a registry TOML file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--db", type=Path, required=True)
    show = registry_commands.add_parser("show", help="print the registry")
    show.add_argument("--db", type=Path, required=True)
    generate = registry_commands.add_parser("generate", help="write a synthetic registry")
    generate.add_argument("--premises", type=cli_types.positive_int, required=True)
    generate.add_argument("--out", type=Path, required=True)

    statement = commands.add_parser("statement", help="an account's monthly statement")
    statement.add_argument("--db", type=Path, required=True)
    statement.add_argument("--account", required=True)
    statement.add_argument("--month", required=True, help="YYYY-MM, the utility's local month")
    statement.add_argument("--format", choices=("table", "csv", "json"), default="table")

    dr = commands.add_parser("dr", help="demand-response events")
    dr_commands = dr.add_subparsers(dest="dr_command", required=True)
    create = dr_commands.add_parser("create", help="limit charging in a scope for a while")
    create.add_argument("--db", type=Path, required=True)
    create.add_argument("--start", type=cli_types.timestamp, required=True)
    create.add_argument("--end", type=cli_types.timestamp, required=True)
    cut = create.add_mutually_exclusive_group(required=True)
    cut.add_argument("--limit-w", type=cli_types.non_negative_int,
                     help="at most this many W per station")
    cut.add_argument("--reduce-pct", type=cli_types.positive_int,
                     help="cut each station's normal schedule by this many %%")
    create.add_argument("--scope", required=True, help="all, premise:ID or station:ID")
    create.add_argument("--randomize-s", type=cli_types.non_negative_int, default=0,
                        help="spread each station's start and end by 0..N s")
    listing = dr_commands.add_parser("list", help="all events")
    listing.add_argument("--db", type=Path, required=True)
    listing.add_argument("--json", action="store_true")
    cancel = dr_commands.add_parser("cancel", help="cancel an event")
    cancel.add_argument("event_id", type=cli_types.positive_int)
    cancel.add_argument("--db", type=Path, required=True)

    dashboard = commands.add_parser("dashboard", help="live transactions in the terminal")
    dashboard.add_argument("--api", required=True, help="e.g. http://127.0.0.1:8080")
    dashboard.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                           help=f"the API bearer token (default: ${TOKEN_ENV})")

    sessions = commands.add_parser("sessions", help="list sessions and their bills")
    sessions.add_argument("--db", type=Path, required=True)
    sessions.add_argument("--json", action="store_true", help="one JSON array on stdout")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    action: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "serve": serve, "registry": registry, "sessions": sessions, "statement": statement,
        "dr": dr, "dashboard": dashboard}
    try:
        return eventloop.run(action[args.command](args))
    except (UsageError, RegistryError, NotFound, statements.BadMonth,
            demand.BadEvent, StorageUnavailable) as error:
        print(f"pev-central: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130


def _api_token(args: argparse.Namespace) -> str:
    token: str
    if args.api_token_file:
        try:
            token = args.api_token_file.read_text().strip()
        except OSError as error:
            raise UsageError(f"cannot read the API token: {error}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise UsageError(f"the operator API needs a bearer token of {MIN_TOKEN_LENGTH}+ "
                         f"characters: --api-token-file FILE or ${TOKEN_ENV}")
    return token


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.tls_cert is None:
        if args.tls_key or args.tls_ca or args.tls_ca_key:
            raise UsageError("--tls-key, --tls-ca and --tls-ca-key need --tls-cert")
        return None
    if args.tls_key is None:
        raise UsageError("--tls-cert needs --tls-key")
    try:
        return tls.server_context(args.tls_cert, args.tls_key, args.tls_ca)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"cannot load the TLS certificate, key or CA: {error}") from None


def _station_ca(args: argparse.Namespace) -> StationCa | None:
    if args.tls_ca_key is None:
        return None
    if args.tls_ca is None:
        raise UsageError("--tls-ca-key needs --tls-ca, the CA certificate it belongs to")
    try:
        return StationCa.load(args.tls_ca, args.tls_ca_key)
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot load the station CA to sign with: {error}") from None


async def _open_existing(path: Path) -> SqliteStore:
    if not path.exists():
        raise UsageError(f"{path}: no such database (run 'pev-central registry import' first)")
    return await SqliteStore.open(path)


async def serve(args: argparse.Namespace) -> int:
    # Imported here: the web stack is only needed to serve, not for quick CLI commands.
    from central.operator.api import create_app, start_api

    logs.setup(args.log_level)
    tls_context = _tls(args)
    station_ca = _station_ca(args)
    store = await SqliteStore.open(args.db)
    try:
        await store.utility()  # refuse to start on an empty registry
        clock = Clock(args.speed, args.sim_start)
        try:
            thresholds = Thresholds(args.reconcile_pass_pct, args.reconcile_pass_wh,
                                    args.reconcile_warn_pct)
        except ValueError as error:
            raise UsageError(str(error)) from None
        token = _api_token(args)
        bus = EventBus()
        services = CentralServices(store, clock, thresholds, bus, station_ca)
        router = CommandRouter(bus)
        rate_limit = RateLimit(args.rate_limit, args.rate_burst)
        server = await OcppServer(services, router, rate_limit).serve(args.host, args.port,
                                                                      tls_context)
        dispatcher = asyncio.create_task(DemandDispatcher(services, router).run())
        try:
            api, api_task, api_port = await start_api(create_app(services, router, token),
                                                      args.host, args.api_port)
        except (OSError, SystemExit) as error:
            raise UsageError(f"the API could not listen on {args.host}:{args.api_port}: "
                             f"{error}") from None
        port = server.sockets[0].getsockname()[1] if server.sockets else args.port
        scheme = "wss" if tls_context else "ws"
        print(f"listening on {scheme}://{args.host}:{port}/ocpp/<station_id>", flush=True)
        print(f"operator API on http://{args.host}:{api_port} (docs at /docs)", flush=True)
        eventloop.started()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        dispatcher.cancel()
        api.should_exit = True
        await api_task
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
    finally:
        await store.close()
    return 0


async def registry(args: argparse.Namespace) -> int:
    if args.registry_command == "generate":
        try:
            args.out.write_text(synthetic_registry(args.premises))
        except OSError as error:
            raise UsageError(f"cannot write {args.out}: {error}") from None
        print(f"wrote {args.out}: {args.premises} premises, accounts, stations and PEVs")
        return 0
    if args.registry_command == "import":
        # Validate the whole file before the database is touched (or even created).
        known: dict[str, set[str]] = {}
        if args.db.exists():
            existing = await SqliteStore.open(args.db)
            try:
                known = await existing.known_ids()
            finally:
                await existing.close()
        loaded = load_registry(args.file, known)
        store = await SqliteStore.open(args.db)
        try:
            try:
                await store.import_registry(loaded)
            except sqlite3.IntegrityError as error:
                raise UsageError(f"{args.file}: conflicts with the database ({error}); "
                                 "nothing was imported") from None
        finally:
            await store.close()
        print(f"imported {args.file}: {len(loaded.accounts)} accounts, {len(loaded.premises)} "
              f"premises, {len(loaded.stations)} stations, {len(loaded.pevs)} PEVs, "
              f"{len(loaded.programs)} programs, {len(loaded.tariffs)} tariffs")
        return 0
    store = await _open_existing(args.db)
    try:
        console = Console()
        for table in reports.registry_tables(await store.registry()):
            console.print(table)
    finally:
        await store.close()
    return 0


async def sessions(args: argparse.Namespace) -> int:
    store = await _open_existing(args.db)
    try:
        rows = await store.sessions()
    finally:
        await store.close()
    if args.json:
        print(json.dumps([reports.session_row(s) for s in rows], indent=2))
    else:
        Console().print(reports.sessions_table(rows))
    return 0


async def statement(args: argparse.Namespace) -> int:
    store = await _open_existing(args.db)
    try:
        built = await statements.build(store, args.account, args.month)
    finally:
        await store.close()
    if args.format == "json":
        print(json.dumps(built.to_json(), indent=2))
    elif args.format == "csv":
        sys.stdout.write(statements.to_csv(built))
    else:
        Console().print(statements.to_rich(built))
    return 0


async def dr(args: argparse.Namespace) -> int:
    store = await _open_existing(args.db)
    try:
        now = datetime.now(UTC)  # wall time: only marks the change for the running central
        if args.dr_command == "create":
            demand.validate(args.start, args.end, args.scope, args.limit_w, args.reduce_pct,
                            args.randomize_s)
            event = await store.add_dr_event(args.start, args.end, args.scope, args.limit_w,
                                             args.reduce_pct, args.randomize_s, now)
            print(f"created {event.describe()}, {to_wire(event.start)} to "
                  f"{to_wire(event.end)}")
        elif args.dr_command == "cancel":
            if not await store.request_dr_cancel(args.event_id, now):
                raise UsageError(f"no DR event {args.event_id} to cancel (unknown, or "
                                 "cancelled already)")
            print(f"cancel requested for DR {args.event_id}: the running central applies it "
                  "and restores the normal schedules")
        else:
            events = await store.dr_events()
            if args.json:
                print(json.dumps([reports.dr_row(e) for e in events], indent=2))
            else:
                Console().print(reports.dr_table(events))
    finally:
        await store.close()
    return 0


async def dashboard(args: argparse.Namespace) -> int:
    from central.operator.dashboard import Unauthorized, run

    if not args.token:
        raise UsageError(f"the dashboard needs the API token: --token or ${TOKEN_ENV}")
    try:
        await run(args.api.rstrip("/"), args.token)
    except Unauthorized as error:
        raise UsageError(str(error)) from None
    return 0
