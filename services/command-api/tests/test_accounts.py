"""Passwords, tokens and the command forms, without a suite."""

from __future__ import annotations

import re

import pytest
from starlette.datastructures import FormData

from command_api.accounts import tokens
from command_api.accounts.passwords import hash_password, password_problem, verify_password
from command_api.console.forms import FormProblem, command_form, command_forms, parse_command
from command_api.console.live import KEYS
from csms_shared.bus.access import COMMAND_API, GRANTS
from csms_shared.bus.topology import EVENTS


@pytest.mark.parametrize(
    "password",
    ["password1234", "Admin!2026xx", "short", "aaaaaaaaaaaaaaaa", "changeme-now", "x\x00" * 8],
)
def test_weak_passwords_are_refused(password: str) -> None:
    assert password_problem(password, "someone") is not None


def test_a_password_that_is_the_username_is_refused() -> None:
    assert password_problem("operator-smith", "Operator-Smith") == "it is the username"


def test_a_strong_password_passes_and_verifies_with_argon2id() -> None:
    assert password_problem("tulip-harbour-41-quiet") is None
    stored = hash_password("tulip-harbour-41-quiet")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "tulip-harbour-41-quiet") == (True, None)
    assert verify_password(stored, "tulip-harbour-41-quieT")[0] is False
    assert verify_password(None, "anything")[0] is False


def test_tokens_are_typed_signed_and_expire() -> None:
    secret = "s" * 40
    access = tokens.sign(secret, tokens.ACCESS, 60, sub="u1")
    assert tokens.verify(secret, tokens.ACCESS, access)["sub"] == "u1"  # type: ignore[index]
    # A session cookie is no access token, another key's token is nothing, an old one expired.
    assert tokens.verify(secret, tokens.SESSION, access) is None
    assert tokens.verify("t" * 40, tokens.ACCESS, access) is None
    assert tokens.verify(secret, tokens.ACCESS, tokens.sign(secret, tokens.ACCESS, -5)) is None
    assert tokens.verify(secret, tokens.ACCESS, "not.a.token") is None


def test_every_action_has_a_form() -> None:
    forms = command_forms()
    assert len(forms) == 26
    reset = command_form("Reset")
    assert [(f.name, f.kind, f.choices) for f in reset.fields] == [
        ("type", "select", ("Hard", "Soft"))
    ]


def test_a_form_becomes_the_request_or_says_what_is_wrong() -> None:
    request = parse_command(
        "ChangeAvailability", FormData({"connectorId": "1", "type": "Operative"})
    )
    assert request.to_payload() == {"connectorId": 1, "type": "Operative"}
    with pytest.raises(FormProblem, match="connectorId: 'one' is not a integer value"):
        parse_command("ChangeAvailability", FormData({"connectorId": "one", "type": "Operative"}))
    with pytest.raises(FormProblem, match="type is required"):
        parse_command("ChangeAvailability", FormData({"connectorId": "1"}))
    with pytest.raises(FormProblem, match="type"):
        parse_command("ChangeAvailability", FormData({"connectorId": "1", "type": "Sideways"}))
    with pytest.raises(FormProblem, match="chargingProfile"):
        parse_command("RemoteStartTransaction", FormData({"idTag": "A", "chargingProfile": "{"}))


def test_the_broker_lets_command_api_read_every_event_the_console_binds() -> None:
    grant = GRANTS[COMMAND_API]
    _, may_read = grant.topics[EVENTS.name]
    assert re.fullmatch(grant.read, EVENTS.name)
    assert all(re.fullmatch(may_read, key) for key in KEYS)
