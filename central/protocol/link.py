"""What every version's station link shares: reading frames, refusing bad ones, holding
a flooding station to its rate, calling the handler, sending commands out.

A version's adapter (central.protocol.v16, v201, v21) subclasses StationLink with that
version's `ocpp` ChargePoint and its handlers, thin: each translates the request into a
call on CentralServices and the result back into the response. A handler reads the
request's payload and writes its response's as they are on the wire, JSON objects with
the specification's camelCase names, and every message is checked against its version's
official schema. (The `ocpp` package's way, every key of every message converted to and
from snake_case between keyword arguments and dataclasses, was 14 % of the central's
instructions per TransactionEvent for nothing the handlers need.) CSMS-initiated calls go
out from `after` hooks (tasks that run once the response is sent): awaiting `call()`
inside a handler would deadlock the read loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from ocpp.charge_point import _raise_key_error
from ocpp.exceptions import (
    FormatViolationError,
    InternalError,
    OCPPError,
    PropertyConstraintViolationError,
)
from ocpp.messages import Call, MessageType
from ocpp.routing import create_route_map
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from central.domain.commands import Command
from central.domain.services import CentralServices
from central.protocol.ratelimit import RateLimit, TokenBucket
from central.store.errors import StorageUnavailable
from shared.fast_calls import FastCalls
from shared.metering import InvalidReading
from shared.ocpp_rpc import RefusedCall, decoded, encoded, rejection
from shared.timeutil import InvalidTimestamp
from shared.validation import validate

log = logging.getLogger("central.protocol.link")

STORAGE_UNAVAILABLE = 1011  # close code: try again later, nothing was kept
THROTTLE_LOG_EVERY_S = 10.0
VENDOR_ID = "pev-grid"  # ours, in customData and DataTransfer
Payload = dict[str, Any]  # a request's or response's JSON object, as on the wire
Handler = Callable[[Any, Payload], Coroutine[Any, Any, Payload]]


class StationLink(FastCalls):
    """Mixed in before a version's `ocpp` ChargePoint."""

    ocpp_version: ClassVar[str]
    subprotocol: ClassVar[str]
    csms_actions: ClassVar[frozenset[str]]  # the requests a CSMS may send in this version
    # action -> {"_on_action": function, "_after_action": function}, called with the link
    routes: ClassVar[dict[str, dict[str, Any]]]
    # the package's ChargePoint has these
    route_map: Any
    _response_queue: asyncio.Queue[Any]
    start: Callable[[], Coroutine[Any, Any, None]]

    def __init__(self, station_id: str, connection: ServerConnection,
                 services: CentralServices, response_timeout: float = 30,
                 rate_limit: RateLimit | None = None) -> None:
        super().__init__(station_id, connection, response_timeout)  # type: ignore[call-arg]
        del self.route_map  # the class's routes serve every connection (memory per station)
        self.services = services
        self._bucket = TokenBucket(rate_limit or RateLimit(), time.monotonic())
        self._throttled = 0  # messages delayed by the rate limit since it was last logged
        self._throttle_logged_at = -THROTTLE_LOG_EVERY_S
        self._connection: ServerConnection = connection
        self._after_tasks: set[asyncio.Task[Any]] = set()

    async def close(self, reason: str) -> None:
        await self._connection.close(1000, reason)

    def sends(self, action: str) -> bool:
        return action in self.csms_actions

    async def execute(self, command: Command) -> str:
        """The domain's command as this version's message; the station's status."""
        raise NotImplementedError

    async def answered(self, action: str, message: Any) -> str:
        """Send a command's message; the status the station answered, logged."""
        try:
            response = await self.call(message, suppress=False)
        except (TimeoutError, OSError, ConnectionClosed) as error:
            log.warning("command not answered", extra={"station": self.id, "action": action,
                                                       "error": str(error)})
            return "NoAnswer"
        except OCPPError as error:
            log.warning("command refused", extra={"station": self.id, "action": action,
                                                  "error": type(error).__name__})
            return "CALLERROR"
        status: str = getattr(response, "status", "Accepted")
        log_fn = log.info if status == "Accepted" else log.warning
        log_fn("command answered", extra={"station": self.id, "action": action,
                                          "status": status})
        return status

    async def route_message(self, raw_msg: str | bytes) -> None:
        """As the ocpp package does, but a malformed frame gets a CALLERROR, not silence."""
        await self._throttle()
        try:
            if isinstance(raw_msg, bytes):
                raise ValueError("binary frame")
            msg = decoded(raw_msg)
        except RefusedCall as refused:
            await self._refuse(refused.call, refused.error)
            return
        except (OCPPError, ValueError, IndexError, RecursionError):
            error = rejection(raw_msg)
            log.warning("malformed frame", extra={"station": self.id,
                                                  "error": error.error_code})
            self.services.bus.publish("error", station=self.id, error=error.error_code,
                                      description=error.error_description)
            await self._send(error.to_json())
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                await self._refuse(msg, error)
        else:
            self._response_queue.put_nowait(msg)

    async def _refuse(self, msg: Call, error: OCPPError) -> None:
        log.warning("call refused", extra={"station": self.id, "action": msg.action,
                                           "error": type(error).__name__})
        await self._send(msg.create_call_error(error).to_json())

    async def _throttle(self) -> None:
        """Hold a flooding station to its rate (the next frame is read only after this)."""
        now = time.monotonic()
        wait = self._bucket.delay(now)
        if not wait:
            return
        self._throttled += 1
        if now - self._throttle_logged_at >= THROTTLE_LOG_EVERY_S:
            log.warning("rate limited", extra={"station": self.id, "delayed": self._throttled,
                                               "per_s": self._bucket.limit.per_s})
            self._throttle_logged_at, self._throttled = now, 0
        await asyncio.sleep(wait)

    async def _handle_call(self, msg: Call) -> None:
        """The ocpp package's call handling, but for what its catch-all gets wrong.

        Validation takes the fast path (shared.validation) to the package's own verdicts;
        the handler gets the payload as it came, not keyword arguments. A store that cannot
        keep a message gets it no answer at all and the link closed: a CALLERROR would
        make the station drop a transaction message (OCPP 2.0.1 E13, 1.6 section 4.7),
        while a closed link makes it queue and replay. A failing handler is logged without
        the frame, which may carry an idToken.
        """
        handlers = self.routes.get(msg.action, {})
        if "_on_action" not in handlers:
            _raise_key_error(msg.action, self.ocpp_version)
        validate(msg, self.ocpp_version)
        try:
            response = await handlers["_on_action"](self, msg.payload)  # all coroutines
        except StorageUnavailable as error:
            log.error("storage unavailable: not answered, link closed for a replay",
                      extra={"station": self.id, "action": msg.action, "error": str(error)})
            await self._connection.close(STORAGE_UNAVAILABLE, "storage unavailable, retry")
            return
        except OCPPError:
            raise
        except InvalidTimestamp as error:  # the schema's date-time format is not checked
            raise FormatViolationError(description=str(error)) from None
        except InvalidReading as error:
            raise PropertyConstraintViolationError(description=str(error)) from None
        except Exception as error:
            log.exception("handler failed", extra={"station": self.id, "action": msg.action,
                                                   "error": type(error).__name__})
            raise InternalError(description="the central system failed on this request "
                                            "and kept nothing of it") from None
        reply = msg.create_call_result(response)
        validate(reply, self.ocpp_version)
        await self._send(encoded(reply))
        after_action = handlers.get("_after_action")
        pending = after_action(self, msg.payload) if after_action is not None else None
        if pending is not None:  # a coroutine, run once the response has gone
            task = asyncio.ensure_future(pending)
            self._after_tasks.add(task)
            task.add_done_callback(self._after_tasks.discard)


def kept(action: str) -> Handler:
    """A handler that keeps the message's content as sent and answers it empty."""
    async def keep(link: StationLink, payload: Payload) -> Payload:
        await link.services.records.keep(link.id, action, payload)
        return {}
    return keep


def routes_of(link_class: type, extra: dict[str, Handler]) -> dict[str, dict[str, Any]]:
    """The class's @on / @after methods themselves (not the package's pass-through
    wrappers, each of which repacks the arguments), beside `extra` handlers."""
    return {
        **{action: {"_on_action": handler} for action, handler in extra.items()},
        **{action: {key: inspect.unwrap(value) if callable(value) else value
                    for key, value in route.items()}
           for action, route in create_route_map(link_class).items()}}
