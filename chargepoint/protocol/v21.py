"""The station's side of OCPP 2.1: 2.0.1's messages, checked against 2.1's schemas, and
the cost so far that 2.1 carries in the answer to an Updated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ocpp.v21 import call, call_result

from chargepoint.protocol.v201 import StationClient


class StationClient21(StationClient):
    subprotocol = "ocpp2.1"
    _call, _call_result, _ocpp_version = call, call_result, "2.1"  # the package's v21

    async def transaction_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await super().transaction_event(payload)
        session = self.agent.session
        if payload["event_type"] == "Updated" and answer.get("total_cost") is not None \
                and session is not None:
            session.show_cost(Decimal(str(answer["total_cost"])))
        return answer
