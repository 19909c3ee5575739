"""A frame is read, and a CALLRESULT's text written, as the `ocpp` package does, but faster;
a CALL holding a value no OCPP field can mean is refused as it is read."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.messages import CallResult, unpack

from shared.ocpp_rpc import RefusedCall, decoded, encoded
from tests.unit.test_validation import CORPUS


@pytest.mark.parametrize("payload", [p for _, kind, _, p in CORPUS if kind == 3])
def test_a_reply_is_the_text_the_package_writes(payload):
    result = CallResult("m1", payload, "TransactionEvent")
    assert encoded(result) == result.to_json()


def test_a_decimal_is_sent_whole_and_a_huge_integer_exactly():
    text = encoded(CallResult("m1", {"totalCost": Decimal("1.55")}, "TransactionEvent"))
    assert json.loads(text) == [3, "m1", {"totalCost": 1.55}]
    big = CallResult("m1", {"customData": {"vendorId": "v", "wh": 10**30}}, "X")
    assert encoded(big) == big.to_json()
    both = CallResult("m1", {"totalCost": Decimal("1.55"), "customData": {"wh": 10**30}}, "X")
    assert json.loads(encoded(both))[2] == {"totalCost": 1.55, "customData": {"wh": 10**30}}
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        encoded(CallResult("m1", {"odd": {1}}, "TransactionEvent"))


def outcome(decode, raw):
    """What a decoder makes of a frame: the message's type and fields, or its error."""
    try:
        message = decode(raw)
    except Exception as error:
        return type(error).__name__
    return type(message).__name__, repr(vars(message))


FRAMES = [
    *(json.dumps([kind, "m1", *([action] if kind == 2 else []), payload])
      for _, kind, action, payload in CORPUS),
    '[2, "m1", "Heartbeat", {}]', ' [3,"m1",{"currentTime":"2026-11-23T04:00:00Z"}] ',
    '[2.0, "m1", "Heartbeat", {}]', '[3, "m1", {}, "extra"]', '[2, "m1", "Heartbeat"]',
    '[4, "m1", "FormatViolation", "bad", {}]', '[2, "m1", "X", {"a": 1, "a": 2}]',
    '[3, "m1", {"v": NaN}]', '[3, "m1", {"v": 1e400}]', '[3, "m1", ["\\ud800"]]',
    f'[3, "m1", {{"v": {2**64 - 1}, "w": {-2**63 - 1}, "x": {2**70}}}]',
    f'[2, "m1", "X", {{"v": {2**63 - 1}, "w": {-2**63}, "x": 1e308, "y": "\\ud83d\\ude00"}}]',
    '[2, "m1", "X", {"v": 0.1234567890123456789}]', '[9, "m1"]', "[]", "{}", '"x"', "",
    "[2, ", "[true, \"m1\", \"X\", {}]", '[2, 7, "X", {}]',
]


@pytest.mark.parametrize("raw", FRAMES)
def test_a_frame_is_read_as_the_package_reads_it(raw):
    assert outcome(decoded, raw) == outcome(unpack, raw)


def json_of(leaves):
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                        max_leaves=12)


# What an OCPP field can hold (text without lone surrogates: st.text's default)...
MEANINGFUL = json_of(st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text() | st.integers(min_value=-2**63, max_value=2**63 - 1))
# ...and what json reads but none can: each with the CALLERROR a CALL holding it gets.
MEANINGLESS = {2**63: "TypeConstraintViolation", -2**63 - 1: "TypeConstraintViolation",
               2**80: "TypeConstraintViolation", float("nan"): "FormatViolation",
               float("inf"): "FormatViolation", float("-inf"): "FormatViolation",
               "\ud800": "FormatViolation", "a\udfffb": "FormatViolation"}
JSON = json_of(st.none() | st.booleans() | st.floats() | st.text()
               | st.integers(min_value=-2**80, max_value=2**80))


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.just(2), st.text(), st.text(), MEANINGFUL)
       | st.tuples(st.just(3), st.text(), JSON) | st.lists(JSON, max_size=5))
def test_any_json_array_is_read_as_the_package_reads_it(frame):
    raw = json.dumps(list(frame))
    assert outcome(decoded, raw) == outcome(unpack, raw)


def holding(value):
    """Payloads with `value` somewhere in them, at any depth: a list's item among others,
    a dict's value (or, text, its key)."""
    def around(inner):
        return (st.builds(lambda before, x, after: [*before, x, *after],
                          st.lists(MEANINGFUL, max_size=2), inner, st.lists(MEANINGFUL, max_size=2))
                | st.builds(lambda d, key, x: {**d, key: x},
                            st.dictionaries(st.text(max_size=8), MEANINGFUL, max_size=2),
                            st.text(max_size=8), inner))
    alone = st.just(value)
    if isinstance(value, str):
        alone |= st.builds(lambda d: {**d, value: 1},
                           st.dictionaries(st.text(max_size=8), MEANINGFUL, max_size=2))
    return st.recursive(alone, around, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(MEANINGLESS)).flatmap(
    lambda value: st.tuples(st.just(value), holding(value))))
def test_a_call_holding_a_meaningless_value_anywhere_is_refused_with_its_code(case):
    value, payload = case
    with pytest.raises(RefusedCall) as refused:
        decoded(json.dumps([2, "m7", "TransactionEvent", payload]))
    error = refused.value.call.create_call_error(refused.value.error)
    assert (error.unique_id, error.error_code) == ("m7", MEANINGLESS[value])
