"""OCPP-J framing: every frame shape, and the CALLERROR each bad one deserves."""

from __future__ import annotations

import orjson
import pytest

from csms_shared.ocpp.errors import ErrorCode, parse_error_code
from csms_shared.ocpp.framing import (
    Call,
    CallError,
    CallResult,
    FrameError,
    parse_frame,
    validate_payload,
)
from csms_shared.ocpp.v16.messages import BootNotificationRequest, StatusNotificationRequest
from csms_shared.ocpp.version import OcppVersion


def test_call_round_trip() -> None:
    frame = parse_frame('[2, "19223201", "BootNotification", {"chargePointVendor": "V"}]')
    assert frame == Call("19223201", "BootNotification", {"chargePointVendor": "V"})
    assert orjson.loads(frame.to_json()) == [
        2,
        "19223201",
        "BootNotification",
        {"chargePointVendor": "V"},
    ]


def test_call_result_and_error() -> None:
    assert parse_frame('[3, "a", {"status": "Accepted"}]') == CallResult(
        "a", {"status": "Accepted"}
    )
    error = parse_frame('[4, "a", "GenericError", "boom", {"x": 1}]')
    assert error == CallError("a", ErrorCode.GENERIC_ERROR, "boom", {"x": 1})
    assert orjson.loads(error.to_json(OcppVersion.V16)) == [
        4,
        "a",
        "GenericError",
        "boom",
        {"x": 1},
    ]


def test_ocpp20_error_spellings_are_understood() -> None:
    assert (
        parse_frame('[4, "a", "FormatViolation", "", {}]').error_code
        is ErrorCode.FORMATION_VIOLATION
    )
    assert (
        parse_error_code("OccurrenceConstraintViolation")
        is ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
    )
    assert parse_error_code("VendorSpecific") == "VendorSpecific"


@pytest.mark.parametrize(
    ("code", "v16", "v201"),
    [
        (ErrorCode.FORMATION_VIOLATION, "FormationViolation", "FormatViolation"),
        (
            ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
        ),
        (ErrorCode.RPC_FRAMEWORK_ERROR, "FormationViolation", "RpcFrameworkError"),
        (ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "ProtocolError", "MessageTypeNotSupported"),
        (ErrorCode.NOT_IMPLEMENTED, "NotImplemented", "NotImplemented"),
        ("VendorSpecific", "VendorSpecific", "VendorSpecific"),
    ],
)
def test_each_version_spells_a_code_its_own_way(code: ErrorCode | str, v16: str, v201: str) -> None:
    error = CallError("a", code, "why")
    assert orjson.loads(error.to_json(OcppVersion.V16))[2] == v16
    assert orjson.loads(error.to_json(OcppVersion.V16))[2] == v16
    assert orjson.loads(error.to_json(OcppVersion.V201))[2] == v201
    # What 2.0.1 renamed reads back as the one name used inside.
    assert parse_error_code(v201) == code


def test_call_error_without_details_is_accepted() -> None:
    assert parse_frame('[4, "a", "InternalError", "x"]') == CallError(
        "a", ErrorCode.INTERNAL_ERROR, "x", {}
    )


@pytest.mark.parametrize(
    ("raw", "code", "message_id"),
    [
        ("nope", ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        (b"\xff\xfe", ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('{"a": 1}', ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[2, 5, "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[2, ""  , "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[9, "x", "Heartbeat", {}]', ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "x"),
        ('["2", "x", "Heartbeat", {}]', ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "x"),
        ('[2, "x", "Heartbeat"]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2, "x", "Heartbeat", {}, 1]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2, "x", 7, {}]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2, "x", "Heartbeat", []]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[3, "x", []]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[4, "x", 1, "d", {}]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[4, "x", "GenericError", "d", []]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2, "' + "i" * 37 + '", "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "i" * 36),
    ],
)
def test_bad_frames(raw: str | bytes, code: ErrorCode, message_id: str) -> None:
    with pytest.raises(FrameError) as exc:
        parse_frame(raw)
    assert exc.value.code is code
    assert exc.value.message_id == message_id


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"chargePointModel": "M"}, ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION),
        ({"chargePointVendor": 5, "chargePointModel": "M"}, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
        (
            {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
        ),
        (
            {"chargePointVendor": "V", "chargePointModel": "M", "x": 1},
            ErrorCode.FORMATION_VIOLATION,
        ),
    ],
)
def test_payload_violations_map_to_spec_codes(payload: dict[str, object], code: ErrorCode) -> None:
    with pytest.raises(Exception) as exc:
        validate_payload(BootNotificationRequest, payload)
    assert exc.value.code is code  # type: ignore[attr-defined]
    assert exc.value.description  # type: ignore[attr-defined]


def test_integer_as_string_is_a_type_violation() -> None:
    with pytest.raises(Exception) as exc:
        validate_payload(
            StatusNotificationRequest,
            {"connectorId": "1", "errorCode": "NoError", "status": "Available"},
        )
    assert exc.value.code is ErrorCode.TYPE_CONSTRAINT_VIOLATION  # type: ignore[attr-defined]


def test_bad_enum_is_a_property_violation() -> None:
    with pytest.raises(Exception) as exc:
        validate_payload(
            StatusNotificationRequest,
            {"connectorId": 1, "errorCode": "NoError", "status": "Asleep"},
        )
    assert exc.value.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION  # type: ignore[attr-defined]


def test_a_frame_nested_deeper_than_any_ocpp_message_is_a_formation_violation() -> None:
    deep = '{"a":' * 1000 + '"\\u0000"' + "}" * 1000
    with pytest.raises(FrameError) as exc:
        parse_frame(f'[2,"m1","DataTransfer",{{"vendorId":"x","data":{deep}}}]')
    assert exc.value.code == "FormationViolation" and exc.value.message_id == "m1"
    # Nesting up to the limit is fine, and a wide frame is not a deep one.
    ok = '{"a":' * 30 + "1" + "}" * 30
    assert parse_frame(f'[2,"m2","DataTransfer",{{"vendorId":"x","data":{ok}}}]')
    wide = ",".join(["{}"] * 500)
    assert parse_frame(f'[3,"m3",{{"x":[{wide}]}}]')
