"""The charge point page's Messages section: the CP's frames from the message log, in a real
browser, new ones appearing without a reload, a CALL and its answer found by message id."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.integration.browser import browser, console_url, context, log_in_as_admin, page

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used below

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def test_a_cps_frames_show_on_its_page_and_new_ones_follow(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    table = page.locator("#cp-messages-table")
    # The writer stores in batches: the frames come within seconds, the page polls every 5 s.
    await expect(table).to_contain_text("BootNotification", timeout=20_000)
    await expect(table).to_contain_text("from the CP")
    await expect(table).to_contain_text("to the CP")
    await expect(table).to_contain_text("CALLRESULT")

    # A frame sent now appears without a reload.
    await cp.call(
        "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    )
    await expect(table).to_contain_text("StatusNotification", timeout=20_000)

    # Its message id shows the CALL and its answer alone.
    status_row = table.locator("tbody tr", has_text="StatusNotification").first
    await status_row.locator("a").click()
    await expect(page.locator("#cp-messages")).to_contain_text("show all")
    rows = page.locator("#cp-messages-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("CALLRESULT")
    await expect(rows.nth(1)).to_contain_text("CALL")
