"""The fast validator (jsonschema-rs) agrees with the `ocpp` package's (jsonschema) on a
corpus of valid and invalid messages of each OCPP version, and the CALLERRORs are the
package's own."""

import copy
import json

import ocpp.messages
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, _validate_payload, get_validator

from shared.validation import _compiled, validate

AT = "2026-11-23T04:00:00Z"
SAMPLE = {"value": 1000, "context": "Sample.Periodic", "measurand":
          "Energy.Active.Import.Register", "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}}
VALID = [
    (2, "BootNotification", {"chargingStation": {"model": "m", "vendorName": "v"},
                             "reason": "PowerUp"}),
    (2, "Heartbeat", {}),
    (2, "StatusNotification", {"timestamp": AT, "connectorStatus": "Occupied", "evseId": 1,
                               "connectorId": 1}),
    (2, "Authorize", {"idToken": {"idToken": "PEV-0001", "type": "Central",
                                  "additionalInfo": [{"additionalIdToken": "5YJ3E1EA7KF0",
                                                      "type": "VIN"}]}}),
    (2, "TransactionEvent", {
        "eventType": "Started", "timestamp": AT, "triggerReason": "CablePluggedIn",
        "seqNo": 0, "offline": False, "transactionInfo": {"transactionId": "tx-1",
                                                          "chargingState": "EVConnected"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "PEV-0001", "type": "Central"},
        "meterValue": [{"timestamp": AT, "sampledValue": [SAMPLE]}]}),
    (2, "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
        "requestedEnergyTransfer": "AC_single_phase", "departureTime": AT,
        "acChargingParameters": {"energyAmount": 20000, "evMinCurrent": 6,
                                 "evMaxCurrent": 32, "evMaxVoltage": 230}}}),
    (3, "TransactionEvent", {"totalCost": 1.55, "idTokenInfo": {
        "status": "Accepted", "personalMessage": {"format": "UTF8", "content": "hi"}}}),
    (3, "BootNotification", {"currentTime": AT, "interval": 300, "status": "Accepted"}),
    (3, "NotifyEVChargingNeeds", {"status": "Accepted", "customData": {
        "vendorId": "pev-grid", "energyAvailableWh": 12000}}),
]
# OCPP 1.6J: the whole transaction, and the schedules whose decimals the package
# validates as Decimal (multipleOf 0.1)
VALID_16 = [
    (2, "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}),
    (2, "Authorize", {"idTag": "PEV-0001"}),
    (2, "StartTransaction", {"connectorId": 1, "idTag": "PEV-0001", "meterStart": 1000,
                             "timestamp": AT}),
    (2, "MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [
        {"timestamp": AT, "sampledValue": [{"value": "1.5", "unit": "kWh",
                                            "measurand": "Energy.Active.Import.Register",
                                            "context": "Sample.Periodic"}]}]}),
    (2, "StopTransaction", {"transactionId": 7, "meterStop": 2500, "timestamp": AT,
                            "reason": "EVDisconnected"}),
    (2, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 7, "transactionId": 7, "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": AT,
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}}}),
    (3, "StartTransaction", {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}),
    (3, "DataTransfer", {"status": "Accepted", "data": "{}"}),
]
VERSIONED = [("2.0.1", *entry) for entry in VALID] + [("1.6", *entry) for entry in VALID_16]
ODD_VALUES = [None, "", "x" * 600, -1, 1.5, True, [], {}, "2026-11-23", 2**40]


def paths(value, prefix=()):
    """Every key path and list index inside a payload."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


def mutations(payload):
    """Each field removed, replaced by odd values, and an unknown field added."""
    for path in paths(payload):
        *parent_path, last = path
        for replacement in [*ODD_VALUES, "remove"]:
            mutated = copy.deepcopy(payload)
            parent = mutated
            for step in parent_path:
                parent = parent[step]
            if replacement == "remove":
                del parent[last]
            else:
                parent[last] = replacement
            yield mutated
    yield {**payload, "unknownField": 1}


def message(kind, action, payload):
    return Call("m1", action, payload) if kind == 2 else CallResult("m1", payload, action)


def package_error(version, kind, action, payload):
    try:
        _validate_payload(message(kind, action, payload), version)
    except OCPPError as error:
        return type(error), error.code
    return None


def our_error(version, kind, action, payload):
    try:
        validate(message(kind, action, payload), version)
    except OCPPError as error:
        return type(error), error.code
    return None


CORPUS = [(version, kind, action, mutated) for version, kind, action, payload in VERSIONED
          for mutated in [payload, *mutations(payload)]]


def test_the_corpus_has_both_valid_and_invalid_messages():
    verdicts = [package_error(*entry) is None for entry in CORPUS]
    assert len(CORPUS) > 500 and sum(verdicts) > 50 and verdicts.count(False) > 400


@pytest.mark.parametrize(("version", "kind", "action", "payload"), CORPUS,
                         ids=lambda value: json.dumps(value)[:40] if isinstance(value, dict)
                         else str(value))
def test_both_validators_agree_and_the_callerror_is_the_packages(version, kind, action,
                                                                 payload):
    assert our_error(version, kind, action, payload) == \
        package_error(version, kind, action, payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=3), max_leaves=10)


@settings(max_examples=300)
@given(entry=st.sampled_from(VALID), key=st.text(max_size=20), value=json_values)
def test_random_fields_get_the_same_verdict(entry, key, value):
    kind, action, payload = entry
    for candidate in ({**payload, key: value}, {key: value}, value):
        reference = get_validator(kind, action, "2.0.1")
        assert _compiled(kind, action, "2.0.1").is_valid(candidate) == \
            reference.is_valid(candidate)


def test_an_action_without_a_schema_is_the_packages_not_implemented():
    for version in ("1.6", "2.0.1", "2.1"):
        assert our_error(version, 2, "FlyToTheMoon", {}) == \
            package_error(version, 2, "FlyToTheMoon", {})


def test_a_16_schedule_in_tenths_of_an_ampere_is_valid_to_us_and_then_to_the_package():
    """The package checks 1.6 schedules with Decimals through a validator it caches per
    action: checking ours first must not leave it a float one (a TypeError, not a verdict,
    for the next 1.6 charger's SetChargingProfile in the process)."""
    payload = {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A", "startSchedule": AT,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 31.3}]}}}
    _compiled.cache_clear()
    ocpp.messages._validators.clear()  # as in a process that has checked none yet
    validate(Call("m1", "SetChargingProfile", copy.deepcopy(payload)), "1.6")
    _validate_payload(Call("m2", "SetChargingProfile", payload), "1.6")
