"""The overview's "needs attention": a pending registration approved from the console, and the
network's recent security events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.browser import browser, console_url, context, log_in_as_admin, page
from tests.integration.support import eventually
from tests.integration.test_registration_policy import policy

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page", "policy"]  # fixtures used below

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def test_a_pending_cp_is_approved_from_the_overview(
    page: Page,
    console_url: str,
    api: httpx.AsyncClient,
    connect_cp: Any,
    cp_id: str,
    policy: Any,
) -> None:
    policy("pending")
    cp = await connect_cp(cp_id)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Pending"
    # Other tests' CPs wait too: search this one among them.
    listed = await api.get("/charge-points", params={"registrationStatus": "Pending", "q": cp_id})
    assert [item["id"] for item in listed.json()["items"]] == [cp_id]
    accepted = await api.get(
        "/charge-points", params={"registrationStatus": "Accepted", "q": cp_id}
    )
    assert accepted.json()["items"] == []
    bad = await api.get("/charge-points", params={"registrationStatus": "Maybe"})
    assert bad.status_code == 422

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = answer
    await log_in_as_admin(page, console_url)
    waiting = page.locator("#pending-registrations")
    await expect(waiting).to_contain_text("waiting for approval")
    await waiting.click()
    await expect(page).to_have_url(f"{console_url}/charge-points?registration=Pending")
    await page.locator("input[name=q]").fill(cp_id)
    await page.locator("form.filters button[type=submit]").click()
    await expect(page.locator("#cp-rows")).to_contain_text(cp_id)
    await page.locator(f'tr[data-cp="{cp_id}"] a').click()
    await expect(page.locator("#cp-registration")).to_have_text("Pending")
    await page.locator("#approve").click()
    await expect(page.locator("#cp-registration")).to_have_text("Accepted")
    assert page.url == f"{console_url}/charge-points/{cp_id}"

    async def triggered() -> bool:
        return ("TriggerMessage", {"requestedMessage": "BootNotification"}) in cp.received_calls

    await eventually(triggered)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"

    # Accepted, it reports a security event: the overview lists it among the latest.
    await cp.call(
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": format_datetime(utcnow())},
    )

    async def recorded() -> bool:
        latest = (await api.get("/security-events", params={"limit": 20})).json()["items"]
        return any(e["chargePointId"] == cp_id for e in latest)

    await eventually(recorded)
    await page.goto(console_url + "/")
    events = page.locator("#security-events")
    await expect(events).to_contain_text(cp_id)
    await expect(events).to_contain_text("TamperDetectionActivated")
