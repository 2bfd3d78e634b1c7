"""Roaming in the browser: an admin invites an eMSP and sees it registered, registers with
another, hands it new credentials and unregisters it; an operator finds the tokens eMSPs pushed
but not the platforms; a viewer sees neither."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from tests.integration.browser import (
    PASSWORD,
    browser,
    console_url,
    context,
    log_in,
    log_in_as_admin,
    make_user,
    page,
    screenshot,
)
from tests.integration.conftest import Suite
from tests.integration.ocpi_platform import PlatformDouble, header

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used by the tests below


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def test_an_admin_invites_an_emsp_and_unregisters_it(
    page: Page, console_url: str, suite: Suite
) -> None:
    await log_in_as_admin(page, console_url)
    await page.click("nav a[href='/roaming']")
    invite = page.locator("#invite-platform")
    await invite.locator("summary").click()
    await invite.locator("input[name=name]").fill("ACME <b>eMSP</b>")
    await invite.locator("button[type=submit]").click()
    shown = page.locator("#invitation")
    await expect(shown.locator(".versions-url")).to_have_text(f"{suite.roaming_url}/versions")
    token_a = (await shown.locator(".token").text_content() or "").strip()
    assert len(token_a) >= 32

    async with PlatformDouble.served() as emsp, emsp.client() as client:
        emsp.tokens_accepted = {"acme-b"}
        posted = await client.post(
            f"{suite.roaming_url}/2.2.1/credentials",
            headers=header(token_a),
            json=emsp.credentials("acme-b"),
        )
        assert posted.status_code == 200, posted.text

        await page.reload()
        row = page.locator("#platforms tr", has_text="ACME <b>eMSP</b>")  # text, not markup
        await expect(row.locator(".state")).to_have_text("registered")
        await expect(row).to_contain_text(f"NL-{emsp.party_id} EMSP")
        await screenshot(page, "roaming")
        await row.locator("form.rotate button").click()
        await expect(row.locator("form.rotate .outcome-text")).to_contain_text(
            "New credentials exchanged"
        )
        page.on("dialog", _accept)
        await row.locator("form.unregister button").click()
        await expect(row.locator("form.unregister .outcome-text")).to_contain_text("Unregistered")
    await page.reload()
    await expect(
        page.locator("#platforms tr", has_text="ACME <b>eMSP</b>").locator(".state")
    ).to_have_text("unregistered")


async def test_an_admin_registers_with_a_platform_and_a_bad_one_is_told(
    page: Page, console_url: str
) -> None:
    await log_in_as_admin(page, console_url)
    await page.goto(console_url + "/roaming")
    form = page.locator("#register-platform")
    await form.locator("summary").click()
    async with PlatformDouble.served() as emsp:
        emsp.tokens_accepted = {"hub-a"}
        await form.locator("input[name=name]").fill("A hub")
        await form.locator("input[name=versionsUrl]").fill(emsp.versions_url)
        await form.locator("input[name=token]").fill("hub-a")
        await form.locator("button[type=submit]").click()
        await expect(form.locator(".outcome-text")).to_have_text(
            "Registered with A hub (OCPI 2.2.1)"
        )
        emsp.versions_offered = ("2.1.1",)
        await form.locator("input[name=token]").fill("hub-a2")
        await form.locator("button[type=submit]").click()
        await expect(form.locator(".outcome-text")).to_contain_text("Not registered:")


async def test_an_operator_finds_tokens_and_a_viewer_sees_no_roaming(
    page: Page, console_url: str, api: httpx.AsyncClient, suite: Suite
) -> None:
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "T"})).json()
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        uid = f"C{emsp.party_id}0042"
        await emsp.push(client, suite.roaming_url, ours, uid, valid=False, whitelist="ALWAYS")
    operator = await make_user(api, "operator")
    await log_in(page, console_url, operator, PASSWORD)
    await page.click("nav a[href='/roaming/tokens']")
    await page.fill("input[name=party]", f"nl-{emsp.party_id}")
    await page.fill("input[name=uid]", uid.lower())
    await page.click("form.filters button[type=submit]")
    row = page.locator("#roaming-tokens tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".uid")).to_have_text(uid)
    await expect(row.locator(".valid")).to_have_text("no")
    forbidden = await page.goto(console_url + "/roaming")
    assert forbidden is not None and forbidden.status == 403

    viewer = await make_user(api, "viewer")
    await page.context.clear_cookies()
    await log_in(page, console_url, viewer, PASSWORD)
    await expect(page.locator("#whoami")).to_contain_text("viewer")
    await expect(page.locator("nav a", has_text=re.compile("^Roaming$"))).to_have_count(0)
