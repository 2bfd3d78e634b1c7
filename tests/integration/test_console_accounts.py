"""Console accounts over plain HTTP: the session cookie, its rotation, logout, login CSRF, the
password change, the failed-login limit under concurrent guesses, and the trusted proxies."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.browser import PASSWORD, make_user
from tests.integration.conftest import Suite
from tests.integration.support import BIN, ServiceProcess, free_port

pytestmark = pytest.mark.integration

SESSION = "csms_session"
LOGIN_CSRF = "csms_login_csrf"
PER_USERNAME = 5  # the suite's API_LOGIN_FAILURES_PER_USERNAME (the default)


def _address() -> str:
    """A fresh client address (TEST-NET-2) for X-Forwarded-For: its own failed-login count."""
    n = uuid.uuid4().int
    return f"198.51.{n % 250 + 1}.{n // 250 % 250 + 1}"


def _cookie(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie for `name`, lower-cased, with its value as `value`."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        key, _, value = first.partition("=")
        if key == name:
            cookie = {"value": value.strip('"')}
            for attribute in attributes:
                k, _, v = attribute.partition("=")
                cookie[k.lower()] = v
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


@pytest.fixture
async def console(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console from a fresh address (X-Forwarded-For, 127.0.0.1 is trusted)."""
    async with _client(suite.api_url.removesuffix("/api/v1"), _address()) as client:
        yield client


def _client(
    base: str, address: str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A console client that a proxy says is at `address`."""
    return httpx.AsyncClient(
        base_url=base, headers={"X-Forwarded-For": address}, timeout=30, transport=transport
    )


async def _log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """The login form fetched and posted with its double-submit token."""
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form.cookies[LOGIN_CSRF]},
    )


async def _csrf_token(client: httpx.AsyncClient) -> str:
    """The signed-in session's CSRF token, from a form of the console."""
    page = await client.get("/account/password")
    assert page.status_code == 200, page.status_code
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def _signed_in(base: str, session_cookie: str) -> bool:
    """Whether this session cookie still opens the console."""
    async with httpx.AsyncClient(base_url=base, cookies={SESSION: session_cookie}) as client:
        answer = await client.get("/")
    return answer.status_code == 200


async def test_the_session_cookie_is_httponly_lax_and_expires(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    form = await console.get("/login")
    csrf = _cookie(form, LOGIN_CSRF)
    assert "httponly" in csrf and csrf["samesite"].lower() == "lax" and csrf["path"] == "/login"
    assert "secure" not in csrf
    user = await make_user(api, "viewer")
    answer = await _log_in(console, user, PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = _cookie(answer, SESSION)
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
    async with _client(base, _address()) as client:
        client.headers["X-Forwarded-Proto"] = "https"
        form = await client.get("/login")
        csrf = _cookie(form, LOGIN_CSRF)
        assert "secure" in csrf
        # The jar keeps a Secure cookie off plain http: send it as the browser would over TLS.
        answer = await client.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf_token": csrf["value"]},
            headers={"Cookie": f"{LOGIN_CSRF}={csrf['value']}"},
        )
        assert answer.status_code == 303
        assert "secure" in _cookie(answer, SESSION)


async def test_a_second_login_rotates_the_session(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    first = _cookie(await _log_in(console, user, PASSWORD), SESSION)["value"]
    second = _cookie(await _log_in(console, user, PASSWORD), SESSION)["value"]
    assert first != second
    base = str(console.base_url)
    assert not await _signed_in(base, first)
    assert await _signed_in(base, second)


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "operator")
    cookie = _cookie(await _log_in(console, user, PASSWORD), SESSION)["value"]
    token = await _csrf_token(console)
    for form in ({}, {"csrf_token": "forged"}):
        refused = await console.post("/logout", data=form)
        assert refused.status_code == 403 and "CSRF token" in refused.text
    base = str(console.base_url)
    assert await _signed_in(base, cookie)
    out = await console.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not await _signed_in(base, cookie)


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
    assert (await _log_in(console, user, PASSWORD)).status_code == 303


async def test_a_password_change_needs_the_current_one(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    cookie = _cookie(await _log_in(console, user, PASSWORD), SESSION)["value"]
    token = await _csrf_token(console)
    new = "amber-orchard-" + uuid.uuid4().hex[:8]
    form = {"csrf_token": token, "new": new, "repeat": new}
    wrong = await console.post("/account/password", data=form | {"current": PASSWORD + "x"})
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    changed = await console.post("/account/password", data=form | {"current": PASSWORD})
    assert changed.status_code == 303 and changed.headers["location"] == "/login"
    base = str(console.base_url)
    assert not await _signed_in(base, cookie)
    async with _client(base, _address()) as fresh:
        assert (await _log_in(fresh, user, PASSWORD)).status_code == 401
        assert (await _log_in(fresh, user, new)).status_code == 303


async def test_wrong_current_passwords_count_as_failed_logins(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "operator")
    assert (await _log_in(console, user, PASSWORD)).status_code == 303
    token = await _csrf_token(console)
    new = "amber-orchard-" + uuid.uuid4().hex[:8]
    form = {"csrf_token": token, "new": new, "repeat": new}
    for _ in range(PER_USERNAME):
        wrong = await console.post("/account/password", data=form | {"current": "guess-" + new})
        assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    # Limited now: the right current password is refused, and so is a login as that user.
    limited = await console.post("/account/password", data=form | {"current": PASSWORD})
    assert limited.status_code == 429 and "Too many failed logins" in limited.text
    async with _client(str(console.base_url), _address()) as other:
        refused = await _log_in(other, user, PASSWORD)
        assert refused.status_code == 429 and "Too many failed logins" in refused.text


async def test_operators_and_viewers_cannot_reach_users(
    console: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    for role in ("viewer", "operator"):
        user = await make_user(api, role)
        assert (await _log_in(console, user, PASSWORD)).status_code == 303
        page = await console.get("/users")
        assert page.status_code == 403 and "admin role" in page.text


async def test_concurrent_wrong_logins_stop_at_the_limit(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "operator")
    guesses = 4 * PER_USERNAME
    async with httpx.AsyncClient(
        base_url=suite.api_url, headers={"X-Forwarded-For": _address()}, timeout=60
    ) as client:

        async def guess(n: int) -> int:
            answer = await client.post(
                "/auth/token", data={"username": user, "password": f"guess-{n}-{PASSWORD}"}
            )
            return answer.status_code

        statuses = await asyncio.gather(*(guess(n) for n in range(guesses)))
        assert sorted(set(statuses)) == [401, 429], statuses
        assert statuses.count(401) == PER_USERNAME, statuses
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
    async with _client(base, _address()) as untrusted:
        untrusted.headers.update(headers)
        form = await untrusted.get("/login")
        assert "secure" not in _cookie(form, LOGIN_CSRF)
    address = _address()
    async with _client(base, address, transport=proxy) as trusted:
        trusted.headers.update(headers)
        form = await trusted.get("/login")
        assert "secure" in _cookie(form, LOGIN_CSRF)
        # Failed logins count against the address the trusted proxy names ...
        statuses = [(await _wrong_token(trusted)).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        # ... and a client it names otherwise has its own count.
        trusted.headers["X-Forwarded-For"] = _address()
        assert (await _wrong_token(trusted)).status_code == 401
