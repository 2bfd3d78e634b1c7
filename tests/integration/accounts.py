"""Console accounts over plain HTTP: clients from addresses of their own, the login form, the
session's CSRF token and cookie."""

from __future__ import annotations

import re
import uuid

import httpx

SESSION = "csms_session"
LOGIN_CSRF = "csms_login_csrf"


def fresh_address() -> str:
    """A fresh client address (TEST-NET-2) for X-Forwarded-For: its own failed-login count."""
    n = uuid.uuid4().int
    return f"198.51.{n % 250 + 1}.{n // 250 % 250 + 1}"


def set_cookie(response: httpx.Response, name: str) -> dict[str, str]:
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


def console_client(
    base: str, address: str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A console client that a proxy says is at `address`."""
    return httpx.AsyncClient(
        base_url=base, headers={"X-Forwarded-For": address}, timeout=30, transport=transport
    )


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """The login form fetched and posted with its double-submit token."""
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form.cookies[LOGIN_CSRF]},
    )


async def csrf_token(client: httpx.AsyncClient) -> str:
    """The signed-in session's CSRF token, from a form of the console."""
    page = await client.get("/account/password")
    assert page.status_code == 200, page.status_code
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def signed_in(base: str, session_cookie: str) -> bool:
    """Whether this session cookie still opens the console."""
    async with httpx.AsyncClient(base_url=base, cookies={SESSION: session_cookie}) as client:
        answer = await client.get("/")
    return answer.status_code == 200
