"""Multi-part reports a station sends in answer to the central's requests: its device model
(NotifyReport, after GetBaseReport or GetReport), its monitors (NotifyMonitoringReport)
and what it holds of a customer (NotifyCustomerInformation).

Pure. A report comes in parts numbered by seqNo from 0, every part but the last flagged
`tbc` (to be continued); it is whole once the last part and every part before it are
in, whatever order they came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


class ReportKind(NamedTuple):
    name: str  # as the API names it
    field: str  # the payload field each part carries its share of the report in


# OCPP action -> what its parts make up
KINDS = {
    "NotifyReport": ReportKind("device-model", "reportData"),
    "NotifyMonitoringReport": ReportKind("monitoring", "monitor"),
    "NotifyCustomerInformation": ReportKind("customer-information", "data"),
}
ACTIONS = {kind.name: action for action, kind in KINDS.items()}


class ReportPart(NamedTuple):
    request_id: int
    seq_no: int
    tbc: bool
    generated_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class Report:
    kind: str
    request_id: int
    generated_at: datetime  # the first part's
    parts: int
    complete: bool
    content: list[Any] | str | None  # every part's share in order; None until complete


def assemble(action: str, parts: Sequence[ReportPart]) -> Report:
    """The report that these parts (of one request, in seqNo order) make up so far."""
    kind = KINDS[action]
    last = parts[-1]
    complete = not last.tbc and [p.seq_no for p in parts] == list(range(len(parts)))
    content: list[Any] | str | None = None
    if complete:
        shares = [p.payload.get(kind.field) for p in parts]
        if kind.field == "data":  # customer information is text, cut into parts
            content = "".join(share or "" for share in shares)
        else:
            content = [item for share in shares for item in share or []]
    return Report(kind.name, last.request_id, parts[0].generated_at, len(parts), complete,
                  content)
