"""Session and registry listings for the CLI: rich tables for people, JSON for machines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from central.domain.demand import DrEvent
from central.domain.registry import Registry
from central.domain.sessions import Session
from shared.timeutil import to_wire


def session_row(session: Session) -> dict[str, Any]:
    """One session in the stable machine format (`sessions --json`)."""
    return {
        "id": session.id,
        "station": session.station_id,
        "transaction_id": session.transaction_id,
        "ocpp_version": session.ocpp_version,
        "premise": session.premise_id,
        "pev": session.pev_id,
        "payer_account": session.payer_account,
        "scenario": session.scenario,
        "status": session.status,
        "complete": session.complete,
        "energy_wh": session.energy_wh,
        "energy_so_far_wh": session.last_reading[1] - session.begin_register_wh
        if session.last_reading and session.begin_register_wh is not None else None,
        "cost_by_period": session.cost_by_period,
        "cost_total": str(session.cost_total) if session.cost_total is not None else None,
        "currency": session.currency,
        "start": to_wire(session.started_at) if session.started_at else None,
        "end": to_wire(session.ended_at) if session.ended_at else None,
        "refusal": session.refusal,
        "reconciliation": (session.reconciliation or {}).get("status"),
        "dr_energy_wh": session.dr_energy_wh,
        "problems": session.problems,
    }


def _short(moment: datetime | None) -> str:
    return moment.strftime("%m-%d %H:%MZ") if moment else "?"


def sessions_table(sessions: list[Session]) -> Table:
    """Sessions for people: fits 80 columns; `--json` has every field in full."""
    table = Table(title="Sessions (times UTC)", header_style="bold")
    for column in ("id", "station\nPEV", "payer\nscenario", "status", "Wh",
                   "per TOU period", "total", "start\nend"):
        table.add_column(column, justify="right" if column in ("id", "Wh", "total") else "left")
    for s in sessions:
        periods = "\n".join(f"{name} {v['energy_wh']} Wh {v['cost']}"
                            for name, v in s.cost_by_period.items())
        status = s.status if s.complete or s.status == "active" else f"{s.status}\n(incomplete)"
        if s.refusal:
            status = f"refused:\n{s.refusal}"
        table.add_row(
            str(s.id), f"{s.station_id}\n{s.pev_id or '-'}",
            f"{s.payer_account or '-'}\n{s.scenario or ''}", status,
            "" if s.energy_wh is None else str(s.energy_wh), periods,
            f"{s.cost_total} {s.currency}" if s.cost_total is not None else "",
            f"{_short(s.started_at)}\n{_short(s.ended_at)}")
    return table


def registry_tables(registry: Registry) -> list[Table]:
    u = registry.utility
    utility = Table(title="Utility", show_header=False)
    utility.add_row("name", u.name)
    utility.add_row("timezone", u.timezone.key)
    utility.add_row("currency", u.currency)
    tariffs = Table("id", "name", "illustrative", "season", "months", "periods", title="Tariffs")
    for t in registry.tariffs:
        for season in t.seasons:
            periods = ", ".join(f"{p.name} {p.start_minute // 60:02d}-{p.end_minute // 60:02d}h "
                                f"{p.price}" for p in season.periods)
            tariffs.add_row(t.id, t.name, "yes" if t.illustrative else "no", season.name,
                            ",".join(map(str, sorted(season.months))), periods)
    programs = Table("id", "name", "tariff", "economy", "max W", "random delay s",
                     title="Programs")
    for p in registry.programs:
        programs.add_row(p.id, p.name, p.tariff_id, "yes" if p.economy else "no",
                         str(p.max_power_w), str(p.randomized_delay_s))
    accounts = Table("id", "name", title="Accounts")
    for a in registry.accounts:
        accounts.add_row(a.id, a.name)
    premises = Table("id", "account", "territory", "rate plan", "service W", "guest policy",
                     title="Premises")
    for pr in registry.premises:
        policy = pr.guest_policy + (f" ({', '.join(pr.host_pays_for)})"
                                    if pr.host_pays_for else "")
        premises.add_row(pr.id, pr.account_id, pr.territory, pr.rate_plan,
                         str(pr.service_limit_w), policy)
    stations = Table("id", "premise", "kind", "EUMD", "max W", "security profile",
                     title="Stations")
    for s in registry.stations:
        stations.add_row(s.id, s.premise_id, s.kind, s.eumd_serial, str(s.max_power_w),
                         str(s.security_profile))
    pevs = Table("id", "VIN", "owner", "home", "program", "territory", "status", "valid until",
                 "group", "identifiers", title="PEVs")
    for v in registry.pevs:
        pevs.add_row(v.id, v.vin or "", v.owner_account, v.home_premise, v.program_id,
                     v.territory, v.status, to_wire(v.valid_until) if v.valid_until else "",
                     v.group_id or "", ", ".join(f"{i.type}:{i.id_token}"
                                                 for i in v.identifiers))
    return [utility, tariffs, programs, accounts, premises, stations, pevs]


def dr_row(event: DrEvent) -> dict[str, Any]:
    return {"id": event.id, "description": event.describe(), "start": to_wire(event.start),
            "end": to_wire(event.end),
            "scope": event.scope, "limit_w": event.limit_w, "reduce_pct": event.reduce_pct,
            "randomize_s": event.randomize_s, "status": _dr_status(event),
            "cancelled_at": to_wire(event.cancelled_at) if event.cancelled_at else None}


def _dr_status(event: DrEvent) -> str:
    if event.cancelled_at:
        return "cancelled"
    return "cancel requested" if event.cancel_requested else "scheduled"


def dr_table(events: list[DrEvent]) -> Table:
    table = Table("id", "start (UTC)", "end (UTC)", "scope", "limit", "randomize s", "status",
                  title="Demand-response events")
    for e in events:
        row = dr_row(e)
        limit = f"{e.limit_w} W" if e.limit_w is not None else f"-{e.reduce_pct} %"
        table.add_row(str(e.id), row["start"], row["end"], e.scope, limit, str(e.randomize_s),
                      row["status"])
    return table
