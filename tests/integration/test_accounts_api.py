"""Users over REST: access tokens (OAuth2 password form -> JWT), roles, resets, the audit log."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.conftest import ADMIN_PASSWORD, Suite

pytestmark = pytest.mark.integration

PASSWORD = "tulip-harbour-" + uuid.uuid4().hex[:8]


async def _token(suite: Suite, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=suite.api_url, timeout=30) as client:
        return await client.post("/auth/token", data={"username": username, "password": password})


def _bearer(suite: Suite, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def _user(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    created = await api.post("/users", json={"username": name, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    body: dict[str, str] = created.json()
    assert body["role"] == role and "password" not in str(body).lower()
    return body


async def test_a_token_works_beside_api_keys_and_names_the_user(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    operator = await _user(api, "operator")
    answer = await _token(suite, operator["username"], PASSWORD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    async with _bearer(suite, body["access_token"]) as client:
        assert (await client.get("/charge-points")).status_code == 200
        cp = f"CP-never-{uuid.uuid4().hex[:6]}"
        sent = await client.post(f"/charge-points/{cp}/commands/Reset", json={"type": "Soft"})
        assert sent.status_code == 404
        # Admin routes stay closed to an operator's token.
        assert (await client.get("/users")).status_code == 403
    log = (await api.get("/commands", params={"chargePointId": cp})).json()["items"]
    assert [c["requestedBy"] for c in log] == [f"user:{operator['username']}"]


async def test_a_viewer_token_reads_but_sends_nothing(suite: Suite, api: httpx.AsyncClient) -> None:
    viewer = await _user(api, "viewer")
    token = (await _token(suite, viewer["username"], PASSWORD)).json()["access_token"]
    async with _bearer(suite, token) as client:
        assert (await client.get("/transactions")).status_code == 200
        sent = await client.post("/charge-points/CP-x/commands/Reset", json={"type": "Soft"})
        assert sent.status_code == 403


async def test_bad_logins_and_bad_tokens_are_refused(suite: Suite, api: httpx.AsyncClient) -> None:
    wrong = await _token(suite, "admin", ADMIN_PASSWORD + "x")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient(base_url=suite.api_url, timeout=30) as client:
        missing = await client.post("/auth/token", data={"username": "admin"})
        assert missing.status_code == 422
        as_json = await client.post("/auth/token", json={"username": "a", "password": "b"})
        assert as_json.status_code == 422
    for garbage in ("a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 5000):
        async with _bearer(suite, garbage) as client:
            assert (await client.get("/charge-points")).status_code == 401


async def test_reset_and_disable_end_a_users_tokens(suite: Suite, api: httpx.AsyncClient) -> None:
    user = await _user(api, "operator")
    token = (await _token(suite, user["username"], PASSWORD)).json()["access_token"]
    new_password = "second-" + PASSWORD
    reset = await api.put(f"/users/{user['id']}/password", json={"password": new_password})
    assert reset.status_code == 204
    async with _bearer(suite, token) as client:
        assert (await client.get("/charge-points")).status_code == 401
    token = (await _token(suite, user["username"], new_password)).json()["access_token"]
    disabled = await api.patch(f"/users/{user['id']}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    async with _bearer(suite, token) as client:
        assert (await client.get("/charge-points")).status_code == 401
    assert (await _token(suite, user["username"], new_password)).status_code == 401


async def test_user_changes_are_checked(api: httpx.AsyncClient) -> None:
    weak = await api.post(
        "/users", json={"username": "weak-one", "password": "password1234", "role": "viewer"}
    )
    assert weak.status_code == 422 and "placeholder or a common" in weak.json()["detail"]
    user = await _user(api, "viewer")
    again = await api.post(
        "/users", json={"username": user["username"], "password": PASSWORD, "role": "viewer"}
    )
    assert again.status_code == 409
    bad_name = await api.post(
        "/users", json={"username": "<b>", "password": PASSWORD, "role": "viewer"}
    )
    assert bad_name.status_code == 422
    assert (await api.patch(f"/users/{uuid.uuid4()}", json={"role": "admin"})).status_code == 404
    admins = [u for u in (await api.get("/users")).json()["items"] if u["role"] == "admin"]
    if len(admins) == 1:
        # The last enabled admin cannot lose the role: somebody must be able to manage users.
        last = await api.patch(f"/users/{admins[0]['id']}", json={"role": "viewer"})
        assert last.status_code == 422 and "last enabled admin" in last.json()["detail"]


async def test_failed_logins_are_limited_per_address(suite: Suite) -> None:
    # uvicorn takes the client's address from X-Forwarded-For of a proxy on 127.0.0.1.
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    headers = {"X-Forwarded-For": address}
    async with httpx.AsyncClient(base_url=suite.api_url, headers=headers, timeout=30) as client:
        for n in range(50):  # the suite's API_LOGIN_FAILURES_PER_ADDRESS
            wrong = await client.post(
                "/auth/token", data={"username": f"nobody-{n}", "password": "x" * 12}
            )
            assert wrong.status_code == 401, (n, wrong.text)
        # Now even the admin's right password is refused from that address ...
        limited = await client.post(
            "/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert limited.status_code == 429 and "Too many failed logins" in limited.json()["detail"]
    # ... and not from another.
    assert (await _token(suite, "admin", ADMIN_PASSWORD)).status_code == 200
