"""Logins under attack (security, third pass: items 6-10): password checks off the event loop
and capped, no lockout of a user by strangers, credentials that end with a disable or a role
change, live streams that end with their session, answers that no cache keeps."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.accounts import (
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
from tests.integration.support import BIN, ServiceProcess, eventually, free_port

pytestmark = pytest.mark.integration

PER_PAIR = 5  # API_LOGIN_FAILURES_PER_USER_AND_ADDRESS (the default)


def base_of(suite: Suite) -> str:
    return suite.api_url.removesuffix("/api/v1")


async def token(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


# -- 6. password checks stall nothing, and a burst past the cap is refused at once ----------


@pytest.fixture
async def small_password_pool(suite: Suite) -> AsyncIterator[str]:
    """One more command-api replica with one argon2 thread and room for two checks waiting."""
    port, internal = free_port(), free_port()
    process = ServiceProcess(
        f"command-api-{port}",
        [str(BIN / "command-api")],
        suite.env
        | {
            "API_HTTP_PORT": str(port),
            "API_INTERNAL_PORT": str(internal),
            "API_PASSWORD_THREADS": "1",
            "API_PASSWORD_CHECKS_WAITING": "2",
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


async def test_a_burst_of_logins_never_stalls_the_api_and_past_the_cap_gets_503(
    suite: Suite, small_password_pool: str
) -> None:
    base = small_password_pool
    admin = {"Authorization": f"Bearer {suite.env['CSMS_ADMIN_API_KEY']}"}
    finished: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def wrong(n: int) -> httpx.Response:
            # Each from an address of its own: no limit cuts the burst short.
            answer = await client.post(
                "/api/v1/auth/token",
                data={"username": f"nobody-{n}", "password": "x" * 12},
                headers={"X-Forwarded-For": fresh_address()},
            )
            finished.append(("login", answer.status_code))
            return answer

        async def read() -> httpx.Response:
            answer = await client.get("/api/v1/charge-points", headers=admin)
            finished.append(("read", answer.status_code))
            return answer

        burst = [asyncio.create_task(wrong(n)) for n in range(40)]

        async def refused() -> bool:
            return any(t.done() and t.result().status_code == 503 for t in burst)

        # The pool is full (the first 503 is back): a read now is answered while the checks
        # queued before it run (with argon2 on the event loop it waited for all of them).
        await eventually(refused)
        answer = await read()
        results = await asyncio.gather(*burst)
    assert answer.status_code == 200, answer.text
    statuses = [r.status_code for r in results]
    assert set(statuses) == {401, 503}, statuses
    last_check = max(n for n, done in enumerate(finished) if done == ("login", 401))
    assert finished.index(("read", 200)) < last_check, finished
    busy = next(r for r in results if r.status_code == 503)
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["title"] == "Too many sign-ins at once"


# -- 7. strangers slow a username down, they do not lock it out ------------------------------


async def test_strangers_cannot_lock_an_admin_out(suite: Suite, api: httpx.AsyncClient) -> None:
    user = await make_user(api, "admin")
    attacker = fresh_address()
    async with console_client(base_of(suite), attacker) as guesser:
        statuses = [(await token(guesser, user, f"guess-{n}")).status_code for n in range(7)]
        assert statuses == [401] * PER_PAIR + [429, 429], statuses
        # The right password from the guesser's address is refused ...
        refused = await token(guesser, user, PASSWORD)
        assert refused.status_code == 429 and "from this address" in refused.json()["detail"]
    # ... and from anywhere else it works: slowed down by the failures, never refused.
    async with console_client(base_of(suite), fresh_address()) as owner:
        assert (await token(owner, user, PASSWORD)).status_code == 200
    async with console_client(base_of(suite), fresh_address()) as browser:
        assert (await log_in(browser, user, PASSWORD)).status_code == 303


async def test_an_address_that_keeps_guessing_stays_locked_out(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    user = await make_user(api, "viewer")
    per_address = int(suite.services["command-api"].env["API_LOGIN_FAILURES_PER_ADDRESS"])
    async with console_client(base_of(suite), fresh_address()) as guesser:
        for n in range(per_address):
            assert (
                await token(guesser, f"nobody-{n}-{uuid.uuid4().hex[:6]}", "x" * 12)
            ).status_code == 401
        # Any username, the right password included: refused from this address.
        assert (await token(guesser, user, PASSWORD)).status_code == 429
    async with console_client(base_of(suite), fresh_address()) as owner:
        assert (await token(owner, user, PASSWORD)).status_code == 200


async def test_a_direct_clients_forwarded_for_is_not_believed(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    """127.0.0.3 is no trusted proxy (API_FORWARDED_ALLOW_IPS is 127.0.0.1 and ::1): whatever
    X-Forwarded-For it sends, its failures count against 127.0.0.3."""
    user = await make_user(api, "operator")
    direct = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with httpx.AsyncClient(base_url=base_of(suite), transport=direct, timeout=30) as client:
        statuses = []
        for n in range(PER_PAIR + 1):
            client.headers["X-Forwarded-For"] = fresh_address()  # a new "address" every time
            statuses.append((await token(client, user, f"guess-{n}")).status_code)
        assert statuses == [401] * PER_PAIR + [429], statuses


# -- 8. a disable or a role change ends every session and token issued before ---------------


@pytest.mark.parametrize("change", ["disable-and-enable", "role"])
async def test_old_credentials_stay_dead_after_a_disable_or_a_role_change(
    suite: Suite, api: httpx.AsyncClient, change: str
) -> None:
    user = await make_user(api, "operator")
    user_id = next(
        u["id"] for u in (await api.get("/users")).json()["items"] if u["username"] == user
    )
    async with console_client(base_of(suite), fresh_address()) as client:
        issued = (await token(client, user, PASSWORD)).json()["access_token"]
    async with console_client(base_of(suite), fresh_address()) as browser:
        cookie = set_cookie(await log_in(browser, user, PASSWORD), SESSION)["value"]
    bearer = {"Authorization": f"Bearer {issued}"}
    assert (await api.get("/charge-points", headers=bearer)).status_code == 200
    if change == "role":
        assert (await api.patch(f"/users/{user_id}", json={"role": "viewer"})).status_code == 200
    else:
        assert (await api.patch(f"/users/{user_id}", json={"disabled": True})).status_code == 200
        assert (await api.patch(f"/users/{user_id}", json={"disabled": False})).status_code == 200
    assert (await api.get("/charge-points", headers=bearer)).status_code == 401
    assert not await signed_in(base_of(suite), cookie)
    # A new login works, with the new role.
    async with console_client(base_of(suite), fresh_address()) as client:
        assert (await token(client, user, PASSWORD)).status_code == 200


# -- 9. live streams end with their session; a user holds ten at most -----------------------


async def next_event(lines: AsyncIterator[str]) -> str:
    """The name of the next server-sent event (`event: <name>` line) in a stream."""
    async for line in lines:
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    return ""


@pytest.mark.parametrize("path", ["/live", "/charge-points/CP-STREAM/messages/live"])
async def test_a_live_stream_ends_when_its_session_does(
    suite: Suite, api: httpx.AsyncClient, path: str
) -> None:
    user = await make_user(api, "viewer")
    async with console_client(base_of(suite), fresh_address()) as browser:
        assert (await log_in(browser, user, PASSWORD)).status_code == 303
        form_token = await csrf_token(browser)
        async with browser.stream("GET", path, timeout=30) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            out = await browser.post("/logout", data={"csrf_token": form_token})
            assert out.status_code == 303
            # Within one check of the session (at most 10 s): the stream says so and ends.
            assert await asyncio.wait_for(next_event(lines), 15) == "ended"


async def test_a_user_holds_at_most_ten_live_streams(suite: Suite, api: httpx.AsyncClient) -> None:
    user = await make_user(api, "viewer")
    async with console_client(base_of(suite), fresh_address()) as browser:
        assert (await log_in(browser, user, PASSWORD)).status_code == 303
        streams = [browser.stream("GET", "/live", timeout=30) for _ in range(10)]
        opened = [await s.__aenter__() for s in streams]
        try:
            assert [r.status_code for r in opened] == [200] * 10
            refused = await browser.get("/live")
            assert refused.status_code == 429 and "At most 10 live views" in refused.text
        finally:
            for s in streams[1:]:
                await s.__aexit__(None, None, None)

        async def admitted_again() -> bool:
            async with browser.stream("GET", "/live", timeout=30) as again:
                return again.status_code == 200

        # The nine closed streams count no more (their leases go as they end).
        assert await eventually(admitted_again)
        await streams[0].__aexit__(None, None, None)


# -- 10. what no cache may keep ------------------------------------------------------------


async def test_tokens_and_new_api_keys_are_never_cached(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    async with console_client(base_of(suite), fresh_address()) as client:
        answer = await token(client, "admin", suite.env["CSMS_ADMIN_PASSWORD"])
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    created = await api.post("/api-keys", json={"name": f"k-{uuid.uuid4().hex}", "role": "viewer"})
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    async with console_client(base_of(suite), fresh_address()) as browser:
        assert (await log_in(browser, "admin", suite.env["CSMS_ADMIN_PASSWORD"])).status_code == 303
        form = await csrf_token(browser)
        shown = await browser.post(
            "/api-keys",
            data={"csrf_token": form, "name": f"k-{uuid.uuid4().hex}", "role": "viewer"},
        )
        assert shown.status_code == 200 and re.search(r"csms_[A-Za-z0-9_-]{20,}", shown.text)
        assert shown.headers["cache-control"] == "no-store"
