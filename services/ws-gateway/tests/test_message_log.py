"""The gateway's side of the message log: what a record holds, redaction, levels, drops."""

from __future__ import annotations

import orjson
from prometheus_client import REGISTRY

from csms_shared.bus.message_log import (
    FIELDS,
    ConnectedDetails,
    MessageLogLevel,
    RecordKind,
    encode_records,
)
from csms_shared.ocpp.framing import Call, CallError, CallResult
from csms_shared.ocpp.version import OcppVersion
from ws_gateway.message_log import MessageLog
from ws_gateway.settings import Settings

SECRET = "0123456789abcdef-secret"
V16 = OcppVersion.V16


def sized(size: int) -> str:
    """A frame's text of `size` characters, for calls whose text the test does not read."""
    return " " * size


def make(**settings: object) -> MessageLog:
    return MessageLog(Settings(**settings), "gw-1")  # type: ignore[arg-type]


def fields(log: MessageLog) -> list[dict[str, object]]:
    return [dict(zip(FIELDS, r, strict=True)) for r in log.pending()]


def test_a_call_and_its_answer_are_recorded_with_directions_and_the_calls_action() -> None:
    log = make()
    call = Call("m1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})
    log.frame_in("CP-1", "c1", call, sized(80), None)
    log.frame_out(
        "CP-1", "c1", CallResult("m1", {"status": "Accepted"}), sized(40), "BootNotification"
    )
    log.frame_out("CP-1", "c1", CallError("m2", "FormationViolation", "bad", {}), sized(50), None)
    records = fields(log)
    assert [(r["dir"], r["mt"], r["id"], r["action"]) for r in records] == [
        ("in", 2, "m1", "BootNotification"),
        ("out", 3, "m1", "BootNotification"),
        ("out", 4, "m2", None),
    ]
    assert records[0]["payload"] == call.payload and records[0]["size"] == 80
    assert records[2]["payload"] == ["FormationViolation", "bad", {}]
    assert {r["conn"] for r in records} == {"c1"} and {r["kind"] for r in records} == {"frame"}


def test_secrets_are_redacted_before_the_record_is_kept() -> None:
    log = make(secret_configuration_keys=["MeterPin"])
    change = Call("m1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET})
    other = Call("m2", "ChangeConfiguration", {"key": "meterpin", "value": SECRET})
    listing = CallResult(
        "m3",
        {
            "configurationKey": [
                {"key": "AuthorizationKey", "readonly": False, "value": SECRET},
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            ]
        },
    )
    log.frame_out("CP-1", "c1", change, sized(90), None)
    log.frame_out("CP-1", "c1", other, sized(90), None)
    log.frame_in("CP-1", "c1", listing, sized(200), "GetConfiguration")
    log.malformed("CP-1", "c1", f'[3, "m4", {{"authorizationKey": "{SECRET}"')
    log.malformed("CP-1", "c1", "x" * 10_000)
    records = fields(log)
    assert SECRET not in orjson.dumps(records).decode()
    assert records[0]["payload"] == {"key": "AuthorizationKey", "value": "<redacted>"}
    assert records[2]["payload"]["configurationKey"][1]["value"] == "300"  # type: ignore[index]
    assert records[3]["kind"] == RecordKind.MALFORMED and records[3]["size"] > 0
    assert len(str(records[4]["raw"])) == 4096  # GATEWAY_MESSAGE_LOG_RAW_MAX_BYTES


def test_levels_keep_all_all_but_heartbeat_or_nothing() -> None:
    log = make(message_log_level="all-but-heartbeat")
    log.overrides["CP-OFF"] = MessageLogLevel.OFF
    log.overrides["CP-ALL"] = MessageLogLevel.ALL
    for cp in ("CP-1", "CP-OFF", "CP-ALL"):
        log.frame_in(cp, "c", Call("h", "Heartbeat", {}), sized(20), None)
        log.frame_out(cp, "c", CallResult("h", {"currentTime": "x"}), sized(20), "Heartbeat")
        log.frame_in(cp, "c", Call("s", "StatusNotification", {}), sized(20), None)
        connected = ConnectedDetails(
            address="a", subprotocol="ocpp1.6", securityProfile=0, gateway="gw-1"
        )
        log.event(cp, RecordKind.CONNECTED, connected, "c")
    kept = [(r["cp"], r["action"], r["kind"]) for r in fields(log)]
    assert kept == [
        ("CP-1", "StatusNotification", "frame"),
        ("CP-1", None, "connected"),
        ("CP-ALL", "Heartbeat", "frame"),
        ("CP-ALL", "Heartbeat", "frame"),
        ("CP-ALL", "StatusNotification", "frame"),
        ("CP-ALL", None, "connected"),
    ]


def _dropped() -> float:
    value = REGISTRY.get_sample_value(
        "csms_gateway_message_log_dropped_total", {"reason": "buffer_full"}
    )
    return value or 0.0


def test_a_full_buffer_drops_and_counts_what_does_not_fit() -> None:
    log = make(message_log_buffer=2)
    before = _dropped()
    for n in range(5):
        log.frame_in("CP-1", "c", Call(f"h{n}", "Heartbeat", {}), sized(20), None)
    assert [r["id"] for r in fields(log)] == ["h0", "h1"]
    assert _dropped() - before == 3


def test_a_payload_json_cannot_hold_stays_as_text_and_the_rest_of_the_bundle_goes() -> None:
    log = make()
    log.frame_in(
        "CP-1", "c", Call("m1", "DataTransfer", {"vendorId": "v", "data": 2**70}), sized(9), None
    )
    log.frame_in("CP-1", "c", Call("m2", "Heartbeat", {}), sized(9), None)
    body = orjson.loads(encode_records("gw-1", log.pending()))
    assert body["gateway"] == "gw-1"
    first, second = body["records"]
    assert first["payload"] is None and str(2**70) in first["raw"]
    assert second["payload"] == {}


def test_url_passwords_and_echoed_secrets_are_redacted_in_every_direction() -> None:
    log = make()
    upload = Call("m1", "GetDiagnostics", {"location": f"ftp://diag:{SECRET}@files.example/"})
    change = Call("m2", "ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET})
    echo = CallError("m2", "PropertyConstraintViolation", f"bad value {SECRET}", {"v": SECRET})
    data = Call("m3", "DataTransfer", {"vendorId": "v", "data": f"sftp://u:{SECRET}@h/x"})
    log.frame_out("CP-1", "c1", upload, upload.to_json(), None)
    log.frame_out("CP-1", "c1", change, change.to_json(), None)
    log.frame_in("CP-1", "c1", echo, echo.to_json(V16), "ChangeConfiguration", [SECRET])
    log.frame_in("CP-1", "c1", data, data.to_json(), None)
    log.malformed("CP-1", "c1", f'[2, "m4", "X", {{"url": "ftp://a:{SECRET}@h"')
    records = fields(log)
    assert SECRET not in orjson.dumps(records).decode()
    assert records[0]["payload"] == {"location": "ftp://diag:<redacted>@files.example/"}
    assert records[2]["payload"] == [
        "PropertyConstraintViolation",
        "bad value <redacted>",
        {"v": "<redacted>"},
    ]
    assert "ftp://a:<redacted>@h" in str(records[4]["raw"])


def test_a_secret_echoed_in_an_answer_is_redacted_at_any_depth() -> None:
    """Security, fourth pass, item 1: a station repeats its new key in a schema-valid answer."""
    log = make()
    setting = {
        "attributeValue": SECRET,
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
    }
    answer = CallResult(
        "m1",
        {
            "setVariableResult": [
                {
                    **{k: v for k, v in setting.items() if k != "attributeValue"},
                    "attributeStatus": "Accepted",
                    "attributeStatusInfo": {"reasonCode": "OK", "additionalInfo": f"is {SECRET}"},
                    "customData": {"vendorId": "acme", SECRET: [SECRET]},
                }
            ]
        },
    )
    log.frame_in("CP-1", "c1", answer, answer.to_json(), "SetVariables", [SECRET])
    record = fields(log)[0]
    assert SECRET not in orjson.dumps(record).decode()
    result = record["payload"]["setVariableResult"][0]  # type: ignore[index]
    assert result["attributeStatusInfo"]["additionalInfo"] == "is <redacted>"
    assert result["attributeStatus"] == "Accepted"


def test_a_malformed_frame_naming_the_basic_auth_password_is_hidden() -> None:
    log = make()
    log.malformed("CP-1", "c1", f'[2, "m4", "NotifyEvent", {{"BasicAuthPassword": "{SECRET}"')
    assert SECRET not in str(fields(log)[0]["raw"])
