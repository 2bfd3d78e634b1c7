"""Account settings: the bootstrap password, the console cookies' Secure flag, trusted proxies,
and the client address the failed-login limit counts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from command_api.api.tokens import client_address
from command_api.settings import Settings


@pytest.fixture(autouse=True)
def _no_account_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "API_ADMIN_PASSWORD",
        "CSMS_ADMIN_PASSWORD",
        "API_COOKIE_SECURE",
        "API_FORWARDED_ALLOW_IPS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("password", ["changeme", "Password1234", "admin", "short-pw-1"])
@pytest.mark.parametrize("variable", ["CSMS_ADMIN_PASSWORD", "API_ADMIN_PASSWORD"])
def test_a_weak_or_placeholder_admin_password_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, password: str
) -> None:
    monkeypatch.setenv(variable, password)
    with pytest.raises(ValidationError) as refused:
        Settings()
    (error,) = refused.value.errors()
    assert "CSMS_ADMIN_PASSWORD (or API_ADMIN_PASSWORD) is refused" in error["msg"]
    assert password not in error["msg"]


def test_a_strong_admin_password_or_none_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().admin_password is None
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "")
    assert Settings().admin_password is None
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "tulip-harbour-41-quiet")
    password = Settings().admin_password
    assert password is not None and password.get_secret_value() == "tulip-harbour-41-quiet"


def test_command_api_refuses_to_start_with_a_placeholder_password() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("API_")}
    env.pop("CSMS_ADMIN_API_KEY", None)
    env["CSMS_ADMIN_PASSWORD"] = "changeme-now"
    done = subprocess.run(
        [sys.executable, "-m", "command_api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "CSMS_ADMIN_PASSWORD" in done.stderr and "placeholder" in done.stderr
    assert "changeme-now" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("value", "secure"),
    [("auto", None), ("AUTO", None), ("", None), ("true", True), ("false", False)],
)
def test_cookie_secure_is_auto_true_or_false(
    monkeypatch: pytest.MonkeyPatch, value: str, secure: bool | None
) -> None:
    assert Settings().cookie_secure is None
    monkeypatch.setenv("API_COOKIE_SECURE", value)
    assert Settings().cookie_secure is secure


def test_forwarded_allow_ips_are_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().forwarded_allow_ips == ["127.0.0.1", "::1"]
    monkeypatch.setenv("API_FORWARDED_ALLOW_IPS", "10.244.0.0/16, 127.0.0.1,fd00::/8")
    assert Settings().forwarded_allow_ips == ["10.244.0.0/16", "127.0.0.1", "fd00::/8"]
    for wrong in ("ingress-nginx", "*", "10.0.0.0/33", "10.244.1.7/16"):
        monkeypatch.setenv("API_FORWARDED_ALLOW_IPS", wrong)
        with pytest.raises(ValidationError, match="neither an IP address nor a CIDR"):
            Settings()


def _from(host: str) -> Request:
    return Request({"type": "http", "client": (host, 50000), "headers": []})


def test_the_limit_counts_an_ipv6_client_by_its_64() -> None:
    assert client_address(_from("203.0.113.7")) == "203.0.113.7"
    assert client_address(_from("::ffff:203.0.113.7")) == "203.0.113.7"
    one = client_address(_from("2001:db8:1:2::a"))
    assert one == client_address(_from("2001:db8:1:2:ffff::1")) == "2001:db8:1:2::/64"
    assert client_address(_from("2001:db8:1:3::a")) != one


@pytest.mark.parametrize(
    "secret",
    ["change-me-change-me-change-me-change-me", "x" * 40, "abcabcabcabcabcabcabcabcabcabcabc"],
)
def test_a_placeholder_token_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("API_TOKEN_SECRET", secret)
    with pytest.raises(ValidationError) as refused:
        Settings()
    (error,) = refused.value.errors()
    assert "API_TOKEN_SECRET is refused" in error["msg"] and secret not in error["msg"]
    monkeypatch.setenv("API_TOKEN_SECRET", "3f9c1e0b7a6d48e2b5c4f1a09e8d7c6b5a4f3e2d")
    assert Settings().token_secret is not None
