"""A CALLRESULT's text is the frame the `ocpp` package writes, but faster."""

import json
from decimal import Decimal

import pytest
from ocpp.messages import CallResult

from shared.ocpp_rpc import encoded
from tests.unit.test_validation import CORPUS


@pytest.mark.parametrize("payload", [p for kind, _, p in CORPUS if kind == 3])
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
