"""The station's side of OCPP 2.0.1: what the central asks, and how the session's
requests and transaction events go out (as the session builds them: 2.0.1's shapes)."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.exceptions import ConnectionClosed

from chargepoint.protocol.base import Boot, ClientLink
from shared.fast_calls import FastCalls
from shared.timeutil import parse_timestamp

log = logging.getLogger("chargepoint.protocol.v201")


class StationClient(ClientLink, FastCalls, ChargePoint):  # type: ignore[misc]  # ocpp is untyped
    """Handlers for what the central asks of this station; the session's requests and
    transaction events (2.0.1's, as the session builds them) sent as they are."""

    subprotocol = "ocpp2.0.1"

    async def boot(self, vendor: str, model: str) -> Boot:
        response = await self.call(call.BootNotification(
            charging_station={"vendor_name": vendor, "model": model}, reason="PowerUp"),
            suppress=False)
        return Boot(parse_timestamp(response.current_time), response.interval,
                    response.status)

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat(), suppress=False)

    async def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One of the session's requests (2.0.1's, snake_case); its answer the same way."""
        response = await self.call(getattr(call, action)(**payload), suppress=False)
        return dict(vars(response))

    async def transaction_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self.call(call.TransactionEvent(**payload), suppress=False)
        return dict(vars(response))

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        session = self.agent.session
        accepted = session is not None and session.evse_id == evse_id and \
            session.apply_profile(charging_profile)
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost: float, transaction_id: str,
                        **_: Any) -> call_result.CostUpdated:
        session = self.agent.session
        if session is not None and session.transaction_id == transaction_id:
            session.show_cost(Decimal(str(total_cost)))
        return call_result.CostUpdated()

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str,
                                    **_: Any) -> call_result.RequestStopTransaction:
        session = self.agent.session
        stopping = session is not None and session.transaction_id == transaction_id and \
            session.request_stop()
        return call_result.RequestStopTransaction(status="Accepted" if stopping else "Rejected")

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None,
                                  **_: Any) -> call_result.GetTransactionStatus:
        session = self.agent.session
        ongoing = session is not None and session.transaction_id == transaction_id \
            and session.ongoing
        return call_result.GetTransactionStatus(
            messages_in_queue=len(self.agent.outbox) > 0,
            ongoing_indicator=ongoing if transaction_id else None)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        session = self.agent.session
        cleared = session is not None and charging_profile_id is not None and \
            session.clear_profile(charging_profile_id)
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @after(Action.set_charging_profile)
    async def report_ev_schedule(self, evse_id: int, charging_profile: dict[str, Any],
                                 **_: Any) -> None:
        session = self.agent.session
        if session is None or charging_profile.get("stack_level") != 0 or \
                charging_profile.get("transaction_id") != session.transaction_id:
            return  # the PEV's plan answers its normal schedule, not each DR overlay
        schedule = session.ev_charging_schedule()
        with contextlib.suppress(OCPPError, TimeoutError, ConnectionClosed):
            answer = await self.call(call.NotifyEVChargingSchedule(
                time_base=schedule["start_schedule"], charging_schedule=schedule,
                evse_id=evse_id), suppress=False)
            log_fn = log.info if answer.status == "Accepted" else log.warning
            log_fn("EV schedule answered", extra={"status": answer.status,
                                                  "reason": (answer.status_info or {}).get(
                                                      "additional_info")})


