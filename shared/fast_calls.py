"""The `ocpp` package's ChargePoint.call, on the fast path, for both sides.

The package validates every request and response with jsonschema in a thread pool and
converts each key with regular expressions: most of a call's time. Here the same checks
take the fast path (shared.validation, shared.casing) to the package's own verdicts, inline;
a fleet process sends thousands of calls a second, and the central a running cost to
every station every few minutes. The answer is awaited only while the link is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.messages import Call, MessageType

from shared.casing import to_camel, to_snake
from shared.validation import validate

log = logging.getLogger("shared.fast_calls")


class CallErrorAnswer(Exception):
    """The other side answered CALLERROR (`error`, as the OCPPError it names)."""

    def __init__(self, error: Any) -> None:
        super().__init__(f"answered CALLERROR {type(error).__name__}: {error.description}")
        self.error = error


class FastCalls:
    """Mixed into a subclass of the package's ChargePoint, before it."""

    # the package's ChargePoint has these
    id: str
    _ocpp_version: str
    _connection: Any
    _call_lock: asyncio.Lock
    _call_result: Any
    _response_timeout: float
    _unique_id_generator: Callable[[], Any]
    _send: Callable[[str], Any]
    _get_specific_response: Callable[[str, float], Any]

    async def call(self, payload: Any, suppress: bool = True) -> Any:
        """As the package's call: the answer as its call_result dataclass; None for a
        CALLERROR (raised instead with `suppress` False); TimeoutError without one."""
        action = type(payload).__name__
        response = await self._exchange(
            Call(str(self._unique_id_generator()), action,
                 remove_nones(to_camel(serialize_as_dict(payload)))))
        if response.message_type_id == MessageType.CallError:
            if suppress:
                return None
            raise response.to_exception()
        return getattr(self._call_result, action)(**to_snake(response.payload))

    async def exchange(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request as it is on the wire (camelCase) and return the answer's
        payload the same way: the request's OCPPError if this link's OCPP version's schema
        refuses it (nothing is sent), CallErrorAnswer for a CALLERROR."""
        response = await self._exchange(Call(str(self._unique_id_generator()), action,
                                             payload))
        if response.message_type_id == MessageType.CallError:
            raise CallErrorAnswer(response.to_exception())
        answer: dict[str, Any] = response.payload
        return answer

    async def _exchange(self, request: Call) -> Any:
        """The station's CallResult (checked against its schema) or CallError; TimeoutError
        without either."""
        validate(request, self._ocpp_version)
        async with self._call_lock:  # one call at a time, as OCPP-J requires
            await self._send(request.to_json())
            try:
                response = await self._response_or_close(request)
            except TimeoutError:  # said without the frame, which may carry an idToken
                raise TimeoutError(f"no answer to {request.action} "
                                   f"in {self._response_timeout} s") from None
        if response.message_type_id == MessageType.CallError:
            log.warning("CALLERROR received", extra={"station": self.id,
                                                     "action": request.action,
                                                     "error": response.error_code})
            return response
        response.action = request.action
        validate(response, self._ocpp_version)
        return response

    async def _response_or_close(self, request: Call) -> Any:
        """The answer, or ConnectionClosed as soon as the link closes: the package's wait
        runs out its whole response timeout, and an event in flight when the other side
        closed the link was held back 30 s. (The connection's own future of its end, not
        a task of our own per link waiting for it: 1.7 KB of every connection.)"""
        closed: asyncio.Future[None] = self._connection.connection_lost_waiter
        answer = asyncio.ensure_future(self._get_specific_response(request.unique_id,
                                                                   self._response_timeout))
        try:
            done, _ = await asyncio.wait({answer, closed},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not answer.done():
                answer.cancel()
        if answer in done:
            return answer.result()
        raise self._connection.protocol.close_exc
