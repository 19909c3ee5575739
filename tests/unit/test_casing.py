"""Payload keys are converted as the `ocpp` package converts them, whatever the payload."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

from shared import casing
from shared.casing import to_camel, to_snake
from tests.unit.test_validation import CORPUS

KEYS = st.text(alphabet="abcXYZ_0", min_size=1, max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children,
                                                                      max_size=4),
    max_leaves=20)


@pytest.mark.parametrize("payload", [p for *_, p in CORPUS])
def test_every_corpus_payload_converts_as_the_package_does(payload):
    assert to_snake(payload) == camel_to_snake_case(payload)
    snake = camel_to_snake_case(payload)
    assert to_camel(snake) == snake_to_camel_case(snake)


@given(JSON)
def test_any_json_converts_as_the_package_does(data):
    assert to_snake(data) == camel_to_snake_case(data)
    assert to_camel(data) == snake_to_camel_case(data)


def test_keys_past_the_bound_are_converted_but_not_kept(monkeypatch):
    monkeypatch.setattr(casing, "KEYS_REMEMBERED", len(casing._SNAKE))
    key = "neverSeenBeforeKey"
    assert to_snake({key: {"innerKey": 1}}) == {"never_seen_before_key": {"inner_key": 1}}
    assert key not in casing._SNAKE
