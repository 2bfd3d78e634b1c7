"""The operator console in a real browser: login, live list, command panel, roles, CSRF."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any, cast

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity
from fastapi import Request
from playwright.async_api import ConsoleMessage, Dialog, Page, expect

from command_api.console.live import LiveFeed
from csms_shared.bus.topology import service_queue
from tests.integration.browser import (
    PASSWORD,
    before_first_poll,
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
from tests.integration.infra import Infra
from tests.integration.support import CallErrorReply, eventually

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
    loaded = time.monotonic()
    await page.goto(f"{console_url}/charge-points?q={cp_id}")
    await expect(page.locator("#cp-rows")).to_contain_text("No charge point matches")
    await live_open(page)

    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    row = page.locator(f'tr[data-cp="{cp_id}"]')
    # No reload, and before the list's first poll: the live stream brought it.
    await expect(row.locator(".presence")).to_have_text("online", timeout=before_first_poll(loaded))
    await screenshot(page, "charge-points")
    await expect(row.locator(".ocpp-version")).to_have_text("1.6")

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = answer
    await row.locator("a").click()
    await expect(page.locator("#presence")).to_have_text("online")
    await expect(page.locator("#cp-ocpp-version")).to_have_text("1.6")
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


async def test_a_refusal_and_a_silence_are_told_in_words(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)

    async def behave(action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if action == "ClearCache":
            raise CallErrorReply("NotSupported", "no cache on this model", {})
        return None  # GetLocalListVersion: never answered

    cp.responder = behave
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    refused = page.locator('details[data-action="ClearCache"]')
    await refused.locator("summary").click()
    await refused.locator("button[type=submit]").click()
    await expect(refused.locator(".outcome-text")).to_have_text(
        "The charge point refused: NotSupported (no cache on this model)"
    )
    # The suite's command timeout is 5 s (API_COMMAND_TIMEOUT).
    silent = page.locator('details[data-action="GetLocalListVersion"]')
    await silent.locator("summary").click()
    await silent.locator("button[type=submit]").click()
    await expect(silent.locator(".outcome-text")).to_have_text("No answer in time")
    assert ("GetLocalListVersion", {}) in cp.received_calls


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
    # Admin forms too: a new id tag, an approval.
    tag = "V" + cp_id[-9:].upper()
    for path, form in (("/id-tags", {"idTag": tag}), (f"/charge-points/{cp_id}/approve", {})):
        refused = await page.request.post(console_url + path, form={"csrf_token": token, **form})
        assert refused.status == 403, path
        assert "admin role" in await refused.text()
    assert (await api.get(f"/id-tags/{tag}")).status_code == 404


async def test_a_viewer_sees_id_tags_and_tariffs_read_only(
    page: Page, console_url: str, api: httpx.AsyncClient, cp_id: str
) -> None:
    tag = "R" + cp_id[-9:].upper()
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    tariff = await api.post(
        "/tariffs",
        json={
            "name": f"Read {cp_id}",
            "pricePerKwh": 0.3,
            "currency": "EUR",
            "chargePointIds": [cp_id],
        },
    )
    assert tariff.status_code == 201, tariff.text
    viewer = await make_user(api, "viewer")
    await log_in(page, console_url, viewer, PASSWORD)
    await expect(page.locator("#whoami")).to_contain_text("viewer")
    await page.goto(f"{console_url}/id-tags/{tag}")
    for field in ("status", "expiryDate", "parentIdTag", "maxConcurrentTx", "note"):
        await expect(page.locator(f'[name="{field}"]')).to_be_disabled()
    await expect(page.locator("form.card button")).to_have_count(0)
    await page.goto(f"{console_url}/tariffs/{tariff.json()['tariffId']}")
    for field in ("name", "pricePerKwh", "currency", "chargePointIds", "isDefault"):
        await expect(page.locator(f'[name="{field}"]')).to_be_disabled()
    await expect(page.locator("form.card button")).to_have_count(0)


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


class Dialogs:
    """The dialogs a page opens, each dismissed at once."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.messages: list[str] = []
        page.on("dialog", self.on_dialog)

    async def on_dialog(self, dialog: Dialog) -> None:
        self.messages.append(dialog.message)
        await dialog.dismiss()

    async def assert_none(self) -> None:
        """No dialog so far: one the test opens now is reported after any the page opened."""
        await self.page.evaluate("() => alert('probe')")
        assert self.messages == ["probe"]
        self.messages.clear()


async def test_hostile_strings_from_a_cp_are_shown_as_text(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    dialogs = Dialogs(page)
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
    await expect(page).to_have_title(f"Charge point {cp_id} · CSMS")
    assert await page.locator("main img").count() == 0
    await page.goto(f"{console_url}/charge-points?q={cp_id}")
    await expect(page.locator(f'tr[data-cp="{cp_id}"] .vendor')).to_have_text(vendor)
    await dialogs.assert_none()


async def test_a_hostile_vendor_in_the_database_is_shown_as_text(
    page: Page, console_url: str, connect_cp: Any, db: asyncpg.Connection
) -> None:
    # An id sorting first, so the overview's short list of faulted CPs shows it.
    cp_id = f"0-xss-{uuid.uuid4().hex[:8]}"
    dialogs = Dialogs(page)
    hostile = "<img src=x onerror=alert(1)>"
    # The vendor column is varchar(50) (2.0.1's vendorName; 1.6's is 20): 56 characters do
    # not fit, these 20 run a script too when taken for markup.
    vendor = "<svg/onload=alert()>"
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await cp.call(
        "StatusNotification",
        {"connectorId": 1, "status": "Faulted", "errorCode": "OtherError", "info": hostile},
    )
    with pytest.raises(asyncpg.StringDataRightTruncationError):
        await db.execute(
            "UPDATE registry.charge_points SET vendor = $1 WHERE id = $2", hostile * 2, cp_id
        )
    updated = await db.execute(
        "UPDATE registry.charge_points SET vendor = $1, model = $2 WHERE id = $3",
        vendor,
        "<img src=x>",
        cp_id,
    )
    assert updated == "UPDATE 1"
    await log_in_as_admin(page, console_url)

    async def shown_as_text() -> None:
        assert await page.locator("img[src=x], svg[onload]").count() == 0
        await dialogs.assert_none()

    await expect(page.locator(f'#faulted tr[data-cp="{cp_id}"] .vendor')).to_have_text(
        f"{vendor} <img src=x>"
    )
    await expect(page.locator(f'#faulted tr[data-cp="{cp_id}"]')).to_contain_text(hostile)
    await shown_as_text()
    await page.goto(f"{console_url}/charge-points?q={vendor}")
    await expect(page.locator(f'tr[data-cp="{cp_id}"] .vendor')).to_have_text(vendor)
    await shown_as_text()
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await expect(page.locator("#cp-vendor")).to_have_text(vendor)
    await expect(page.locator("#cp-model")).to_have_text("<img src=x>")
    await expect(page.locator("#connectors")).to_contain_text(hostile)
    await shown_as_text()


async def test_the_overview_counts_connectors_by_status(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    before = (await api.get("/status")).json()["connectorsByStatus"]
    assert set(before) == {
        "Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
        "Reserved", "Unavailable", "Faulted", "unknown",
    }  # fmt: skip
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    # Connector 0 is the CP itself: not a connector to count.
    for connector, status in ((0, "Unavailable"), (1, "SuspendedEV"), (2, "SuspendedEV")):
        await cp.call(
            "StatusNotification",
            {"connectorId": connector, "status": status, "errorCode": "NoError"},
        )

    async def counted() -> dict[str, int] | None:
        connectors = (await api.get(f"/charge-points/{cp_id}")).json()["connectors"]
        if [c.get("status") for c in connectors] != ["Unavailable", "SuspendedEV", "SuspendedEV"]:
            return None
        now: dict[str, int] = (await api.get("/status")).json()["connectorsByStatus"]
        return now

    after = await eventually(counted)
    assert after["SuspendedEV"] == before["SuspendedEV"] + 2
    assert after["Unavailable"] == before["Unavailable"]

    await log_in_as_admin(page, console_url)
    loaded = time.monotonic()
    await page.goto(console_url + "/")
    await live_open(page)
    suspended = page.locator('#connector-statuses td[data-status="SuspendedEV"] a')
    await expect(suspended).to_have_text(str(after["SuspendedEV"]))
    # A third one, shown without a reload.
    await cp.call(
        "StatusNotification", {"connectorId": 3, "status": "SuspendedEV", "errorCode": "NoError"}
    )
    await expect(suspended).to_have_text(
        str(after["SuspendedEV"] + 1), timeout=before_first_poll(loaded)
    )
    await suspended.click()
    await expect(page).to_have_url(console_url + "/charge-points?status=SuspendedEV")
    await expect(page.locator("select[name=status]")).to_have_value("SuspendedEV")


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
        # The REST API's JSON answers carry none of the console's headers.
        assert "content-security-policy" not in (await client.get("/api/v1/status")).headers


async def test_the_openapi_page_loads_nothing_from_elsewhere(page: Page, console_url: str) -> None:
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        csp = docs.headers["content-security-policy"]
        # Swagger UI starts from an inline script: allowed by its hash alone.
        assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp
        assets = re.findall(r'(?:src|href)="([^"]*)"', docs.text)
        assert len(assets) == 3, assets  # the script, the stylesheet, the icon
        for asset in assets:
            assert asset.startswith("/static/swagger/"), asset
            assert (await client.get(asset)).status_code == 200, asset
        assert (await client.get("/redoc")).status_code == 404
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", on_console)
    await page.goto(console_url + "/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("csms command-api")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert requested and all(url.startswith(console_url + "/") for url in requested), requested
    assert refused == []


async def test_a_stream_whose_bind_fails_counts_its_browser_out(infra: Infra) -> None:
    connection = await aio_pika.connect_robust(infra.broker_url)
    try:
        feed = LiveFeed(f"test-{uuid.uuid4().hex[:6]}")
        await feed.start(connection)
        # The replica's queue gone from the broker: binding it fails.
        other = await connection.channel()
        await other.queue_delete(service_queue("command-api", f"live.{feed.epoch}"))

        async def signed_in() -> bool:
            return True

        stream = feed.stream(cast(Request, None), None, signed_in)
        with pytest.raises(ChannelNotFoundEntity):
            await asyncio.wait_for(anext(stream), 30)
        assert (feed.listeners, feed.bound) == (0, False)
    finally:
        await connection.close()


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
