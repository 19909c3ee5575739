"""Requests built from the official OCPP JSON schemas (the ocpp package's own files): with
only the required fields, or with every optional field present too, so that a test sends
what the specification allows rather than what our own agent happens to send."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
from ocpp.messages import MessageType, get_validator

TIMESTAMP = "2026-11-23T04:00:00Z"
VENDOR = "org.example.third-party"


@cache
def schema(action: str, message_type: int = MessageType.Call,
           version: str = "2.0.1") -> dict[str, Any]:
    result: dict[str, Any] = get_validator(message_type, action, version).schema
    return result


def request(action: str, full: bool, version: str = "2.0.1") -> dict[str, Any]:
    """A schema-valid request: the required fields only, or (`full`) every field."""
    root = schema(action, MessageType.Call, version)
    built = _value(root, root, full)
    assert isinstance(built, dict)
    jsonschema.validate(built, root)
    return built


def response(action: str, version: str = "2.0.1") -> dict[str, Any]:
    """A schema-valid response with the required fields only (a station's answer to what
    the central asks)."""
    root = schema(action, MessageType.CallResult, version)
    built = _value(root, root, False)
    assert isinstance(built, dict)
    return built


def valid_response(action: str, payload: Any, version: str = "2.0.1") -> bool:
    """Whether `payload` is a response the official schema allows (jsonschema itself, not
    the central's fast validator)."""
    try:
        jsonschema.validate(payload, schema(action, MessageType.CallResult, version))
    except jsonschema.ValidationError:
        return False
    return True


def _value(node: dict[str, Any], root: dict[str, Any], full: bool) -> Any:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return _value(root["definitions"][name], root, full)
    if "enum" in node:
        return node["enum"][-1 if full else 0]
    kind = node.get("type")
    if kind == "object":
        if node.get("javaType") == "CustomData":
            return {"vendorId": VENDOR}
        names = node.get("properties", {}) if full else node.get("required", [])
        return {name: _value(node["properties"][name], root, full) for name in names}
    if kind == "array":
        return [_value(node["items"], root, full)] * max(node.get("minItems", 1), 1)
    if kind == "string":
        if node.get("format") == "date-time":
            return TIMESTAMP
        return "x" * min(node.get("maxLength", 8), 8)
    if kind == "integer":
        return max(node.get("minimum", 1), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return full
    if kind is None:  # any JSON (DataTransfer's data)
        return {"note": "anything"}
    raise AssertionError(f"no value for schema node {node}")
