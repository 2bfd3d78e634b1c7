"""OCPP 2.0.1 secrets: variables of the device model and network profiles, redacted where a
command is kept, and the commands that only an admin may send."""

from __future__ import annotations

from typing import Any

import orjson

from csms_shared.ocpp.redaction import (
    VARIABLE_ACTIONS,
    carried_secrets,
    configuration_key_problem,
    needs_admin,
    redact_request,
    redact_response,
    secret_keys,
)
from csms_shared.ocpp.url_passwords import REDACTED
from csms_shared.ocpp.v201.actions import ACTIONS

SECRETS = secret_keys(["MeterPassword"])


def setting(component: str, variable: str, value: str) -> dict[str, Any]:
    return {
        "component": {"name": component},
        "variable": {"name": variable},
        "attributeValue": value,
    }


def test_set_variables_of_the_basic_auth_password_is_redacted_and_needs_an_admin() -> None:
    payload: dict[str, Any] = {
        "setVariableData": [
            setting("SecurityCtrlr", "BasicAuthPassword", "s3cr3t-s3cr3t-s3cr3t"),
            setting("OCPPCommCtrlr", "HeartbeatInterval", "60"),
            setting("Meter", "meterpassword", "1234"),
        ]
    }
    assert redact_request("SetVariables", payload, SECRETS) == {
        "setVariableData": [
            setting("SecurityCtrlr", "BasicAuthPassword", REDACTED),
            setting("OCPPCommCtrlr", "HeartbeatInterval", "60"),
            setting("Meter", "meterpassword", REDACTED),
        ]
    }
    assert carried_secrets("SetVariables", payload, SECRETS) == ["s3cr3t-s3cr3t-s3cr3t", "1234"]
    assert needs_admin("SetVariables", payload, SECRETS)


def test_set_variables_of_plain_variables_is_kept_and_an_operators() -> None:
    payload: dict[str, Any] = {
        "setVariableData": [setting("OCPPCommCtrlr", "HeartbeatInterval", "60")]
    }
    assert redact_request("SetVariables", payload, SECRETS) == payload
    assert carried_secrets("SetVariables", payload, SECRETS) == []
    assert not needs_admin("SetVariables", payload, SECRETS)


def test_variables_that_decide_trust_or_who_charges_need_an_admin() -> None:
    for component, variable in (
        ("SecurityCtrlr", "SecurityProfile"),
        ("securityctrlr", "OrganizationName"),
        ("AuthCtrlr", "LocalPreAuthorize"),
        ("AuthCacheCtrlr", "Enabled"),
        ("OCPPCommCtrlr", "NetworkConfigurationPriority"),
    ):
        payload = {"setVariableData": [setting(component, variable, "x")]}
        assert needs_admin("SetVariables", payload, SECRETS), (component, variable)
    vendor = {"setVariableData": [setting("Vendor", "BackendUrl", "wss://x")]}
    assert needs_admin("SetVariables", vendor, SECRETS, frozenset({"backendurl"}))


def test_network_profiles_lose_their_passwords_and_need_an_admin() -> None:
    payload: dict[str, Any] = {
        "configurationSlot": 1,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": "wss://user:pw@csms.example/ocpp",
            "messageTimeout": 30,
            "securityProfile": 1,
            "ocppInterface": "Wireless0",
            "vpn": {
                "server": "v",
                "user": "u",
                "password": "vpn-pw",
                "key": "vpn-key",
                "type": "IPSec",
            },
            "apn": {
                "apn": "a",
                "apnAuthentication": "CHAP",
                "apnPassword": "apn-pw",
                "simPin": 1234,
            },
        },
    }
    data: Any = redact_request("SetNetworkProfile", payload, SECRETS)["connectionData"]
    assert data["vpn"] == {"server": "v", "user": "u", "password": REDACTED, "key": REDACTED,
                           "type": "IPSec"}  # fmt: skip
    assert data["apn"]["apnPassword"] == data["apn"]["simPin"] == REDACTED
    assert data["ocppCsmsUrl"] == f"wss://user:{REDACTED}@csms.example/ocpp"
    assert set(carried_secrets("SetNetworkProfile", payload, SECRETS)) == {
        "vpn-pw", "vpn-key", "apn-pw", "1234", "pw"}  # fmt: skip
    assert needs_admin("SetNetworkProfile", payload, SECRETS)


def test_get_variables_answers_lose_secret_values_only() -> None:
    answer = {
        "getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "s3cr3t",
             "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
            {"attributeStatus": "Accepted", "attributeValue": "60",
             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        ]
    }  # fmt: skip
    shown = redact_response(answer, SECRETS)
    assert [r["attributeValue"] for r in shown["getVariableResult"]] == [REDACTED, "60"]


def test_padded_variable_names_are_refused() -> None:
    payload: dict[str, Any] = {
        "setVariableData": [setting("SecurityCtrlr", " BasicAuthPassword", "x")]
    }
    assert configuration_key_problem("SetVariables", payload) == (
        "setVariableData.0.variable.name: ' BasicAuthPassword' has leading or trailing whitespace"
    )
    asked = {"getVariableData": [{"component": {"name": "Ctrlr\n"}, "variable": {"name": "X"}}]}
    assert configuration_key_problem("GetVariables", asked) == (
        "getVariableData.0.component.name: 'Ctrlr\\n' has leading or trailing whitespace"
    )
    plain = {"getVariableData": [{"component": {"name": "Ctrlr"}, "variable": {"name": "X"}}]}
    assert configuration_key_problem("GetVariables", plain) is None


def test_a_reported_secret_is_redacted_in_notify_report() -> None:
    report: dict[str, Any] = {
        "requestId": 1,
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "variableAttribute": [{"type": "Actual", "value": "s3cr3t"}, {"type": "Target"}],
            },
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [{"type": "Actual", "value": "300"}],
            },
        ],
    }
    shown: Any = redact_request("NotifyReport", report, SECRETS)
    assert shown["reportData"][0]["variableAttribute"] == [
        {"type": "Actual", "value": REDACTED},
        {"type": "Target"},
    ]
    assert shown["reportData"][1] == report["reportData"][1]


# -- security, fourth pass, item 2: one rule for every message that names a variable ---------

PASSWORD = "s3cr3t-basic-auth-pw"


def test_a_notify_event_loses_a_secret_variables_value_and_every_repetition_of_it() -> None:
    event: dict[str, Any] = {
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": "2026-01-01T00:00:00Z",
                "trigger": "Delta",
                "actualValue": PASSWORD,
                "techInfo": f"changed to {PASSWORD}",
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "customData": {"vendorId": "acme", "raw": PASSWORD},
            },
            {
                "eventId": 2,
                "timestamp": "2026-01-01T00:00:00Z",
                "trigger": "Alerting",
                "actualValue": "Faulted",
                # Another entry (or a vendor's field) that repeats the password.
                "techInfo": f"after {PASSWORD} was set",
                "eventNotificationType": "HardWiredMonitor",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"},
            },
        ],
    }
    shown: Any = redact_request("NotifyEvent", event, SECRETS)
    assert PASSWORD not in str(shown)
    first, second = shown["eventData"]
    assert first["actualValue"] == first["techInfo"] == REDACTED
    assert first["customData"] == {"vendorId": "acme", "raw": REDACTED}
    assert first["trigger"] == "Delta" and first["timestamp"] == "2026-01-01T00:00:00Z"
    assert second["actualValue"] == "Faulted"
    assert second["techInfo"] == f"after {REDACTED} was set"
    assert event["eventData"][0]["actualValue"] == PASSWORD  # the frame itself is untouched


def test_a_configured_secret_key_is_a_secret_variable_in_every_message() -> None:
    monitors: dict[str, Any] = {
        "requestId": 1,
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": 0,
        "monitor": [
            {
                "component": {"name": "Meter"},
                "variable": {"name": "MeterPassword"},
                "variableMonitoring": [
                    {"id": 1, "transaction": False, "value": 1234.0, "type": "Delta",
                     "severity": 5}
                ],
            }
        ],
    }  # fmt: skip
    shown: Any = redact_request("NotifyMonitoringReport", monitors, SECRETS)
    assert shown["monitor"][0]["variableMonitoring"][0]["value"] == REDACTED
    answer = {
        "getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "meter-pw-1",
             "component": {"name": "Meter"}, "variable": {"name": "meterpassword"},
             "attributeStatusInfo": {"reasonCode": "x", "additionalInfo": "was meter-pw-1"}},
        ]
    }  # fmt: skip
    read: Any = redact_response(answer, SECRETS, action="GetVariables")
    assert "meter-pw-1" not in str(read)
    # Without the deployment's key, the same variable is an ordinary one.
    assert redact_response(answer, secret_keys([]), action="GetVariables") == answer


def test_short_values_are_redacted_where_they_stand_but_not_hunted_elsewhere() -> None:
    event: dict[str, Any] = {
        "eventData": [
            {"eventId": 1, "timestamp": "2026-01-01T00:00:00Z", "trigger": "Delta",
             "actualValue": "0", "eventNotificationType": "HardWiredNotification",
             "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
        ]
    }  # fmt: skip
    shown: Any = redact_request("NotifyEvent", event, SECRETS)
    assert shown["eventData"][0]["actualValue"] == REDACTED
    assert shown["eventData"][0]["timestamp"] == "2026-01-01T00:00:00Z"


def test_the_actions_walked_are_every_201_message_that_names_a_variable() -> None:
    naming = {
        name
        for name, spec in ACTIONS.items()
        for model in (spec.request, spec.response)
        if b'"variable"' in orjson.dumps(model.model_json_schema())
    }
    assert naming == VARIABLE_ACTIONS
