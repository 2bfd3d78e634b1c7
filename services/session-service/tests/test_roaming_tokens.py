"""What a token an eMSP pushed earns, as a list entry in our terms."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from csms_shared.vocabulary import AuthorizationDecision as D
from session_service.auth import IdTagRecord, token_source
from session_service.roaming_tokens import decision, record


@pytest.mark.parametrize(
    ("valid", "whitelist", "earned"),
    [
        (True, "ALWAYS", D.ACCEPTED),
        (True, "ALLOWED", D.ACCEPTED),
        (True, "ALLOWED_OFFLINE", D.ACCEPTED),
        (True, "NEVER", D.UNKNOWN),
        (False, "ALWAYS", D.INVALID),
        (False, "NEVER", D.INVALID),
    ],
)
def test_a_roaming_token_earns_by_validity_and_whitelist(
    valid: bool, whitelist: str, earned: D
) -> None:
    assert decision(valid, whitelist) is earned


def row(**fields: object) -> SimpleNamespace:
    return SimpleNamespace(
        **(
            {
                "uid": "04A1B2",
                "type": "RFID",
                "valid": True,
                "whitelist": "ALWAYS",
                "country_code": "NL",
                "party_id": "EMS",
            }
            | fields
        )
    )


def test_an_rfid_token_is_an_iso14443_entry_and_an_app_token_a_central_one() -> None:
    rfid = record(row())
    assert rfid is not None
    assert (rfid.id_tag, rfid.status, rfid.type, rfid.parent_id_tag, rfid.roaming_party) == (
        "04A1B2",
        D.ACCEPTED,
        "ISO14443",
        None,
        "NL-EMS",
    )
    app = record(row(type="APP_USER"))
    assert app is not None and app.type == "Central"
    blocked = record(row(valid=False))
    assert blocked is not None and blocked.status is D.INVALID


def test_a_token_that_needs_real_time_authorization_is_no_entry_yet() -> None:
    assert record(row(whitelist="NEVER")) is None


def test_a_decision_says_where_its_entry_came_from() -> None:
    listed = IdTagRecord(id_tag="CARD", status=D.ACCEPTED)
    assert token_source(listed) == ("list", None)
    assert token_source(record(row())) == ("roaming", "NL-EMS")
    assert token_source(None) == ("none", None)
