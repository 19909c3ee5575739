"""OCPP-J framing: a frame's message, a CALLRESULT's text, and the CALLERROR a malformed
frame deserves (OCPP-J 2.0.1 section 4)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import orjson
from ocpp.exceptions import FormatViolationError, OCPPError, TypeConstraintViolationError
from ocpp.messages import Call, CallError, CallResult, MessageType, unpack

from shared.units import INT64

UNREADABLE_ID = "-1"  # the message id to use when it cannot be read
# Every digit as 0, everything else as a space: a run of 19 zeros is a long number.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19


class RefusedCall(Exception):
    """A CALL that holds a value no OCPP field can mean: `error` is its CALLERROR."""

    def __init__(self, call: Call, error: OCPPError) -> None:
        super().__init__(error.description)
        self.call, self.error = call, error


def _received_call(unique_id: Any, action: Any, payload: Any) -> Call:
    """A Call as read off the wire, made without Call.__init__: its payload is JSON, never
    the dataclass that __init__ checks for (a failed attribute lookup, an exception made
    and dropped: 1 % of what an event costs the central). Still exactly a Call, which the
    package's validator insists on."""
    call = Call.__new__(Call)
    call.unique_id, call.action, call.payload = unique_id, action, payload
    return call


def decoded(raw: str) -> Call | CallResult | CallError:
    """The message the `ocpp` package's unpack makes of `raw`, with orjson parsing the
    common frames, a well-formed CALL or CALLRESULT (json.loads is 2.5 us of every
    message). Anything else goes through unpack, for its verdict; so does what orjson
    reads otherwise than json: NaN, a lone surrogate, and an integer of 19 digits or
    more, which may not fit 64 bits (made a float).

    Unlike unpack, a CALL holding one of those is refused (RefusedCall): such a value
    means nothing in any OCPP field, and deeper in, it would fail the handler or the
    store with an error that blames the central."""
    try:
        data = raw.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return _unpacked(raw)
    # bytes.translate and `in` are C loops: 0.7 us where a regular expression takes 5
    if _LONG_NUMBER in data.translate(_DIGITS_AS_ZEROS):
        return _unpacked(raw)
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _unpacked(raw)
    if type(frame) is list and len(frame) == 4 and frame[0] == MessageType.Call:
        return _received_call(*frame[1:])
    if type(frame) is list and len(frame) == 3 and frame[0] == MessageType.CallResult:
        return CallResult(*frame[1:])
    return _unpacked(raw)


def _unpacked(raw: str) -> Call | CallResult | CallError:
    """unpack's reading of the frames orjson does not read, a CALL with a value that
    means nothing refused (only such frames can hold one)."""
    message = unpack(raw)
    if isinstance(message, Call):
        error = _meaningless(message.payload)
        if error is not None:
            raise RefusedCall(message, error)
    return message


def _meaningless(payload: Any) -> OCPPError | None:
    """What json reads but no OCPP field can mean, found anywhere in `payload` (walked
    without recursion: json reads nesting deeper than Python's call stack)."""
    pending = [payload]
    while pending:
        value = pending.pop()
        if type(value) is dict:
            pending += value.keys()
            pending += value.values()
        elif type(value) is list:
            pending += value
        elif type(value) is int and value not in INT64:
            return TypeConstraintViolationError(description="an integer beyond 64 bits")
        elif type(value) is float and not math.isfinite(value):
            return FormatViolationError(
                description="NaN, Infinity or a number beyond a double's range")
        elif type(value) is str and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return FormatViolationError(
                    description="text with a lone surrogate (an unpaired \\uD800-\\uDFFF) "
                                "is not Unicode")
    return None


def encoded(result: CallResult) -> str:
    """The JSON CallResult.to_json writes, in a tenth of the time (the package makes a
    JSON encoder per message: 2-5 us of every reply); non-ASCII text goes as UTF-8 rather
    than escaped. A Decimal, which the package would round to one decimal place, is sent
    whole; an integer beyond 64 bits, which orjson refuses, goes through json."""
    frame = [result.message_type_id, result.unique_id, result.payload]
    try:
        return orjson.dumps(frame, default=_number).decode()
    except orjson.JSONEncodeError:
        return json.dumps(frame, separators=(",", ":"), default=_number)


def _number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def rejection(raw: str | bytes) -> CallError:
    """Describe why `raw` is not an OCPP-J message, as a CALLERROR to send back."""
    if isinstance(raw, bytes):
        return CallError(UNREADABLE_ID, "RpcFrameworkError",
                         "binary frames are not OCPP-J; send JSON text frames", {})
    try:
        message = json.loads(raw)
    except ValueError:
        return CallError(UNREADABLE_ID, "FormatViolation", "message is not valid JSON", {})
    except RecursionError:  # json's reader gives up some 1,000 levels deep
        return CallError(UNREADABLE_ID, "FormatViolation", "message is nested too deeply", {})
    if not isinstance(message, list) or len(message) < 2 or not isinstance(message[1], str):
        return CallError(UNREADABLE_ID, "RpcFrameworkError",
                         "message must be a JSON array [type, id, ...] with a string id", {})
    message_id = message[1][:36]
    if message[0] not in (2, 3, 4):
        return CallError(message_id, "MessageTypeNotSupported",
                         f"message type {str(message[0])[:20]!r} is not supported", {})
    return CallError(message_id, "ProtocolError",
                     "message does not have the elements its type requires", {})
