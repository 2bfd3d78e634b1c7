"""Passwords, tokens and the command forms, without a suite."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from starlette.datastructures import FormData

from command_api.accounts import tokens
from command_api.accounts.limiter import LoginLimits
from command_api.accounts.passwords import (
    PasswordWork,
    hash_password,
    password_problem,
    verify_password,
)
from command_api.console.forms import FormProblem, command_form, command_forms, parse_command
from command_api.console.live import KEYS
from csms_shared.bus.access import COMMAND_API, GRANTS
from csms_shared.bus.topology import EVENTS
from csms_shared.ocpp.version import OcppVersion


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
    claims = tokens.verify(secret, tokens.ACCESS, access)
    assert claims is not None and claims.sub == "u1"
    # A session cookie is no access token, another key's token is nothing, an old one expired.
    assert tokens.verify(secret, tokens.SESSION, access) is None
    assert tokens.verify("t" * 40, tokens.ACCESS, access) is None
    assert tokens.verify(secret, tokens.ACCESS, tokens.sign(secret, tokens.ACCESS, -5)) is None
    assert tokens.verify(secret, tokens.ACCESS, "not.a.token") is None


V16 = OcppVersion.V16


def test_every_action_has_a_form() -> None:
    forms = command_forms(OcppVersion.V16)
    assert len(forms) == 26
    reset = command_form("Reset", OcppVersion.V16)
    assert [(f.name, f.kind, f.choices) for f in reset.fields] == [
        ("type", "select", ("Hard", "Soft"))
    ]


def test_a_form_becomes_the_request_or_says_what_is_wrong() -> None:
    request = parse_command(
        "ChangeAvailability", FormData({"connectorId": "1", "type": "Operative"}), V16
    )
    assert request.to_payload() == {"connectorId": 1, "type": "Operative"}
    with pytest.raises(FormProblem, match="connectorId: 'one' is not a integer value"):
        parse_command(
            "ChangeAvailability", FormData({"connectorId": "one", "type": "Operative"}), V16
        )
    with pytest.raises(FormProblem, match="type is required"):
        parse_command("ChangeAvailability", FormData({"connectorId": "1"}), V16)
    with pytest.raises(FormProblem, match="type"):
        parse_command("ChangeAvailability", FormData({"connectorId": "1", "type": "Sideways"}), V16)
    with pytest.raises(FormProblem, match="chargingProfile"):
        parse_command(
            "RemoteStartTransaction", FormData({"idTag": "A", "chargingProfile": "{"}), V16
        )


def test_the_broker_lets_command_api_read_every_event_the_console_binds() -> None:
    grant = GRANTS[COMMAND_API]
    _, may_read = grant.topics[EVENTS.name]
    assert re.fullmatch(grant.read, EVENTS.name)
    assert all(re.fullmatch(may_read, key) for key in KEYS)


def test_a_username_that_failed_often_is_slowed_down_not_locked_out() -> None:
    limits = LoginLimits(
        per_user_and_address=5,
        per_address=20,
        window=timedelta(minutes=15),
        slow_after=5,
        delay=1.0,
        max_delay=30.0,
    )
    assert [limits.delay_for(n) for n in (0, 4, 5, 6, 7, 9, 10, 1000)] == [
        0.0, 0.0, 1.0, 2.0, 4.0, 16.0, 30.0, 30.0
    ]  # fmt: skip


async def test_password_checks_past_the_cap_are_refused_at_once() -> None:
    work = PasswordWork(threads=1, waiting=1)
    stored = hash_password("tulip-harbour-41-quiet")
    try:
        checks = [asyncio.ensure_future(work.verify(stored, f"guess-{n}")) for n in range(5)]
        results = await asyncio.gather(*checks, return_exceptions=True)
        # One runs, one waits for it; the other three are refused without a verification.
        assert [type(r).__name__ for r in results] == ["tuple", "tuple", "Busy", "Busy", "Busy"]
        assert await work.verify(stored, "tulip-harbour-41-quiet") == (True, None)
    finally:
        work.close()
