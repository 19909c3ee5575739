"""Fault tests use the integration tests' real central system and helpers."""

from tests.integration.conftest import central, slow_central  # noqa: F401  (fixtures)
