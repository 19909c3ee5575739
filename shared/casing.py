"""camelCase <-> snake_case for OCPP payloads, as the `ocpp` package converts them, with
each key converted once: the package runs several regular expressions per key per
message (a quarter of a server's time); the set of keys OCPP uses is small."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

KEYS_REMEMBERED = 4096  # bounded: free-form data (customData, DataTransfer) has any keys


@lru_cache(maxsize=KEYS_REMEMBERED)
def _snake_key(key: str) -> str:
    return str(next(iter(camel_to_snake_case({key: None}))))


@lru_cache(maxsize=KEYS_REMEMBERED)
def _camel_key(key: str) -> str:
    return str(next(iter(snake_to_camel_case({key: None}))))


def to_snake(data: Any) -> Any:
    return _rekeyed(data, _snake_key)


def to_camel(data: Any) -> Any:
    return _rekeyed(data, _camel_key)


def _rekeyed(data: Any, key: Callable[[str], str]) -> Any:
    # Scalars, most values, are not passed down (a call each is a fifth of the time).
    # Payloads are JSON's own types, made by json or by us: no dict or list subclasses.
    if isinstance(data, dict):
        return {key(name): _rekeyed(value, key) if type(value) in _NESTED else value
                for name, value in data.items()}
    if isinstance(data, list):
        return [_rekeyed(value, key) if type(value) in _NESTED else value for value in data]
    return data


_NESTED = frozenset((dict, list))
