"""OCPP schema validation (1.6, 2.0.1, 2.1), fast and inline, with the `ocpp` package's
verdicts.

The package validates every message with jsonschema (about 200 us for a TransactionEvent)
in a thread pool. Here each action's official schema (the package's own file) is compiled
once with jsonschema-rs (under 1 us for the same check) and run inline. A message it finds
invalid is checked again by the package's validator, which raises the CALLERROR the
package would have sent; so the verdicts and error codes are the package's exactly, and
only valid messages, the common case, take the fast path.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema_rs
import ocpp
from ocpp.messages import Call, CallResult, MessageType, _validate_payload

SCHEMAS = Path(ocpp.__file__).parent


@cache
def _compiled(message_type_id: int, action: str,
              version: str) -> jsonschema_rs.Draft4Validator | None:
    """The compiled schema of this action's request or response in this OCPP version;
    None if it has none. (Read from the package's file, not through its get_validator:
    that caches one validator per action whatever its float parser, and the package
    validates 1.6's schedules with Decimals.)"""
    suffix = "Response" if message_type_id == MessageType.CallResult else \
        "" if version == "1.6" else "Request"
    path = SCHEMAS / f"v{version.replace('.', '')}" / "schemas" / f"{action}{suffix}.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):  # no such schema file: the package's validator reports it
        return None
    # The package's jsonschema checks no formats (date-time, uri): neither does this.
    return jsonschema_rs.Draft4Validator(schema, validate_formats=False)


def validate(message: Call | CallResult, version: str = "2.0.1") -> None:
    """Raise the `ocpp` package's OCPPError for a payload its version's schema refuses."""
    fast = _compiled(message.message_type_id, message.action, version)
    if fast is None or not fast.is_valid(message.payload):
        _validate_payload(message, version)
