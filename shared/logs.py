"""Structured logs: one JSON object per line on stderr.

Fields passed with `extra=` become keys. Secrets are never passed in: callers log ids,
not credentials, and the `ocpp` package, which logs whole frames, is kept quiet.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The ocpp package logs every frame at INFO, and whole frames at ERROR too (a stray
    # CALLRESULT); frames may carry credentials (e.g. SetVariables of BasicAuthPassword),
    # so keep it quiet: our own code logs what matters, with ids only.
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.WARNING)  # its frame dumps, too
