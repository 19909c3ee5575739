"""Fault tests use the integration tests' real central system and helpers."""

from tests.integration.conftest import central  # noqa: F401  (a fixture)
