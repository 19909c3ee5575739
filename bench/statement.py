"""Statement generation for one account with many billed sessions (a fleet operator's
account, say): build the month and render it as JSON and CSV."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from central.domain import statements
from central.domain.registry import load_registry
from central.domain.sessions import Session
from central.operator.generate import synthetic_registry
from central.store import SqliteStore

ACCOUNT = "A-00001"


async def time_statement(db: Path, sessions: int) -> dict[str, Any]:
    store = await SqliteStore.open(db)
    try:
        registry = db.with_suffix(".toml")
        registry.write_text(synthetic_registry(1, territory="bench"))
        await store.import_registry(load_registry(registry))
        first = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        spacing = timedelta(days=29) / sessions
        async with store.unit():
            for n in range(sessions):
                start = first + n * spacing
                await store.save_session(Session(
                    "CP-00001", f"tx-{n}", status="ended", started_at=start,
                    ended_at=start + timedelta(minutes=50), complete=True,
                    pev_id="PEV-00001", premise_id="P-00001", payer_account=ACCOUNT,
                    scenario="L1", tariff_id="ev-tou", energy_wh=6000,
                    cost_total=Decimal("1.68"), currency="USD",
                    cost_by_period={"off-peak": {"energy_wh": 6000, "cost": "1.68"}},
                    reconciliation={"status": "pass"}))
        started = time.perf_counter()
        built = await statements.build(store, ACCOUNT, "2026-11")
        json.dumps(built.to_json())
        statements.to_csv(built)
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    assert built.energy_wh == 6000 * sessions, "every session on the statement"
    return {"sessions": sessions, "seconds": round(seconds, 3)}
