"""Monthly statements per account: what was billed to it, and what its premises are credited.

Sections: sessions at home (L1), sessions away billed here (L2-B), guests hosted and
billed to this account (L2-A), and guests at this account's premises who paid themselves
(L2-B credits, for subtractive billing of the premise meter). Months are the utility's
local calendar months.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group
from rich.table import Table

from central.domain.sessions import SessionLine
from central.store.sqlite import SqliteStore

SECTIONS = {"home": "Charging at home (L1)", "away": "Charging away, billed here (L2-B)",
            "hosted_guests": "Guests hosted, billed here (L2-A)",
            "guest_credits": "Guests who paid themselves: premise meter credits (L2-B)"}
SCENARIO_SECTION = {"L1": "home", "L2-B": "away", "L2-A": "hosted_guests"}


class BadMonth(ValueError):
    pass


def month_range(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """`YYYY-MM` -> [first instant, first instant of the next month), local, as UTC."""
    if not re.fullmatch(r"\d{4}-\d{2}", month) or not 1 <= int(month[5:]) <= 12:
        raise BadMonth(f"month {month!r} must be YYYY-MM, e.g. 2026-11")
    year, number = int(month[:4]), int(month[5:])
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return (datetime.combine(first, time(), zone).astimezone(UTC),
            datetime.combine(following, time(), zone).astimezone(UTC))


@dataclass
class Statement:
    account: str
    name: str
    month: str
    currency: str
    sections: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {key: [] for key in SECTIONS})
    periods: dict[str, dict[str, Any]] = field(default_factory=dict)  # billed, per TOU period
    energy_wh: int = 0
    total: Decimal = Decimal("0.00")
    credit_wh: int = 0
    credit_value: Decimal = Decimal("0.00")

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "name": self.name, "month": self.month,
                "currency": self.currency, "sections": self.sections,
                "periods": self.periods,
                "totals": {"energy_wh": self.energy_wh, "cost": str(self.total),
                           "credit_wh": self.credit_wh, "credit_value": str(self.credit_value)}}


def _line(session: SessionLine, energy_wh: int, amount: str,
          by_period: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": session.id, "start": session.start, "end": session.end,
            "station": session.station_id, "ocpp_version": session.ocpp_version,
            "premise": session.premise_id, "pev": session.pev_id,
            "scenario": session.scenario, "energy_wh": energy_wh,
            "amount": amount, "by_period": by_period,
            "reconciliation": session.reconciliation}


async def build(store: SqliteStore, account_id: str, month: str) -> Statement:
    utility = await store.utility()
    account = await store.account(account_id)
    start, end = month_range(month, utility.timezone)
    statement = Statement(account.id, account.name, month, utility.currency)
    for session in await store.billed_sessions(account.id, start, end):
        if session.cost_total is None or session.scenario not in SCENARIO_SECTION:
            continue  # still charging: it lands on the statement when it ends
        statement.sections[SCENARIO_SECTION[session.scenario]].append(
            _line(session, session.energy_wh or 0, str(session.cost_total),
                  session.cost_by_period))
        statement.energy_wh += session.energy_wh or 0
        statement.total += session.cost_total
        for name, charge in session.cost_by_period.items():
            total = statement.periods.setdefault(name, {"energy_wh": 0, "cost": "0.00"})
            total["energy_wh"] += charge["energy_wh"]
            total["cost"] = str(Decimal(total["cost"]) + Decimal(charge["cost"]))
    for session, credit in await store.credited_sessions(account.id, start, end):
        statement.sections["guest_credits"].append(
            _line(session, credit["energy_wh"], credit["value"], credit["by_period"]))
        statement.credit_wh += credit["energy_wh"]
        statement.credit_value += Decimal(credit["value"])
    return statement


CSV_COLUMNS = ("section", "session_id", "start", "end", "station", "premise", "pev",
               "scenario", "period", "energy_wh", "amount", "reconciliation")


def to_csv(statement: Statement) -> str:
    """One row per session and TOU period, then per-period and grand totals."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for section, lines in statement.sections.items():
        for line in lines:
            for period, charge in line["by_period"].items():
                amount = charge.get("cost", charge.get("value"))
                writer.writerow({**{k: line.get(k) for k in CSV_COLUMNS}, "section": section,
                                 "period": period, "energy_wh": charge["energy_wh"],
                                 "amount": amount})
    for period, total in statement.periods.items():
        writer.writerow({"section": "total", "period": period,
                         "energy_wh": total["energy_wh"], "amount": total["cost"]})
    writer.writerow({"section": "total", "period": "all", "energy_wh": statement.energy_wh,
                     "amount": str(statement.total)})
    writer.writerow({"section": "credit_total", "period": "all",
                     "energy_wh": statement.credit_wh, "amount": str(statement.credit_value)})
    return out.getvalue()


def to_rich(statement: Statement) -> Group:
    parts: list[Any] = []
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]Statement[/]", f"{statement.account} {statement.name}",
                 f"month {statement.month}", statement.currency)
    parts.append(head)
    for key, title in SECTIONS.items():
        lines = statement.sections[key]
        if not lines:
            continue
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in ("session", "start (UTC)", "where", "PEV", "Wh", "per TOU period",
                       "amount", "check"):
            table.add_column(column, justify="right" if column in ("Wh", "amount") else "left")
        for line in lines:
            periods = "\n".join(f"{p} {c['energy_wh']} Wh {c.get('cost', c.get('value'))}"
                                for p, c in line["by_period"].items())
            table.add_row(str(line["session_id"]), (line["start"] or "?")[5:16].replace("T", " "),
                          f"{line['station']}\n{line['premise']}", line["pev"] or "",
                          str(line["energy_wh"]), periods, line["amount"],
                          line["reconciliation"] or "")
        parts.append(table)
    totals = Table(title="Totals", title_justify="left", header_style="bold")
    totals.add_column("TOU period")
    totals.add_column("Wh", justify="right")
    totals.add_column("cost", justify="right")
    for period, total in statement.periods.items():
        totals.add_row(period, str(total["energy_wh"]), total["cost"])
    totals.add_row("[bold]billed[/]", str(statement.energy_wh), f"[bold]{statement.total}[/]")
    totals.add_row("premise credits", str(statement.credit_wh), str(statement.credit_value))
    parts.append(totals)
    return Group(*parts)
