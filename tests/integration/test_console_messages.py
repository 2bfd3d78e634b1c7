"""The charge point page's Messages section: the CP's frames from the message log, in a real
browser, new ones pushed to it (server-sent events, no re-fetch of the section), a CALL and its
answer found by message id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Request, expect

from tests.integration.browser import (
    browser,
    console_url,
    context,
    log_in_as_admin,
    log_in_as_admin_over_http,
    page,
)

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used below

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
# A frame that is not OCPP-J, kept as its text: markup, and CRs that would end an event-stream
# line, so a row rendered carelessly would inject HTML or events of its own.
MALFORMED = "[2, not json\r<b>bold</b>\revent: resync\rdata: <i>x</i>"


async def test_a_cps_frames_show_on_its_page_and_new_ones_are_pushed(
    page: Page, console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    table = page.locator("#cp-messages-table")
    # The writer stores in batches: the frames come within seconds, read or pushed.
    await expect(table).to_contain_text("BootNotification", timeout=20_000)
    await expect(table).to_contain_text("from the CP")
    await expect(table).to_contain_text("to the CP")
    await expect(table).to_contain_text("CALLRESULT")
    await page.wait_for_selector("#cp-messages-table[data-live-open]", state="attached")

    # A frame sent now is pushed: the page asks for nothing but its stream.
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url.split("?")[0])

    page.on("request", record)
    await cp.call(
        "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    )
    await expect(table).to_contain_text("StatusNotification", timeout=20_000)
    await expect(table.locator("tbody tr").first).to_contain_text("StatusNotification")
    # Text from the CP stays text, its CRs inside the row it came in.
    assert (await cp.send_raw(MALFORMED))[0] == 4
    await expect(table).to_contain_text("<b>bold</b>", timeout=20_000)
    await expect(table.locator("b, i")).to_have_count(0)
    page.remove_listener("request", record)
    section = f"{console_url}/charge-points/{cp_id}/messages"
    assert section not in requests, requests
    # A row read again by the stream (the seconds before its position) is shown once.
    positions = await table.locator("tbody tr").evaluate_all(
        "rows => rows.map(row => row.getAttribute('data-position'))"
    )
    assert all(positions) and len(set(positions)) == len(positions), positions

    # Its message id shows the CALL and its answer alone, and follows nothing.
    status_row = table.locator("tbody tr", has_text="StatusNotification").first
    await status_row.locator("a").click()
    await expect(page.locator("#cp-messages")).to_contain_text("show all")
    rows = page.locator("#cp-messages-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("CALLRESULT")
    await expect(rows.nth(1)).to_contain_text("CALL")
    await expect(page.locator("#cp-messages-table[data-live]")).to_have_count(0)

    # "show all" follows the log again.
    await page.locator("#cp-messages a", has_text="show all").click()
    await page.wait_for_selector("#cp-messages-table[data-live-open]", state="attached")
    await expect(table).to_contain_text("BootNotification")


async def _stream(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    """The lines of an event stream up to its first event's blank line."""
    lines: list[str] = []
    async with client.stream("GET", url, headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            lines.append(line)
            if line == "" and any(seen.startswith("event: ") for seen in lines):
                return lines
    raise AssertionError(f"the stream ended without an event: {lines}")


async def test_the_stream_sends_rendered_rows_and_a_stranger_position_resyncs(
    console_url: str, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    live = f"/charge-points/{cp_id}/messages/live"
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as client:
        await log_in_as_admin_over_http(client)
        # Followed from now, the seconds before included: the boot's frames, as table rows.
        lines = await _stream(client, live, {})
        frame = [line for line in lines if line.startswith(("id: ", "event: ", "data: "))]
        assert frame[0].startswith("id: ") and frame[1] == "event: frame", lines
        assert frame[2].startswith("data: <tr ") and len(frame) > 3, lines
        # A position the log never gave: the page reads the section again.
        other = await _stream(client, live, {"Last-Event-ID": "elsewhere:12"})
        assert "event: resync" in other
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as anonymous:
        assert (await anonymous.get(live)).status_code == 303
