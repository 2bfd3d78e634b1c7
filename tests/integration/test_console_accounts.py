"""Console accounts over plain HTTP: the session cookie, its rotation, logout, login CSRF, the
password change, the failed-login limit under concurrent guesses, and the trusted proxies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.accounts import (
    LOGIN_CSRF,
    SESSION,
    console_client,
    csrf_token,
    fresh_address,
    log_in,
    set_cookie,
    signed_in,
)
from tests.integration.browser import PASSWORD, make_user
from tests.integration.conftest import Suite
from tests.integration.support import BIN, ServiceProcess, free_port

pytestmark = pytest.mark.integration

PER_PAIR = 5  # the suite's API_LOGIN_FAILURES_PER_USER_AND_ADDRESS (the default)


@pytest.fixture
async def console(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console from a fresh address (X-Forwarded-For, 127.0.0.1 is trusted)."""
    async with console_client(suite.api_url.removesuffix("/api/v1"), fresh_address()) as client:
        yield client


async def test_the_session_cookie_is_httponly_lax_and_expires(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    form = await console.get("/login")
    csrf = set_cookie(form, LOGIN_CSRF)
    assert "httponly" in csrf and csrf["samesite"].lower() == "lax" and csrf["path"] == "/login"
    assert "secure" not in csrf
    user = await make_user(api, "viewer")
    answer = await log_in(console, user, PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = set_cookie(answer, SESSION)
    assert "httponly" in cookie and cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(8 * 3600)  # API_SESSION_HOURS
    # Plain http from the client, and no proxy saying otherwise: a Secure cookie would be lost.
    assert "secure" not in cookie


async def test_cookies_are_secure_when_a_trusted_proxy_says_https(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    base = suite.api_url.removesuffix("/api/v1")
    # The test client on 127.0.0.1 is a trusted proxy by default (API_FORWARDED_ALLOW_IPS).
    async with console_client(base, fresh_address()) as client:
        client.headers["X-Forwarded-Proto"] = "https"
        form = await client.get("/login")
        csrf = set_cookie(form, LOGIN_CSRF)
        assert "secure" in csrf
        # The jar keeps a Secure cookie off plain http: send it as the browser would over TLS.
        answer = await client.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf_token": csrf["value"]},
            headers={"Cookie": f"{LOGIN_CSRF}={csrf['value']}"},
        )
        assert answer.status_code == 303
        assert "secure" in set_cookie(answer, SESSION)


async def test_a_second_login_rotates_the_session(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    first = set_cookie(await log_in(console, user, PASSWORD), SESSION)["value"]
    second = set_cookie(await log_in(console, user, PASSWORD), SESSION)["value"]
    assert first != second
    base = str(console.base_url)
    assert not await signed_in(base, first)
    assert await signed_in(base, second)


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "operator")
    cookie = set_cookie(await log_in(console, user, PASSWORD), SESSION)["value"]
    token = await csrf_token(console)
    for form in ({}, {"csrf_token": "forged"}):
        refused = await console.post("/logout", data=form)
        assert refused.status_code == 403 and "CSRF token" in refused.text
    base = str(console.base_url)
    assert await signed_in(base, cookie)
    out = await console.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not await signed_in(base, cookie)


async def test_a_login_without_the_double_submit_is_refused(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    credentials = {"username": user, "password": PASSWORD}
    # No cookie at all (a stranger's page posting the form), then a token that is not the
    # cookie's, then the cookie without the token.
    token = "x" * 43
    assert (
        await console.post("/login", data=credentials | {"csrf_token": token})
    ).status_code == 403
    form = await console.get("/login")
    assert form.cookies[LOGIN_CSRF]
    for posted in (credentials | {"csrf_token": token}, credentials):
        refused = await console.post("/login", data=posted)
        assert refused.status_code == 403 and "CSRF token is wrong" in refused.text
        assert SESSION not in refused.cookies
    assert (await log_in(console, user, PASSWORD)).status_code == 303


async def test_a_password_change_needs_the_current_one(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    cookie = set_cookie(await log_in(console, user, PASSWORD), SESSION)["value"]
    token = await csrf_token(console)
    new = "amber-orchard-" + uuid.uuid4().hex[:8]
    form = {"csrf_token": token, "new": new, "repeat": new}
    wrong = await console.post("/account/password", data=form | {"current": PASSWORD + "x"})
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    changed = await console.post("/account/password", data=form | {"current": PASSWORD})
    assert changed.status_code == 303 and changed.headers["location"] == "/login"
    base = str(console.base_url)
    assert not await signed_in(base, cookie)
    async with console_client(base, fresh_address()) as fresh:
        assert (await log_in(fresh, user, PASSWORD)).status_code == 401
        assert (await log_in(fresh, user, new)).status_code == 303


async def test_wrong_current_passwords_count_as_failed_logins(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "operator")
    assert (await log_in(console, user, PASSWORD)).status_code == 303
    token = await csrf_token(console)
    new = "amber-orchard-" + uuid.uuid4().hex[:8]
    form = {"csrf_token": token, "new": new, "repeat": new}
    for _ in range(PER_PAIR):
        wrong = await console.post("/account/password", data=form | {"current": "guess-" + new})
        assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    # Limited now from this address: the right current password is refused, and so is a login
    # as that user; from another address the user gets in (slowed down, not locked out).
    limited = await console.post("/account/password", data=form | {"current": PASSWORD})
    assert limited.status_code == 429 and "Too many failed logins" in limited.text
    assert (await log_in(console, user, PASSWORD)).status_code == 429
    async with console_client(str(console.base_url), fresh_address()) as other:
        assert (await log_in(other, user, PASSWORD)).status_code == 303


async def test_operators_and_viewers_cannot_reach_users(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    for role in ("viewer", "operator"):
        user = await make_user(api, role)
        assert (await log_in(console, user, PASSWORD)).status_code == 303
        page = await console.get("/users")
        assert page.status_code == 403 and "admin role" in page.text


async def test_concurrent_wrong_logins_stop_at_the_limit(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "operator")
    guesses = 4 * PER_PAIR
    async with httpx.AsyncClient(
        base_url=suite.api_url, headers={"X-Forwarded-For": fresh_address()}, timeout=60
    ) as client:

        async def guess(n: int) -> int:
            answer = await client.post(
                "/auth/token", data={"username": user, "password": f"guess-{n}-{PASSWORD}"}
            )
            return answer.status_code

        statuses = await asyncio.gather(*(guess(n) for n in range(guesses)))
        # 503: past the cap of password checks at once (API_PASSWORD_CHECKS_WAITING).
        assert 401 in statuses and set(statuses) <= {401, 429, 503}, statuses
        assert statuses.count(401) == PER_PAIR, statuses
        right = await client.post("/auth/token", data={"username": user, "password": PASSWORD})
        assert right.status_code == 429


async def _wrong_token(client: httpx.AsyncClient) -> httpx.Response:
    """A token asked for with a wrong password, for a username nobody has."""
    username = f"nobody-{uuid.uuid4().hex[:8]}"
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": "x" * 12}
    )


@pytest.fixture
async def api_behind_proxy(suite: Suite) -> AsyncIterator[str]:
    """One more command-api replica whose trusted proxies are two CIDRs holding 127.0.0.2 but
    not 127.0.0.1, with a limit of 2 failed logins per address; yields its base URL."""
    port, internal = free_port(), free_port()
    process = ServiceProcess(
        f"command-api-{port}",
        [str(BIN / "command-api")],
        suite.env
        | {
            "API_HTTP_PORT": str(port),
            "API_INTERNAL_PORT": str(internal),
            "API_FORWARDED_ALLOW_IPS": "127.0.0.2/32, 10.0.0.0/8",
            "API_LOGIN_FAILURES_PER_ADDRESS": "2",
            "API_READ_CONFIGURATION_AT_BOOT": "false",
        },
        suite.log_dir,
    )
    process.start()
    try:
        await asyncio.to_thread(process.wait_ready, f"http://127.0.0.1:{internal}/readyz")
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(process.stop)


async def test_forwarded_headers_count_only_from_trusted_proxies(api_behind_proxy: str) -> None:
    base = api_behind_proxy
    proxy = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    headers = {"X-Forwarded-Proto": "https"}
    async with console_client(base, fresh_address()) as untrusted:
        untrusted.headers.update(headers)
        form = await untrusted.get("/login")
        assert "secure" not in set_cookie(form, LOGIN_CSRF)
    address = fresh_address()
    async with console_client(base, address, transport=proxy) as trusted:
        trusted.headers.update(headers)
        form = await trusted.get("/login")
        assert "secure" in set_cookie(form, LOGIN_CSRF)
        # Failed logins count against the address the trusted proxy names ...
        statuses = [(await _wrong_token(trusted)).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        # ... and a client it names otherwise has its own count.
        trusted.headers["X-Forwarded-For"] = fresh_address()
        assert (await _wrong_token(trusted)).status_code == 401
