"""The operator console in a real browser: login, live list, command panel, roles, CSRF."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.integration.browser import (
    PASSWORD,
    browser,
    console_url,
    context,
    live_open,
    log_in,
    log_in_as_admin,
    log_in_as_admin_over_http,
    make_user,
    page,
    screenshot,
)
from tests.integration.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used by the tests below

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def test_login_wrong_password_then_in_and_out(page: Page, console_url: str) -> None:
    await page.goto(console_url + "/charge-points")
    await expect(page).to_have_url(console_url + "/login?next=/charge-points")
    await screenshot(page, "login")
    await log_in(page, console_url, "admin", "not-the-password-at-all")
    await expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
    await log_in(page, console_url, "admin", ADMIN_PASSWORD)
    await expect(page.locator("#whoami")).to_contain_text("admin")
    await expect(page.locator("h1")).to_have_text("Overview")
    await screenshot(page, "overview")
    await page.click("#logout")
    await expect(page).to_have_url(console_url + "/login")
    # The old cookie is gone with its session: the console asks for a login again.
    await page.goto(console_url + "/")
    await expect(page).to_have_url(console_url + "/login")


async def test_cp_appears_live_and_reset_from_the_form_reaches_it(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points?q={cp_id}")
    await expect(page.locator("#cp-rows")).to_contain_text("No charge point matches")
    await live_open(page)

    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    row = page.locator(f'tr[data-cp="{cp_id}"]')
    # No reload: the list refreshes itself.
    await expect(row.locator(".presence")).to_have_text("online")
    await screenshot(page, "charge-points")

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = answer
    await row.locator("a").click()
    await expect(page.locator("#presence")).to_have_text("online")
    panel = page.locator('details[data-action="Reset"]')
    await panel.locator("summary").click()
    await panel.locator("select[name=type]").select_option("Soft")
    await panel.locator("button[type=submit]").click()
    await expect(panel.locator(".outcome-text")).to_have_text("Sent and answered: Accepted")
    assert ("Reset", {"type": "Soft"}) in cp.received_calls
    await screenshot(page, "charge-point")


async def test_command_form_is_validated_before_sending(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    reserve = page.locator('details[data-action="ReserveNow"]')
    await reserve.locator("summary").click()
    # The browser checks what the schema puts in the form (a required idTag) ...
    await reserve.locator("button[type=submit]").click()
    assert not await reserve.locator("input[name=idTag]").evaluate("e => e.validity.valid")
    # ... and the server checks the rest against the schema before anything is sent.
    await reserve.locator("input[name=connectorId]").fill("1")
    await reserve.locator("input[name=expiryDate]").fill("tomorrow at noon")
    await reserve.locator("input[name=idTag]").fill("TAG-1")
    await reserve.locator("input[name=reservationId]").fill("7")
    await reserve.locator("button[type=submit]").click()
    await expect(reserve.locator(".outcome-text")).to_contain_text("Not sent: expiryDate")
    assert not [c for c in cp.received_calls if c[0] == "ReserveNow"]
    assert not [c for c in cp.received_calls if c[0] == "ChangeAvailability"]


async def test_command_to_an_offline_cp_says_so(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await cp.close()
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await expect(page.locator("#presence")).to_have_text("offline")
    panel = page.locator('details[data-action="ClearCache"]')
    await panel.locator("summary").click()
    await panel.locator("button[type=submit]").click()
    await expect(panel.locator(".outcome-text")).to_have_text(
        "Not sent: the charge point is offline"
    )


async def test_viewer_sees_no_commands_and_is_refused_anyway(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    viewer = await make_user(api, "viewer")
    await log_in(page, console_url, viewer, PASSWORD)
    await expect(page.locator("#whoami")).to_contain_text("viewer")
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await expect(page.locator("#presence")).to_have_text("online")
    await expect(page.locator("#commands")).to_have_count(0)
    # The server refuses it too, with the session's own CSRF token.
    token = await page.locator("input[name=csrf_token]").first.input_value()
    sent = await page.request.post(
        f"{console_url}/charge-points/{cp_id}/commands/Reset",
        form={"csrf_token": token, "type": "Hard"},
    )
    assert sent.status == 403
    assert "operator role" in await sent.text()
    assert not [c for c in cp.received_calls if c[0] == "Reset"]


async def test_a_post_without_the_csrf_token_is_refused(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await log_in_as_admin(page, console_url)
    for form in ({"type": "Hard"}, {"type": "Hard", "csrf_token": "forged"}):
        sent = await page.request.post(
            f"{console_url}/charge-points/{cp_id}/commands/Reset", form=form
        )
        assert sent.status == 403
        assert "CSRF token is missing or wrong" in await sent.text()
    assert not [c for c in cp.received_calls if c[0] == "Reset"]


async def test_failed_logins_are_limited_per_username(
    page: Page, console_url: str, api: httpx.AsyncClient
) -> None:
    operator = await make_user(api, "operator")
    for _ in range(5):
        await log_in(page, console_url, operator, "wrong-password-" + operator)
        await expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
    # The right password no longer helps until the window passes.
    await log_in(page, console_url, operator, PASSWORD)
    await expect(page.locator("#login-error")).to_contain_text("Too many failed logins")
    token = await api.post("/auth/token", data={"username": operator, "password": PASSWORD})
    assert token.status_code == 429


async def test_hostile_strings_from_a_cp_are_shown_as_text(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    cp = await connect_cp(cp_id)
    vendor = "<img src=x>"
    hostile = "<img src=x onerror=alert(1)>"
    await cp.call(
        "BootNotification",
        {"chargePointVendor": vendor, "chargePointModel": "<script>", "firmwareVersion": hostile},
    )
    await cp.call(
        "StatusNotification",
        {"connectorId": 1, "status": "Faulted", "errorCode": "OtherError", "info": hostile},
    )
    await cp.call("DataTransfer", {"vendorId": "com.any", "messageId": "x", "data": hostile})
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await expect(page.locator("#cp-vendor")).to_have_text(vendor)
    await expect(page.locator("#connectors")).to_contain_text(hostile)
    await expect(page.locator("#data-transfers")).to_contain_text(hostile)
    assert await page.locator("main img").count() == 0
    await page.goto(f"{console_url}/charge-points?q={cp_id}")
    await expect(page.locator(f'tr[data-cp="{cp_id}"] .vendor')).to_have_text(vendor)
    await asyncio.sleep(0)  # let any dialog event be dispatched before the check
    assert dialogs == []


async def _events(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    until: str,
    opened: asyncio.Event | None = None,
) -> list[str]:
    """The event-stream's lines up to the first that contains `until`; `opened` is set at the
    first line (the replica is bound to the events by then)."""
    lines: list[str] = []
    async with client.stream("GET", "/live", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if opened is not None:
                opened.set()
            lines.append(line)
            if until in line:
                return lines
    raise AssertionError(f"the stream ended without {until!r}: {lines}")


async def test_live_events_stream_and_a_reconnect_resumes(
    console_url: str, connect_cp: Any, cp_id: str
) -> None:
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as client:
        await log_in_as_admin_over_http(client)
        opened = asyncio.Event()
        stream = asyncio.create_task(_events(client, {}, f'"chargePointId":"{cp_id}"', opened))
        await asyncio.wait_for(opened.wait(), 30)
        cp = await connect_cp(cp_id)
        await cp.call("BootNotification", BOOT)
        lines = await asyncio.wait_for(stream, 60)
        first_id = [line for line in lines if line.startswith("id: ")][-1].removeprefix("id: ")
        # More happens while the browser is away ...
        await cp.call(
            "StatusNotification", {"connectorId": 2, "status": "Faulted", "errorCode": "OtherError"}
        )
        # ... and reconnecting with Last-Event-ID replays it.
        missed = await asyncio.wait_for(
            _events(client, {"Last-Event-ID": first_id}, '"status":"Faulted"'), 60
        )
        assert any(f'"chargePointId":"{cp_id}"' in line for line in missed)
        # An id this replica never gave (another replica, or before a restart): reload.
        other = await asyncio.wait_for(
            _events(client, {"Last-Event-ID": "elsewhere:12"}, "event: resync"), 60
        )
        assert "event: resync" in other
    # Without a session there is no stream.
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as anonymous:
        assert (await anonymous.get("/live")).status_code == 303


async def test_the_overview_lists_events_as_they_happen(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    await log_in_as_admin(page, console_url)
    await expect(page.locator("h1")).to_have_text("Overview")
    await live_open(page)
    cp = await connect_cp(cp_id)
    await expect(page.locator("#live-events")).to_contain_text(f"station.connected {cp_id}")
    await cp.call("BootNotification", BOOT)
    await expect(page.locator("#live-events")).to_contain_text(f"station.booted {cp_id}")


async def test_console_answers_carry_a_strict_csp(console_url: str) -> None:
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as client:
        for path in ("/login", "/static/htmx.min.js", "/charge-points"):
            answer = await client.get(path)
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert answer.headers["x-frame-options"] == "DENY"
        assert "htmx" in (await client.get("/static/htmx.min.js")).text
        # The REST API keeps its own headers (its Swagger page loads its own assets).
        assert "content-security-policy" not in (await client.get("/api/v1/status")).headers


async def test_an_admin_sets_the_security_profile(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    form = page.locator("form", has=page.locator("select[name=securityProfile]"))
    await form.locator("select").select_option("0")
    await form.locator("button").click()
    await expect(form.locator(".outcome-text")).to_have_text("Security profile set to 0")
    # An operator has no such control.
    operator = await make_user(api, "operator")
    await page.click("#logout")
    await log_in(page, console_url, operator, PASSWORD)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await expect(page.locator("#commands")).to_have_count(1)
    await expect(page.locator("select[name=securityProfile]")).to_have_count(0)
