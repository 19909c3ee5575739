"""Enrollment: the utility's accounts, premises, stations, PEVs, programs and tariffs.

`load_registry` reads a registry TOML file and validates all of it before anything is
stored; every problem is reported as `file:line: message`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from central.domain.passwords import hash_password, is_password_hash
from shared.tariff import Tariff, TariffError, parse_tariff

STATION_KINDS = ("evse", "portal")  # premise-mounted EVSE; energy portal (outlet) for a cordset
GUEST_POLICIES = ("driver_pays", "host_pays")
SECURITY_PROFILES = (1, 2, 3)  # OCPP 2.0.1 A00: Basic auth; TLS + Basic auth; mutual TLS
CERTIFICATE_PROFILE = 3
OCPP_VERSIONS = ("2.1", "2.0.1", "1.6")  # the versions the central speaks, newest first
PEV_STATUSES = ("active", "blocked", "expired")
# OCPP 2.0.1 IdTokenEnumType values, plus VIN (carried in additionalInfo in 2.0.1).
TOKEN_TYPES = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local",
               "MacAddress", "VIN")


@dataclass(frozen=True)
class Utility:
    name: str
    timezone: ZoneInfo
    currency: str


@dataclass(frozen=True)
class Program:
    id: str
    name: str
    tariff_id: str
    economy: bool
    max_power_w: int
    randomized_delay_s: int


@dataclass(frozen=True)
class Account:
    id: str
    name: str


@dataclass(frozen=True)
class Premise:
    id: str
    account_id: str
    address: str
    territory: str
    rate_plan: str  # tariff id
    service_limit_w: int
    guest_policy: str
    host_pays_for: tuple[str, ...] = ()  # PEV ids; empty with host_pays means every guest


@dataclass(frozen=True)
class Station:
    id: str
    premise_id: str
    kind: str
    eumd_serial: str
    max_power_w: int
    password_hash: str = field(repr=False)  # "" for security profile 3 (a certificate)
    security_profile: int = 1  # OCPP: 1 Basic auth, 2 TLS + Basic auth, 3 mutual TLS
    ocpp_versions: tuple[str, ...] = OCPP_VERSIONS  # the ones it may connect with


@dataclass(frozen=True)
class Identifier:
    id_token: str
    type: str


@dataclass(frozen=True)
class Pev:
    id: str
    vin: str | None
    owner_account: str
    home_premise: str
    program_id: str
    territory: str
    status: str
    valid_until: datetime | None
    group_id: str | None
    identifiers: tuple[Identifier, ...] = ()

    def all_identifiers(self) -> tuple[Identifier, ...]:
        """The PEV ID itself (type Central), its VIN, and its other identifiers."""
        own = [Identifier(self.id, "Central")]
        if self.vin:
            own.append(Identifier(self.vin, "VIN"))
        return (*own, *self.identifiers)


@dataclass(frozen=True)
class Registry:
    utility: Utility
    tariffs: tuple[Tariff, ...]
    programs: tuple[Program, ...]
    accounts: tuple[Account, ...]
    premises: tuple[Premise, ...]
    stations: tuple[Station, ...]
    pevs: tuple[Pev, ...]


class RegistryError(ValueError):
    """An invalid registry file; the message starts with file:line."""


ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,48}$")


class _Lines:
    """Finds the line of the n-th `[[section]]` table (and a key in it) in the raw text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def of(self, section: str, index: int | None = None, key: str | None = None) -> int:
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}\s*\]\]?\s*(#.*)?$")
        starts = [n for n, line in enumerate(self.lines, 1) if header.match(line)]
        if not starts:
            return 1
        start = starts[min(index or 0, len(starts) - 1)]
        if key is None:
            return start
        key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n in range(start + 1, len(self.lines) + 1):
            text = self.lines[n - 1]
            if re.match(r"^\s*\[", text):
                break
            if key_line.match(text):
                return n
        return start

    def find(self, after: int, token: str) -> int:
        """The first line after `after` that contains `token` (else `after`)."""
        for n in range(after + 1, len(self.lines) + 1):
            if token in self.lines[n - 1]:
                return n
        return after


class _Reader:
    """Typed access to one TOML table, raising RegistryError with a location."""

    def __init__(self, where: Callable[[str | None], str], table: Mapping[str, Any]) -> None:
        self.where = where
        self.table = table

    def fail(self, key: str | None, message: str) -> RegistryError:
        return RegistryError(f"{self.where(key)}: {message}")

    def text(self, key: str, default: str | None = None, *, is_id: bool = False) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"'{key}' is required and must be a non-empty string")
        if is_id and not ID_PATTERN.match(value):
            raise self.fail(key, f"'{key}' {value!r} must be 1-48 of A-Z a-z 0-9 . _ : -")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.table else None

    def positive_int(self, key: str, default: int | None = None) -> int:
        value = self.table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise self.fail(key, f"'{key}' must be a positive whole number")
        return value

    def non_negative_int(self, key: str, default: int) -> int:
        value = self.table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(key, f"'{key}' must be a whole number >= 0")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"'{key}' must be true or false")
        return value

    def security_profile(self) -> int:
        value = self.table.get("security_profile", 1)
        if value not in SECURITY_PROFILES or isinstance(value, bool):
            raise self.fail("security_profile", "'security_profile' must be 1 (Basic auth), "
                                                "2 (TLS + Basic auth) or 3 (mutual TLS)")
        return int(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value not in choices:
            raise self.fail(key, f"'{key}' must be one of {', '.join(choices)} (got {value!r})")
        return str(value)

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown field '{key}' (allowed: "
                                     f"{', '.join(sorted(allowed))})")


def load_registry(path: Path, known: Mapping[str, set[str]] | None = None) -> Registry:
    """Parse and validate a registry file.

    `known` holds ids already in the database (by kind: tariffs, programs, accounts,
    premises) that the file may refer to without defining them again.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RegistryError(f"{path}: cannot read: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"at line (\d+)", str(error))  # tomllib has no lineno before 3.14
        line = int(found.group(1)) if found else 1
        raise RegistryError(f"{path}:{line}: not valid TOML: {error}") from None
    return _Parser(path, text, data, known or {}).registry()


class _Parser:
    SECTIONS: ClassVar[set[str]] = {"utility", "tariffs", "programs", "accounts", "premises",
                                    "stations", "pevs"}

    def __init__(self, path: Path, text: str, data: dict[str, Any],
                 known: Mapping[str, set[str]]) -> None:
        self.path, self.lines, self.data, self.known = path, _Lines(text), data, known

    def locate(self, section: str, index: int | None, key: str | None) -> str:
        """Where a problem is, for the message: `file:line` here."""
        return f"{self.path}:{self.lines.of(section, index, key)}"

    def reader(self, section: str, index: int | None, table: Any) -> _Reader:
        def where(key: str | None) -> str:
            return self.locate(section, index, key)
        if not isinstance(table, Mapping):
            raise RegistryError(f"{where(None)}: [{section}] must be a table")
        return _Reader(where, table)

    def tables(self, section: str) -> list[tuple[int, Any]]:
        value = self.data.get(section, [])
        if not isinstance(value, list):
            raise RegistryError(f"{self.path}:{self.lines.of(section)}: '{section}' must be "
                                f"an array of tables ([[{section}]])")
        return list(enumerate(value))

    def registry(self) -> Registry:
        for key in self.data:
            if key not in self.SECTIONS:
                raise RegistryError(f"{self.path}:{self.lines.of(key)}: unknown section "
                                    f"'{key}' (allowed: {', '.join(sorted(self.SECTIONS))})")
        if "utility" not in self.data:
            raise RegistryError(f"{self.path}:1: the [utility] table is required")
        utility = self.utility()
        tariffs = tuple(self.tariff(i, t, utility.timezone) for i, t in self.tables("tariffs"))
        ids = {"tariffs": self.unique("tariffs", [t.id for t in tariffs])}
        programs = tuple(self.program(i, t, ids) for i, t in self.tables("programs"))
        ids["programs"] = self.unique("programs", [p.id for p in programs])
        accounts = tuple(self.account(i, t) for i, t in self.tables("accounts"))
        ids["accounts"] = self.unique("accounts", [a.id for a in accounts])
        premises = tuple(self.premise(i, t, ids) for i, t in self.tables("premises"))
        ids["premises"] = self.unique("premises", [p.id for p in premises])
        stations = tuple(self.station(i, t, ids) for i, t in self.tables("stations"))
        self.unique("stations", [s.id for s in stations])
        pevs = tuple(self.pev(i, t, ids) for i, t in self.tables("pevs"))
        self.unique("pevs", [p.id for p in pevs])
        self.unique_identifiers(pevs)
        return Registry(utility, tariffs, programs, accounts, premises, stations, pevs)

    def unique(self, section: str, ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for index, item_id in enumerate(ids):
            if item_id in seen:
                raise RegistryError(f"{self.path}:{self.lines.of(section, index, 'id')}: "
                                    f"duplicate id {item_id!r} in [[{section}]]")
            seen.add(item_id)
        return seen | self.known.get(section, set())

    def refer(self, r: _Reader, key: str, kind: str, ids: Mapping[str, set[str]]) -> str:
        value = r.text(key, is_id=True)
        if value not in ids[kind]:
            raise r.fail(key, f"'{key}' refers to unknown {kind[:-1]} {value!r}")
        return value

    def utility(self) -> Utility:
        r = self.reader("utility", None, self.data["utility"])
        r.check_keys({"name", "timezone", "currency"})
        zone = r.text("timezone")
        try:
            timezone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise r.fail("timezone", f"unknown IANA time zone {zone!r}") from None
        currency = r.text("currency")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise r.fail("currency", "'currency' must be an ISO 4217 code such as USD")
        return Utility(r.text("name"), timezone, currency)

    def tariff(self, index: int, table: Any, timezone: ZoneInfo) -> Tariff:
        r = self.reader("tariffs", index, table)
        r.check_keys({"id", "name", "illustrative", "seasons", "periods"})
        definition = {k: v for k, v in table.items() if k in ("seasons", "periods")}
        try:
            return parse_tariff(r.text("id", is_id=True), r.text("name"), timezone, definition,
                                r.boolean("illustrative", False))
        except TariffError as error:
            if not self.lines.lines:  # not from a file: no line to point at
                raise RegistryError(f"{self.locate('tariffs', index, None)}: {error}") from None
            line = self.lines.of("tariffs", index, "periods")
            if error.season_index is not None:
                line = self.lines.find(line, "[[tariffs.seasons]]")
                for _ in range(error.season_index):
                    line = self.lines.find(line, "[[tariffs.seasons]]")
            if error.token:
                line = self.lines.find(line, error.token)
            raise RegistryError(f"{self.path}:{line}: tariff {table.get('id')!r}: {error}"
                                ) from None

    def program(self, index: int, table: Any, ids: Mapping[str, set[str]]) -> Program:
        r = self.reader("programs", index, table)
        r.check_keys({"id", "name", "tariff", "economy", "max_power_w", "randomized_delay_s"})
        return Program(r.text("id", is_id=True), r.text("name"), self.refer(r, "tariff",
                       "tariffs", ids), r.boolean("economy", False), r.positive_int("max_power_w"),
                       r.non_negative_int("randomized_delay_s", 0))

    def account(self, index: int, table: Any) -> Account:
        r = self.reader("accounts", index, table)
        r.check_keys({"id", "name"})
        return Account(r.text("id", is_id=True), r.text("name"))

    def premise(self, index: int, table: Any, ids: Mapping[str, set[str]]) -> Premise:
        r = self.reader("premises", index, table)
        r.check_keys({"id", "account", "address", "territory", "rate_plan", "service_limit_w",
                      "guest_policy", "host_pays_for"})
        host_pays_for = table.get("host_pays_for", [])
        if not isinstance(host_pays_for, list) or not all(isinstance(p, str)
                                                           for p in host_pays_for):
            raise r.fail("host_pays_for", "'host_pays_for' must be a list of PEV ids")
        policy = r.choice("guest_policy", GUEST_POLICIES, "driver_pays")
        if host_pays_for and policy != "host_pays":
            raise r.fail("host_pays_for", "'host_pays_for' needs guest_policy = \"host_pays\"")
        return Premise(r.text("id", is_id=True), self.refer(r, "account", "accounts", ids),
                       str(table.get("address", "")), r.text("territory", is_id=True),
                       self.refer(r, "rate_plan", "tariffs", ids),
                       r.positive_int("service_limit_w"), policy, tuple(host_pays_for))

    def station(self, index: int, table: Any, ids: Mapping[str, set[str]]) -> Station:
        r = self.reader("stations", index, table)
        r.check_keys({"id", "premise", "kind", "eumd_serial", "max_power_w", "password",
                      "password_hash", "security_profile", "ocpp_versions"})
        profile = r.security_profile()
        versions = table.get("ocpp_versions", list(OCPP_VERSIONS))
        if not isinstance(versions, list) or not versions or \
                not all(v in OCPP_VERSIONS for v in versions):
            raise r.fail("ocpp_versions", "'ocpp_versions' must be a non-empty list of "
                                          f"{', '.join(repr(v) for v in OCPP_VERSIONS)}")
        if profile == CERTIFICATE_PROFILE:
            if "password" in table or "password_hash" in table:
                key = "password" if "password" in table else "password_hash"
                raise r.fail(key, "a security profile 3 station authenticates with its TLS "
                                  f"client certificate: remove '{key}'")
            password_hash = ""
        elif ("password" in table) == ("password_hash" in table):
            raise r.fail(None, "a station needs exactly one of 'password' or 'password_hash'")
        elif "password" in table:
            password = r.text("password")
            if len(password) < 16:
                raise r.fail("password", "'password' must be at least 16 characters "
                                         "(OCPP security profile 1/2)")
            password_hash = hash_password(password)
        else:
            password_hash = r.text("password_hash")
            if not is_password_hash(password_hash):
                raise r.fail("password_hash", "'password_hash' must be a scrypt$... hash as "
                                              "written by this tool")
        return Station(r.text("id", is_id=True), self.refer(r, "premise", "premises", ids),
                       r.choice("kind", STATION_KINDS, "evse"), r.text("eumd_serial"),
                       r.positive_int("max_power_w"), password_hash, profile,
                       tuple(v for v in OCPP_VERSIONS if v in versions))

    def pev(self, index: int, table: Any, ids: Mapping[str, set[str]]) -> Pev:
        r = self.reader("pevs", index, table)
        r.check_keys({"id", "vin", "owner", "home_premise", "program", "territory", "status",
                      "valid_until", "group", "identifiers"})
        vin = r.optional_text("vin")
        if vin is not None and not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", vin):
            raise r.fail("vin", f"'vin' {vin!r} is not a 17-character VIN")
        identifiers = []
        raw_identifiers = table.get("identifiers", [])
        if not isinstance(raw_identifiers, list):
            raise r.fail("identifiers", "'identifiers' must be a list of "
                                        "{ id_token = \"...\", type = \"...\" }")
        for raw in raw_identifiers:
            item = _Reader(lambda _key: r.where("identifiers"), raw if isinstance(raw, Mapping)
                           else {})
            token = item.text("id_token")
            if len(token) > 36:
                raise r.fail("identifiers", f"id_token {token!r} is longer than 36 characters")
            identifiers.append(Identifier(token, item.choice("type", TOKEN_TYPES)))
        return Pev(r.text("id", is_id=True), vin, self.refer(r, "owner", "accounts", ids),
                   self.refer(r, "home_premise", "premises", ids),
                   self.refer(r, "program", "programs", ids), r.text("territory", is_id=True),
                   r.choice("status", PEV_STATUSES, "active"), self.valid_until(r),
                   r.optional_text("group"), tuple(identifiers))

    def valid_until(self, r: _Reader) -> datetime | None:
        value = r.table.get("valid_until")
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):  # valid through the end of that day, UTC
            return datetime.combine(value, time.max, UTC)
        raise r.fail("valid_until", "'valid_until' must be a TOML date or date-time")

    def unique_identifiers(self, pevs: tuple[Pev, ...]) -> None:
        owner: dict[Identifier, str] = {}
        for index, pev in enumerate(pevs):
            for identifier in pev.all_identifiers():
                other = owner.setdefault(identifier, pev.id)
                if other != pev.id:
                    raise RegistryError(
                        f"{self.path}:{self.lines.of('pevs', index, 'identifiers')}: "
                        f"identifier {identifier.id_token!r} ({identifier.type}) of {pev.id!r} "
                        f"already belongs to {other!r}")


ENTRY_KINDS = ("tariffs", "programs", "accounts", "premises", "stations", "pevs")


class _EntryParser(_Parser):
    """Validates one entry given as a mapping (e.g. an API request body)."""

    def locate(self, section: str, index: int | None, key: str | None) -> str:
        return f"{section[:-1]}{'.' + key if key else ''}"


def parse_entry(kind: str, entry: Mapping[str, Any], known: Mapping[str, set[str]],
                timezone: ZoneInfo) -> Any:
    """One registry entry of `kind`, validated as in a file; RegistryError if not valid."""
    if kind not in ENTRY_KINDS:
        raise RegistryError(f"unknown registry kind {kind!r} (one of {', '.join(ENTRY_KINDS)})")
    parser = _EntryParser(Path("request"), "", {}, known)
    ids = {k: set(v) for k, v in known.items()}
    if kind == "tariffs":
        return parser.tariff(0, entry, timezone)
    if kind == "accounts":
        return parser.account(0, entry)
    if kind == "programs":
        return parser.program(0, entry, ids)
    if kind == "premises":
        return parser.premise(0, entry, ids)
    if kind == "stations":
        return parser.station(0, entry, ids)
    return parser.pev(0, entry, ids)
