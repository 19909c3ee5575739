"""What the central asks its database for a session (binding the PEV, every meter value,
the bill) finds its rows through an index: a utility's registry of tens of thousands of
PEVs, or a year of sessions, must not make each event slower. (A missing index on a
PEV's identifiers once cost every binding a scan of all of them: p99 at 1,000 msg/s went
from 4 ms to 170 ms with a 19,000-station registry.)"""

import sqlite3

from tests.faults.test_replay import send_all, transaction

# Tables of a handful of rows, read whole on purpose.
SMALL_TABLES = {"utility", "tariffs", "programs", "dr_events"}


def scans(db: sqlite3.Connection, statement: str) -> list[str]:
    """The tables this statement reads row by row, by its query plan."""
    plan = db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
    return [detail for *_, detail in plan
            if detail.startswith("SCAN") and "USING" not in detail]


async def test_a_session_reads_no_growing_table_row_by_row(central):
    statements: list[str] = []
    # The store's own connections: the writer (units of work) and the reader.
    for connection in (central.store._db, central.store._reader):
        connection.set_trace_callback(statements.append)
    try:
        await send_all(central, "CP-1001", transaction("tx-plans", "PEV-0001", minutes=5))
        # and what planning a charge asks (NotifyEVChargingNeeds): the EVSE's live session
        # and the premise's others, which share its service limit
        await central.store.live_session("CP-1001", 1)
        await central.store.live_sessions_at("P-1001")
    finally:
        for connection in (central.store._db, central.store._reader):
            connection.set_trace_callback(None)

    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE",
                                                                       "DELETE"))]
    assert any("pev_identifiers" in q for q in queries)  # the binding was traced
    with sqlite3.connect(central.db) as db:
        slow = {q: found for q in queries
                if (found := [s for s in scans(db, q)
                              if s.split()[1] not in SMALL_TABLES])}
    assert slow == {}
