"""The composite schedule on a station's page, in the browser: an operator asks a 1.6 charge point
and sees its periods beside those computed from the stored profile, the differing one marked, and
in words why there are none when it rejects; a viewer has no button and is refused anyway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from csms_shared.ocpp._base import format_datetime
from tests.integration.browser import (
    PASSWORD,
    browser,
    console_url,
    context,
    log_in,
    make_user,
    page,
)
from tests.integration.test_charging_profiles import (
    START,
    answering,
    settled,
    station,
    tx_default,
)
from tests.integration.test_v201_commands import calls

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used by the tests below

AT = format_datetime(START)
# The charge point's own answer: 16 A, then 8 A after half an hour (the stored profile says 10).
ANSWER = {
    "status": "Accepted",
    "connectorId": 1,
    "scheduleStart": AT,
    "chargingSchedule": {
        "duration": 3600,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16},
            {"startPeriod": 1800, "limit": 8},
        ],
    },
}


async def _as(page: Page, console_url: str, api: httpx.AsyncClient, role: str) -> None:
    """Log the browser in as a new user with `role`."""
    await log_in(page, console_url, await make_user(api, role), PASSWORD)
    await expect(page.locator("#whoami")).to_contain_text(role)


async def test_an_operator_sees_the_stations_schedule_beside_the_computed_one(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "1.6")
    profile = tx_default(limit=16)
    profile["schedules"][0]["periods"].append({"startPeriod": 1800, "limit": 10})
    created = await api.post(f"/charge-points/{cp_id}/charging-profiles", json=profile)
    assert created.status_code == 201, created.text
    assert (await settled(api, cp_id))["send"]["status"] == "accepted"
    answering(cp, GetCompositeSchedule=ANSWER)
    await _as(page, console_url, api, "operator")
    await page.goto(f"{console_url}/charge-points/{cp_id}")

    card = page.locator("#composite-schedule")
    form = card.locator("form")
    # The defaults: the station as a whole, an hour, in amperes.
    await expect(form.locator("input[name=connectorId]")).to_have_value("0")
    await expect(form.locator("input[name=duration]")).to_have_value("3600")
    await expect(form.locator("select[name=rateUnit]")).to_have_value("A")
    await form.locator("input[name=connectorId]").fill("1")
    await card.locator("#ask-composite").click()

    rows = card.locator("table.composite-periods tbody tr")
    await expect(rows).to_have_count(2)
    await expect(card.locator(".window-start")).to_have_text(AT)
    first, second = rows.nth(0), rows.nth(1)
    await expect(first.locator("td")).to_have_text(["0", "16 A", "16 A, 3 phases", ""])
    await expect(second.locator("td")).to_have_text(["1800", "8 A", "10 A, 3 phases", "differs"])
    await expect(second).to_have_class("differs")
    await expect(first).not_to_have_class("differs")
    await expect(card.locator(".station-error")).to_have_count(0)
    assert calls(cp, "GetCompositeSchedule") == [
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}
    ]
    # The command is audited as any other, linked from the answer.
    link = card.locator(".composite-window a")
    command_id = (await link.get_attribute("href") or "").rsplit("=", 1)[-1]
    command = (await api.get(f"/commands/{command_id}")).json()
    assert (command["action"], command["status"]) == ("GetCompositeSchedule", "result")

    # A station that rejects: why in words, the computed schedule still there, from now (the
    # profile starts in an hour).
    answering(cp, GetCompositeSchedule={"status": "Rejected"})
    await card.locator("#ask-composite").click()
    await expect(card.locator(".station-error")).to_have_text(
        "The station gave no schedule: The charge point answered Rejected"
    )
    await expect(rows.nth(0).locator("td")).to_have_text(["0", "", "no limit", ""])

    # What the form spells wrong is named, and nothing is sent.
    token = await page.locator("header input[name=csrf_token]").input_value()
    wrong = await page.request.post(
        f"{console_url}/charge-points/{cp_id}/composite-schedule",
        form={"csrf_token": token, "connectorId": "1", "duration": "0", "rateUnit": "kW"},
        headers={"HX-Request": "true"},
    )
    assert wrong.status == 200
    text = await wrong.text()
    assert "Not asked: duration: Input should be greater than or equal to 1" in text
    assert "rateUnit: Input should be &#39;A&#39; or &#39;W&#39;" in text
    assert len(calls(cp, "GetCompositeSchedule")) == 2


async def test_a_viewer_has_no_button_and_is_refused(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "1.6")
    answering(cp, GetCompositeSchedule=ANSWER)
    await _as(page, console_url, api, "viewer")
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    # The page is there, its profiles panel too, but nothing that sends a command.
    await expect(page.locator("#charging-profiles")).to_be_visible()
    await expect(page.locator("#composite-schedule")).to_have_count(0)
    await expect(page.locator("#ask-composite")).to_have_count(0)
    token = await page.locator("header input[name=csrf_token]").input_value()
    refused = await page.request.post(
        f"{console_url}/charge-points/{cp_id}/composite-schedule",
        form={"csrf_token": token, "connectorId": "1", "duration": "3600", "rateUnit": "A"},
    )
    assert refused.status == 403
    assert "operator role" in await refused.text()
    assert calls(cp, "GetCompositeSchedule") == []
