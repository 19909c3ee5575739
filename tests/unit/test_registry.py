"""Registry files: the example loads; a bad file is refused whole with file:line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.domain.passwords import verify_password
from central.domain.registry import RegistryError, load_registry
from tests.helpers import EXAMPLE, example_registry


def test_the_example_registry_has_three_premises_accounts_and_the_ev_tou_tariff():
    reg = example_registry()
    assert len(reg.premises) == 3 and len(reg.accounts) == 3
    ev_tou = next(t for t in reg.tariffs if t.id == "ev-tou")
    assert ev_tou.illustrative
    assert {s.name for s in ev_tou.seasons} == {"summer", "winter"}


def test_passwords_are_hashed_on_load():
    station = next(s for s in example_registry().stations if s.id == "CP-1001")
    assert "alder-lane" not in station.password_hash
    assert verify_password("alder-lane-evse-2026", station.password_hash)
    assert not verify_password("wrong", station.password_hash)


def test_a_profile_3_station_needs_no_password_and_profile_1_is_the_default(tmp_path):
    path = broken(tmp_path, 'password = "birch-road-evse-2026"', "security_profile = 3")
    profiles = {s.id: (s.security_profile, s.password_hash) for s in load_registry(path).stations}
    assert profiles["CP-1002"] == (3, "")
    assert profiles["CP-1001"][0] == 1 and profiles["CP-1001"][1].startswith("scrypt$")


def test_every_identifier_binds_the_same_pev():
    pev = next(p for p in example_registry().pevs if p.id == "PEV-0001")
    kinds = {i.type for i in pev.all_identifiers()}
    assert kinds == {"Central", "VIN", "ISO14443", "MacAddress"}


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    """The last line containing `needle` (a duplicate is reported where it repeats)."""
    return max(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    ('program = "ev-flex"\nterritory = "cascade-north"',
     'program = "ev-gold"\nterritory = "cascade-north"', 'program = "ev-gold"',
     "unknown program 'ev-gold'"),
    ('max_power_w = 3600', 'max_power_w = -5', 'max_power_w = -5', "positive whole number"),
    ('id = "A-1002"', 'id = "A-1001"', 'id = "A-1001"', "duplicate id 'A-1001'"),
    ('guest_policy = "host_pays"', 'guest_policy = "sometimes"', 'guest_policy = "sometimes"',
     "must be one of driver_pays, host_pays"),
    ('password = "birch-road-evse-2026"', 'password = "short"', 'password = "short"',
     "at least 16 characters"),
    ('end = "16:00", price = "0.40"', 'end = "15:30", price = "0.40"', '"15:30"',
     "without gaps or overlaps"),
    ('kind = "evse"', 'kind = "evse"\ncolour = "red"', "colour", "unknown field 'colour'"),
    ('password = "birch-road-evse-2026"', 'security_profile = 4\npassword = "birch-road-evse-2026"',
     "security_profile",
     "must be 1 (Basic auth), 2 (TLS + Basic auth) or 3 (mutual TLS)"),
    ('password = "birch-road-evse-2026"', 'security_profile = 3\npassword = "birch-road-evse-2026"',
     'password = "birch-road-evse-2026"',
     "authenticates with its TLS client certificate: remove 'password'"),
])
def test_an_invalid_file_is_refused_with_file_line_and_reason(tmp_path, old, new, needle,
                                                              message):
    path = broken(tmp_path, old, new)
    with pytest.raises(RegistryError) as error:
        load_registry(path)
    text = str(error.value)
    assert message in text
    assert text.startswith(f"{path}:{line_of(path, needle)}:"), text


def test_malformed_toml_reports_its_line(tmp_path):
    path = broken(tmp_path, 'name = "Ada Park"', 'name = "Ada Park')
    with pytest.raises(RegistryError, match=rf"^{path}:{line_of(path, 'Ada Park')}: not valid"):
        load_registry(path)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "central", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "250"})


def test_import_is_idempotent_and_an_invalid_file_changes_nothing(tmp_path):
    db = tmp_path / "utility.db"
    bad = broken(tmp_path, 'max_power_w = 3600', 'max_power_w = "lots"')
    refused = cli("registry", "import", str(bad), "--db", str(db))
    assert refused.returncode == 2 and f"{bad}:" in refused.stderr
    assert not db.exists()  # nothing half-written, not even an empty database
    for _ in range(2):
        done = cli("registry", "import", str(EXAMPLE), "--db", str(db))
        assert done.returncode == 0, done.stderr
    shown = cli("registry", "show", "--db", str(db))
    assert shown.returncode == 0
    assert shown.stdout.count("PEV-0001") == 1 and "A-1003" in shown.stdout
    assert "scrypt" not in shown.stdout and "alder-lane" not in shown.stdout
    before = db.read_bytes()
    assert cli("registry", "import", str(bad), "--db", str(db)).returncode == 2
    assert cli("registry", "show", "--db", str(db)).stdout == shown.stdout
    assert db.read_bytes() == before
