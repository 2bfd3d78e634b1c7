"""The README's charging session done entirely in the browser: a card, a remote start, live
updates, a stop, the energy and its chart; and the admin's pages."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.integration.browser import (
    browser,
    console_url,
    context,
    live_open,
    log_in_as_admin,
    page,
    screenshot,
)

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used by the tests below

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def _send(page: Page, action: str, **fields: str) -> str:
    panel = page.locator(f'details[data-action="{action}"]')
    await panel.locator("summary").click()
    for name, value in fields.items():
        field = panel.locator(f'[name="{name}"]')
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    await panel.locator("button[type=submit]").click()
    outcome = panel.locator(".outcome-text")
    await expect(outcome).to_be_visible()
    return await outcome.inner_text()


async def test_id_tag_created_and_blocked_in_the_browser(
    page: Page, console_url: str, cp_id: str, connect_cp: Any
) -> None:
    tag = cp_id[-10:].upper()
    await log_in_as_admin(page, console_url)
    await page.goto(console_url + "/id-tags")
    await page.click("#new-tag summary")
    await page.fill("#new-tag input[name=idTag]", tag)
    await page.fill("#new-tag input[name=maxConcurrentTx]", "1")
    await page.click("#new-tag button[type=submit]")
    await expect(page.locator("#new-tag .outcome-text")).to_have_text(f"Created {tag}")
    await page.goto(f"{console_url}/id-tags?q={tag}")
    row = page.locator(f'tr[data-tag="{tag}"]')
    await expect(row.locator(".tag-status")).to_have_text("Accepted")
    await row.locator("button.block").click()
    await expect(page.locator(f'tr[data-tag="{tag}"] .tag-status')).to_have_text("Blocked")
    await screenshot(page, "id-tags")
    # The central system now refuses the card.
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Blocked"


async def test_a_charging_session_from_the_browser(
    page: Page, console_url: str, cp_id: str, connect_cp: Any
) -> None:
    tag = "S" + cp_id[-9:].upper()
    await log_in_as_admin(page, console_url)
    await page.goto(console_url + "/id-tags")
    await page.click("#new-tag summary")
    await page.fill("#new-tag input[name=idTag]", tag)
    await page.click("#new-tag button[type=submit]")
    await expect(page.locator("#new-tag .outcome-text")).to_have_text(f"Created {tag}")

    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await cp.call(
        "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    )
    started: dict[str, Any] = {}

    async def behave(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "RemoteStopTransaction":
            started["stop"] = payload["transactionId"]
        return {"status": "Accepted"}

    cp.responder = behave
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await live_open(page)
    text = await _send(page, "RemoteStartTransaction", idTag=tag, connectorId="1")
    assert text == "Sent and answered: Accepted"
    assert ("RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) in cp.received_calls

    # What the CP does after accepting: the operator watches it live.
    start = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": "2026-11-22T10:00:00Z"},
    )
    tx = start["transactionId"]
    await cp.call(
        "StatusNotification", {"connectorId": 1, "status": "Charging", "errorCode": "NoError"}
    )
    await expect(page.locator("#connectors")).to_contain_text("Charging")
    for minute, (energy, power) in enumerate([(1.5, 7.1), (2.6, 7.3), (3.9, 7.2), (5.0, 7.0)]):
        await cp.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [
                    {
                        "timestamp": f"2026-11-22T10:{10 * (minute + 1):02d}:00Z",
                        "sampledValue": [
                            {
                                "value": str(energy),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "kWh",
                            },
                            {"value": str(power), "measurand": "Power.Active.Import", "unit": "kW"},
                        ],
                    }
                ],
            },
        )
    await page.goto(f"{console_url}/transactions?cp={cp_id}")
    await expect(page.locator(f'tr[data-tx="{tx}"]')).to_contain_text("active")

    await page.goto(f"{console_url}/charge-points/{cp_id}")
    text = await _send(page, "RemoteStopTransaction", transactionId=str(tx))
    assert text == "Sent and answered: Accepted" and started["stop"] == tx
    await cp.call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 5000, "timestamp": "2026-11-22T10:45:00Z"},
    )
    await page.goto(f"{console_url}/transactions/{tx}")
    await expect(page.locator("#tx-energy")).to_have_text("4000")
    await expect(page.locator("#tx-state")).to_have_text("finished")
    for chart in ("energy", "power"):
        line = page.locator(f"#chart-{chart} polyline")
        await expect(line).to_have_count(1)
        assert len((await line.get_attribute("points") or "").split()) == 4
        assert (await line.bounding_box() or {"width": 0})["width"] > 100
    await screenshot(page, "transaction")
    await page.goto(console_url + "/reports/energy?from=2026-11-22T00:00:00Z")
    await expect(page.locator("#energy-chart rect").first).to_be_visible()
    await screenshot(page, "energy")
    await page.goto(f"{console_url}/commands?cp={cp_id}")
    await expect(page.locator("#commands-log .by").first).to_have_text("user:admin")
    await screenshot(page, "commands")


async def test_admin_creates_a_user_in_the_browser(page: Page, console_url: str) -> None:
    await log_in_as_admin(page, console_url)
    await page.goto(console_url + "/users")
    await page.click("#new-user summary")
    await page.fill("#new-user input[name=username]", "ops-browser")
    await page.select_option("#new-user select[name=role]", "operator")
    # 12 characters pass the browser's check; the server refuses a common word with digits.
    await page.fill("#new-user input[name=password]", "password1234")
    await page.click("#new-user button[type=submit]")
    await expect(page.locator("#new-user .outcome-text")).to_contain_text("Not created")
    await page.fill("#new-user input[name=password]", "a-real-pass-8e1f7")
    await page.click("#new-user button[type=submit]")
    await expect(page.locator("#new-user .outcome-text")).to_have_text(
        "Created ops-browser (operator)"
    )
    await page.goto(console_url + "/users")
    await expect(page.locator('tr[data-user="ops-browser"]')).to_contain_text("operator")
    await screenshot(page, "users")


async def test_a_tariff_made_in_the_browser_prices_the_cps_next_transaction(
    page: Page, console_url: str, cp_id: str, connect_cp: Any, api: Any
) -> None:
    name = f"Depot {cp_id[-8:]}"
    await log_in_as_admin(page, console_url)
    await page.goto(console_url + "/tariffs")
    await page.click("#new-tariff summary")
    await page.fill("#new-tariff input[name=name]", name)
    await page.fill("#new-tariff input[name=pricePerKwh]", "0.5")
    await page.fill("#new-tariff input[name=currency]", "eur")
    await page.fill("#new-tariff input[name=chargePointIds]", cp_id)
    await page.click("#new-tariff button[type=submit]")
    # A lower-case currency is refused with the reason, nothing is stored.
    await expect(page.locator("#new-tariff .outcome-text")).to_contain_text("currency")
    await page.fill("#new-tariff input[name=currency]", "EUR")
    await page.click("#new-tariff button[type=submit]")
    await expect(page.locator("#new-tariff .outcome-text")).to_have_text(f"Created tariff {name}")
    await page.goto(console_url + "/tariffs")
    row = page.locator("#tariffs tr", has_text=name)
    await expect(row.locator(".scope")).to_have_text(cp_id)
    await row.locator("a").click()
    await page.fill("input[name=sessionFee]", "1")
    await page.click("form.card button[type=submit]")
    await expect(page.locator("form.card .outcome-text")).to_have_text("Saved")
    await screenshot(page, "tariff")

    tag = f"T{cp_id[-10:].upper()}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": "2026-11-21T08:00:00Z"},
    )
    tx = started["transactionId"]
    await cp.call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 2000, "timestamp": "2026-11-21T08:30:00Z"},
    )
    await page.goto(
        f"{console_url}/reports/energy?cp={cp_id}&from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z"
    )
    # 1 + 2 kWh x 0.50
    await expect(page.locator("#by-tariff")).to_contain_text(name)
    await expect(page.locator("#by-tariff")).to_contain_text("2 EUR")
