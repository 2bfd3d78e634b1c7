"""Secrets in OCPP payloads are redacted wherever a command or a configuration is kept."""

from __future__ import annotations

import logging

import pytest

from csms_shared.logging import configure_logging
from csms_shared.ocpp.redaction import (
    admin_keys,
    carried_secrets,
    configuration_key_problem,
    needs_admin,
    redact_echo,
    redact_request,
    redact_response,
    secret_keys,
)
from csms_shared.ocpp.url_passwords import REDACTED, redact_url_passwords

SECRETS = secret_keys(["MeterPassword"])


def test_change_configuration_of_a_secret_key_is_redacted_in_any_case() -> None:
    for key in ("AuthorizationKey", "authorizationkey", "MeterPassword", " AuthorizationKey",
                "\tAUTHORIZATIONKEY\n"):  # fmt: skip
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


def test_padded_key_names_are_the_key_they_pad() -> None:
    for key in (" AuthorizationKey", "\tAuthorizationKey", "AUTHORIZATIONKEY ", " SecurityProfile"):
        assert needs_admin("ChangeConfiguration", {"key": key, "value": "x"}, SECRETS)


def test_keys_that_decide_who_charges_or_where_a_cp_connects_need_an_admin() -> None:
    vendor = admin_keys(["AcmeBackendUri"])
    for key in (
        "AllowOfflineTxForUnknownId",
        "localauthorizeoffline",
        "LocalPreAuthorize",
        "AuthorizationCacheEnabled",
        "CentralSystemURL",
        "acmebackenduri",
    ):
        assert needs_admin("ChangeConfiguration", {"key": key, "value": "x"}, SECRETS, vendor)
    assert needs_admin("SendLocalList", {"listVersion": 1, "updateType": "Full"}, SECRETS)
    assert not needs_admin("ChangeConfiguration", {"key": "MeterValueSampleInterval"}, SECRETS)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (" AuthorizationKey", "leading or trailing whitespace"),
        ("AuthorizationKey\t", "leading or trailing whitespace"),
        ("Authorization\x00Key", "control character"),
        ("Authorization\x1bKey", "control character"),
        ("Authorization\x85Key", "control character"),
    ],
)
def test_padded_or_control_key_names_are_refused(key: str, problem: str) -> None:
    found = configuration_key_problem("ChangeConfiguration", {"key": key, "value": "x"})
    assert found is not None and problem in found and found.startswith("key: ")
    listing = configuration_key_problem("GetConfiguration", {"key": ["HeartbeatInterval", key]})
    assert listing is not None and listing.startswith("key.1: ")
    assert configuration_key_problem("ChangeConfiguration", {"key": "Heartbeat Interval"}) is None


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("ftp://user:password@host/", f"ftp://user:{REDACTED}@host/"),
        ("ftp://user:p%40ss@host:21/dir?x=1", f"ftp://user:{REDACTED}@host:21/dir?x=1"),
        ("sftp://u:p@ss@host/x", f"sftp://u:{REDACTED}@host/x"),
        ("ftp://user:pa/ss@host/", f"ftp://user:{REDACTED}@host/"),
        ("see https://a:b@h1/ and ftp://c:d@h2", f"see https://a:{REDACTED}@h1/ and ftp://c:{REDACTED}@h2"),
        ("ftp://user@host/", "ftp://user@host/"),
        ("https://host:8080/path@x", "https://host:8080/path@x"),
        ("https://host/path?mail=a@b", "https://host/path?mail=a@b"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("no url here", "no url here"),
    ],
)  # fmt: skip
def test_url_passwords_are_redacted(url: str, redacted: str) -> None:
    assert redact_url_passwords(url) == redacted


def test_every_url_a_command_carries_loses_its_password() -> None:
    for action, payload, path in [
        ("GetDiagnostics", {"location": "ftp://u:pw123@h/"}, ("location",)),
        ("UpdateFirmware", {"location": "ftp://u:pw123@h/f", "retrieveDate": "x"}, ("location",)),
        ("GetLog", {"logType": "DiagnosticsLog", "requestId": 1,
                    "log": {"remoteLocation": "ftp://u:pw123@h/"}}, ("log", "remoteLocation")),
        ("SignedUpdateFirmware", {"requestId": 1, "firmware": {"location": "https://u:pw123@h/"}},
         ("firmware", "location")),
        ("ChangeConfiguration", {"key": "UploadUrl", "value": "ftp://u:pw123@h/"}, ("value",)),
    ]:  # fmt: skip
        redacted = redact_request(action, payload, SECRETS)
        value: object = redacted
        for step in path:
            assert isinstance(value, dict)
            value = value[step]
        assert isinstance(value, str) and "pw123" not in value and REDACTED in value
        assert carried_secrets(action, payload, SECRETS) == ["pw123"]
    plain = {"type": "Soft"}
    assert redact_request("Reset", plain, SECRETS) is plain


def test_a_cp_echoing_a_secret_in_a_callerror_has_it_redacted() -> None:
    payload = {"key": "AuthorizationKey", "value": "0123456789abcdef"}
    carried = carried_secrets("ChangeConfiguration", payload, SECRETS)
    assert carried == ["0123456789abcdef"]
    description, details = redact_echo(
        ["value 0123456789abcdef too long", {"got": "0123456789abcdef", "n": 3}], carried
    )
    assert description == f"value {REDACTED} too long"
    assert details == {"got": REDACTED, "n": 3}
    answer = {"configurationKey": [{"key": "X", "readonly": True, "value": "ftp://a:b@h/"}]}
    assert redact_response(answer, SECRETS)["configurationKey"][0]["value"] == (
        f"ftp://a:{REDACTED}@h/"
    )


def test_text_logs_escape_line_breaks_a_charge_point_chose(capsys: object) -> None:
    configure_logging("test", "INFO")
    logging.getLogger("t").info("%s connected", "CP1\nERROR forged line\x1b[2J")
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("\n") == 1
    assert "CP1\\x0aERROR forged line\\x1b[2J connected" in err
