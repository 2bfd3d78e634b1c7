"""The rows an OCPP 2.0.1 station's NotifyReport, GetVariables and SetVariables answers make."""

from __future__ import annotations

from datetime import UTC, datetime

from csms_shared.ocpp.redaction import secret_keys
from csms_shared.ocpp.v201.messages.provisioning import (
    GetVariablesResponse,
    NotifyReportRequest,
    SetVariablesRequest,
    SetVariablesResponse,
)
from station_registry.device_model import read_rows, report_rows, set_rows

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SECRETS = secret_keys(["MeterPassword"])


def report(*data: dict[str, object]) -> NotifyReportRequest:
    return NotifyReportRequest.model_validate(
        {"requestId": 1, "generatedAt": "2026-11-25T10:00:00Z", "seqNo": 0, "reportData": data}
    )


def test_each_attribute_of_a_reported_variable_is_a_row_with_its_characteristics() -> None:
    data = {
        "component": {"name": "EVSE", "evse": {"id": 2, "connectorId": 1}},
        "variable": {"name": "Power", "instance": "Max"},
        "variableAttribute": [
            {"value": "22000", "mutability": "ReadOnly"},
            {"type": "MaxSet", "value": "11000", "persistent": True},
        ],
        "variableCharacteristics": {
            "dataType": "decimal",
            "supportsMonitoring": True,
            "unit": "W",
            "maxLimit": 22000,
        },
    }
    rows = report_rows("CS-1", report(data).report_data or [], AT, SECRETS)
    assert [(r["attribute_type"], r["value"]) for r in rows] == [
        ("Actual", "22000"),
        ("MaxSet", "11000"),
    ]
    actual = rows[0]
    assert (actual["component"], actual["evse_id"], actual["connector_id"]) == ("EVSE", 2, 1)
    assert (actual["variable"], actual["variable_instance"]) == ("Power", "Max")
    assert actual["component_instance"] == ""
    assert (actual["data_type"], actual["unit"], actual["max_limit"]) == ("decimal", "W", 22000.0)
    assert actual["mutability"] == "ReadOnly"
    assert actual["min_limit"] is None
    assert rows[1]["persistent"] is True


def test_a_component_without_evse_or_instance_is_keyed_by_zero_and_empty() -> None:
    data = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
        "variableAttribute": [{"value": "300"}],
    }
    (row,) = report_rows("CS-1", report(data).report_data or [], AT, SECRETS)
    assert (row["evse_id"], row["connector_id"], row["variable_instance"]) == (0, 0, "")
    assert row["data_type"] is None  # no characteristics reported
    assert row["updated_at"] == AT


def test_a_secret_variable_is_stored_without_its_value_whatever_its_case() -> None:
    data = {
        "component": {"name": "securityctrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "variableAttribute": [{"value": "s3cret-password-1234", "mutability": "WriteOnly"}],
    }
    (row,) = report_rows("CS-1", report(data).report_data or [], AT, SECRETS)
    assert row["value"] is None
    assert row["mutability"] == "WriteOnly"


def test_a_repeated_attribute_in_one_report_keeps_the_last() -> None:
    item = {"component": {"name": "C"}, "variable": {"name": "V"}}
    rows = report_rows(
        "CS-1",
        report(
            {**item, "variableAttribute": [{"value": "1"}]},
            {**item, "variableAttribute": [{"value": "2"}]},
        ).report_data
        or [],
        AT,
        SECRETS,
    )
    assert [r["value"] for r in rows] == ["2"]


def test_only_accepted_get_variables_results_are_values() -> None:
    answer = GetVariablesResponse.model_validate(
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "60",
                },
                {
                    "attributeStatus": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "Nope"},
                },
            ]
        }
    )
    rows = read_rows("CS-1", answer.get_variable_result, AT, SECRETS)
    assert [(r["variable"], r["value"]) for r in rows] == [("HeartbeatInterval", "60")]
    assert set(rows[0]) >= {"value", "updated_at"} and "mutability" not in rows[0]


def test_set_variables_stores_what_the_station_accepted_or_applies_at_reboot() -> None:
    def var(name: str) -> dict[str, object]:
        return {"component": {"name": "TxCtrlr"}, "variable": {"name": name}}

    request = SetVariablesRequest.model_validate(
        {
            "setVariableData": [
                {**var("EVConnectionTimeOut"), "attributeValue": "120"},
                {**var("StopTxOnInvalidId"), "attributeValue": "true"},
                {**var("TxStartPoint"), "attributeValue": "PowerPathClosed"},
            ]
        }
    )
    answer = SetVariablesResponse.model_validate(
        {
            "setVariableResult": [
                {**var("EVConnectionTimeOut"), "attributeStatus": "Accepted"},
                {**var("StopTxOnInvalidId"), "attributeStatus": "Rejected"},
                {**var("TxStartPoint"), "attributeStatus": "RebootRequired"},
            ]
        }
    )
    rows = set_rows("CS-1", request.set_variable_data, answer.set_variable_result, AT, SECRETS)
    assert {r["variable"]: r["value"] for r in rows} == {
        "EVConnectionTimeOut": "120",
        "TxStartPoint": "PowerPathClosed",
    }


def test_secret_variables_are_kept_without_their_value_configured_ones_too() -> None:
    """Security, fourth pass, item 2: the device model obeys CSMS_SECRET_CONFIGURATION_KEYS."""
    rows = report_rows(
        "CS-1",
        report(
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "variableAttribute": [{"value": "s3cr3t-s3cr3t"}],
            },
            {
                "component": {"name": "Meter"},
                "variable": {"name": "meterPassword"},
                "variableAttribute": [{"value": "1234"}],
            },
            {
                "component": {"name": "Meter"},
                "variable": {"name": "Serial"},
                "variableAttribute": [{"value": "M-1"}],
            },
        ).report_data
        or [],
        AT,
        SECRETS,
    )
    assert [(r["variable"], r["value"]) for r in rows] == [
        ("BasicAuthPassword", None),
        ("meterPassword", None),
        ("Serial", "M-1"),
    ]
