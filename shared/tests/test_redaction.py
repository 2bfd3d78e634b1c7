"""Secrets in OCPP payloads are redacted wherever a command or a configuration is kept."""

from __future__ import annotations

import logging

from csms_shared.logging import configure_logging
from csms_shared.ocpp.redaction import (
    REDACTED,
    needs_admin,
    redact_request,
    redact_response,
    secret_keys,
)

SECRETS = secret_keys(["MeterPassword"])


def test_change_configuration_of_a_secret_key_is_redacted_in_any_case() -> None:
    for key in ("AuthorizationKey", "authorizationkey", "MeterPassword"):
        payload = {"key": key, "value": "s3cr3t-s3cr3t-s3cr3t"}
        assert redact_request("ChangeConfiguration", payload, SECRETS) == {
            "key": key,
            "value": REDACTED,
        }
    plain = {"key": "HeartbeatInterval", "value": "60"}
    assert redact_request("ChangeConfiguration", plain, SECRETS) is plain


def test_get_configuration_answers_lose_secret_values_only() -> None:
    answer = {
        "configurationKey": [
            {"key": "AuthorizationKey", "readonly": False, "value": "s3cr3t"},
            {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
            {"key": "MeterPassword", "readonly": True},
        ],
        "unknownKey": ["X"],
    }
    assert redact_response(answer, SECRETS) == {
        "configurationKey": [
            {"key": "AuthorizationKey", "readonly": False, "value": REDACTED},
            {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
            {"key": "MeterPassword", "readonly": True},
        ],
        "unknownKey": ["X"],
    }
    assert redact_response({"status": "Accepted"}, SECRETS) == {"status": "Accepted"}


def test_security_commands_need_an_admin() -> None:
    assert needs_admin("InstallCertificate", {}, SECRETS)
    assert needs_admin("UpdateFirmware", {}, SECRETS)
    assert needs_admin("ChangeConfiguration", {"key": "securityprofile", "value": "2"}, SECRETS)
    assert needs_admin("ChangeConfiguration", {"key": "MeterPassword", "value": "x"}, SECRETS)
    assert not needs_admin("ChangeConfiguration", {"key": "HeartbeatInterval"}, SECRETS)
    assert not needs_admin("Reset", {"type": "Soft"}, SECRETS)


def test_text_logs_escape_line_breaks_a_charge_point_chose(capsys: object) -> None:
    configure_logging("test", "INFO")
    logging.getLogger("t").info("%s connected", "CP1\nERROR forged line\x1b[2J")
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("\n") == 1
    assert "CP1\\x0aERROR forged line\\x1b[2J connected" in err
