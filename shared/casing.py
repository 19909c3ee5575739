"""camelCase <-> snake_case for OCPP payloads, as the `ocpp` package converts them, with
each key converted once: the package runs several regular expressions per key per
message (a quarter of a server's time); the set of keys OCPP uses is small."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

KEYS_REMEMBERED = 4096  # bounded: free-form data (customData, DataTransfer) has any keys


class _Keys(dict[str, str]):
    """key -> converted key; a plain dict lookup where it is known (lru_cache's call
    costs twice as much, and a payload has a dozen keys or more)."""

    def __init__(self, convert: Callable[[str], str]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, key: str) -> str:
        converted = self._convert(key)
        if len(self) < KEYS_REMEMBERED:
            self[key] = converted
        return converted


_SNAKE = _Keys(lambda key: str(next(iter(camel_to_snake_case({key: None})))))
_CAMEL = _Keys(lambda key: str(next(iter(snake_to_camel_case({key: None})))))


def to_snake(data: Any) -> Any:
    return _rekeyed(data, _SNAKE)


def to_camel(data: Any) -> Any:
    return _rekeyed(data, _CAMEL)


def _rekeyed(data: Any, keys: _Keys) -> Any:
    # Scalars, most values, are not passed down (a call each is a fifth of the time).
    # Payloads are JSON's own types, made by json or by us: no dict or list subclasses.
    # A dict is rebuilt in a loop, not a comprehension: in Python 3.11 a comprehension is a
    # function call of its own (lists, fewer and shorter, keep theirs).
    if isinstance(data, dict):
        rekeyed = {}
        for name, value in data.items():
            rekeyed[keys[name]] = _rekeyed(value, keys) if type(value) in _NESTED else value
        return rekeyed
    if isinstance(data, list):
        return [_rekeyed(value, keys) if type(value) in _NESTED else value for value in data]
    return data


_NESTED = frozenset((dict, list))
