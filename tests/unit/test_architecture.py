"""The layers stay apart: the utility's logic (central/domain) names no wire protocol and
no operator interface, so a new OCPP version is a new adapter, not a change to billing."""

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

FORBIDDEN_IN_DOMAIN = ("ocpp", "websockets", "central.protocol", "central.operator",
                       "fastapi", "uvicorn", "shared.protocol")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("path", sorted((ROOT / "central" / "domain").glob("*.py")),
                         ids=lambda path: path.name)
def test_the_domain_imports_no_protocol_and_no_operator_interface(path):
    offending = {module for module in imported_modules(path)
                 if any(module == name or module.startswith(name + ".")
                        for name in FORBIDDEN_IN_DOMAIN)}
    assert not offending, f"{path.name} imports {sorted(offending)}"


def test_the_check_sees_an_import_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from ocpp.v201 import call\nimport websockets\n")
    assert imported_modules(sample) == {"ocpp.v201", "websockets"}
