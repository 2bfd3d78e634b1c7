"""docs/rest.md's charging session done entirely in the browser: a card, a remote start, live
updates, a stop, the energy and its chart; and the admin's pages."""

from __future__ import annotations

import csv
import io
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.browser import (
    before_first_poll,
    browser,
    console_url,
    context,
    live_open,
    log_in_as_admin,
    page,
    screenshot,
)
from tests.integration.support import eventually

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
    page: Page, console_url: str, cp_id: str, connect_cp: Any, api: httpx.AsyncClient
) -> None:
    tag = "S" + cp_id[-9:].upper()
    # The CP's own tariff: it wins over any default another test left in force.
    tariff = f"Session {cp_id[-8:]}"
    created = await api.post(
        "/tariffs",
        json={
            "name": tariff,
            "pricePerKwh": "0.25",
            "sessionFee": "0.50",
            "currency": "EUR",
            "chargePointIds": [cp_id],
        },
    )
    assert created.status_code == 201, created.text
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
    loaded = time.monotonic()
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
    # Live, before the connectors' first poll.
    await expect(page.locator("#connectors")).to_contain_text(
        "Charging", timeout=before_first_poll(loaded)
    )
    # In our terms: the connector is Occupied, the car on it Charging (docs/vocabulary.md).
    row = page.locator('#connectors tr[data-evse="1"][data-connector="1"]')
    await expect(row.locator(".status")).to_have_text("Occupied")
    await expect(row.locator(".car")).to_have_text("Charging")
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
    await expect(page.locator("#tx-energy")).to_have_text("4.00 kWh")
    await expect(page.locator("#tx-state")).to_have_text("finished")
    # 4 kWh x 0.25 + 0.50, in cents as a bill writes it; 10:00 to 10:45
    await expect(page.locator("#tx-cost")).to_have_text("1.50 EUR")
    await expect(page.locator("#tx-duration")).to_have_text("45 min")
    for chart in ("energy", "power"):
        line = page.locator(f"#chart-{chart} polyline")
        await expect(line).to_have_count(1)
        assert len((await line.get_attribute("points") or "").split()) == 4
        assert (await line.bounding_box() or {"width": 0})["width"] > 100
    await screenshot(page, "transaction")
    await page.goto(console_url + "/reports/energy?from=2026-11-22T00:00:00Z")
    await expect(page.locator("#energy-chart rect").first).to_be_visible()
    await screenshot(page, "energy")
    download = await page.request.get(
        f"{console_url}/reports/energy",
        params={
            "format": "csv",
            "cp": cp_id,
            "from": "2026-11-22T00:00:00Z",
            "to": "2026-11-23T00:00:00Z",
        },
    )
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(await download.text())))
    assert rows == [
        ["day", "chargePointId", "transactions", "energyKWh", "cost", "currency", "tariff"],
        ["2026-11-22", cp_id, "1", "4.0", "1.5", "EUR", tariff],
    ]
    await page.goto(f"{console_url}/commands?cp={cp_id}")
    await expect(page.locator("#commands-log .by").first).to_have_text("user:admin")
    await screenshot(page, "commands")


async def test_admin_creates_and_changes_a_user_in_the_browser(
    page: Page, console_url: str, api: httpx.AsyncClient
) -> None:
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

    # The admin changes the role, resets the password, then disables the account.
    row = page.locator('tr[data-user="ops-browser"]')
    await row.locator("select[name=role]").select_option("viewer")
    await row.locator("input[name=password]").fill("another-pass-5c2d9")
    await row.locator("button[type=submit]").click()
    await expect(row.locator(".outcome-text")).to_have_text(
        "ops-browser: viewer, enabled, password reset"
    )
    token = await api.post(
        "/auth/token", data={"username": "ops-browser", "password": "another-pass-5c2d9"}
    )
    assert token.status_code == 200, token.text
    old = await api.post(
        "/auth/token", data={"username": "ops-browser", "password": "a-real-pass-8e1f7"}
    )
    assert old.status_code == 401
    await page.goto(console_url + "/users")
    row = page.locator('tr[data-user="ops-browser"]')
    await expect(row).to_contain_text("viewer")
    await row.locator("select[name=disabled]").select_option("yes")
    await row.locator("button[type=submit]").click()
    await expect(row.locator(".outcome-text")).to_have_text("ops-browser: viewer, disabled")
    refused = await api.post(
        "/auth/token", data={"username": "ops-browser", "password": "another-pass-5c2d9"}
    )
    assert refused.status_code == 401


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
    await expect(row.locator(".vat")).to_have_text("—")
    await expect(row.locator(".parking")).to_have_text("0")
    await row.locator("a").click()
    await page.fill("input[name=sessionFee]", "1")
    # A negative parking fee is refused, naming it; 0.10 a minute is kept.
    await page.fill("input[name=parkingPerMinuteFee]", "-1")
    await page.click("form.card button[type=submit]")
    await expect(page.locator("form.card .outcome-text")).to_contain_text("parking_per_minute_fee")
    await page.fill("input[name=parkingPerMinuteFee]", "0.10")
    # A VAT rate over 100 % is refused, naming it; 19 % is kept.
    await page.fill("input[name=vat]", "119")
    await page.click("form.card button[type=submit]")
    await expect(page.locator("form.card .outcome-text")).to_contain_text("vat")
    await page.fill("input[name=vat]", "19")
    await page.click("form.card button[type=submit]")
    await expect(page.locator("form.card .outcome-text")).to_have_text("Saved")
    await screenshot(page, "tariff")
    await page.goto(console_url + "/tariffs")
    listed = page.locator("#tariffs tr", has_text=name)
    await expect(listed.locator(".vat")).to_have_text("19 %")
    await expect(listed.locator(".parking")).to_have_text("0.1")

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
    # 1 + 2 kWh x 0.50 = 2.00, with 19 % VAT what the driver pays: 2.38.
    await expect(page.locator("#by-tariff")).to_contain_text(name)
    await expect(page.locator("#by-tariff")).to_contain_text("2.38 EUR")
    await page.goto(f"{console_url}/transactions/{tx}")
    await expect(page.locator("#tx-cost")).to_have_text("2.38 EUR")
    await expect(page.locator("#tx-cost-vat")).to_have_text(
        "2.00 EUR excl. VAT, 2.38 EUR incl. 19 % VAT"
    )
    # The station never said a charging state: no parking is billed.
    await expect(page.locator("#tx-parking")).to_contain_text("0 min 00 s")


async def test_an_id_tag_edited_unblocked_and_deleted_in_the_browser(
    page: Page, console_url: str, cp_id: str, api: httpx.AsyncClient
) -> None:
    tag, parent = "E" + cp_id[-9:].upper(), "P" + cp_id[-9:].upper()
    for one in (tag, parent):
        assert (await api.post("/id-tags", json={"idTag": one})).status_code == 201
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/id-tags/{tag}")
    await page.select_option("select[name=status]", "Blocked")
    await page.fill("input[name=expiryDate]", "2031-01-31T00:00:00Z")
    await page.fill("input[name=parentIdTag]", parent)
    await page.fill("input[name=maxConcurrentTx]", "2")
    await page.click("form.card button[type=submit]")
    await expect(page.locator("form.card .outcome-text")).to_have_text("Saved")
    await screenshot(page, "id-tag")
    stored = (await api.get(f"/id-tags/{tag}")).json()
    assert (stored["status"], stored["parentIdTag"], stored["maxConcurrentTx"]) == (
        "Blocked",
        parent,
        2,
    )
    assert stored["expiryDate"].startswith("2031-01-31T00:00:00")

    await page.goto(f"{console_url}/id-tags?q={tag}")
    row = page.locator(f'tr[data-tag="{tag}"]')
    await expect(row).to_contain_text(parent)
    await row.locator("button.unblock").click()
    await expect(page).to_have_url(console_url + "/id-tags")
    await page.goto(f"{console_url}/id-tags?q={tag}")
    await expect(row.locator(".tag-status")).to_have_text("Accepted")
    await row.locator("button.delete").click()
    await expect(page).to_have_url(console_url + "/id-tags")
    await page.goto(f"{console_url}/id-tags?q={tag}")
    await expect(page.locator("#id-tags")).to_contain_text("No id tag matches")
    assert (await api.get(f"/id-tags/{tag}")).status_code == 404


async def test_a_stale_transaction_closed_in_the_browser(
    page: Page,
    console_url: str,
    cp_id: str,
    connect_cp: Any,
    api: httpx.AsyncClient,
    db: asyncpg.Connection,
) -> None:
    tag = "C" + cp_id[-9:].upper()
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    started = await cp.call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": tag,
            "meterStart": 100,
            "timestamp": format_datetime(utcnow() - timedelta(days=2)),
        },
    )
    tx = started["transactionId"]
    # What the sweep does to a transaction silent for SESSION_STALE_AFTER (a day).
    flagged = await db.execute(
        "UPDATE sessions.transactions SET last_seen_at = now() - interval '2 days',"
        " stale_since = now() WHERE id = $1 AND stop_time IS NULL",
        tx,
    )
    assert flagged == "UPDATE 1"
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/transactions?cp={cp_id}&stale=yes")
    row = page.locator(f'tr[data-tx="{tx}"]')
    await expect(row).to_contain_text("active (stale)")
    await screenshot(page, "transactions")
    await row.locator("a").first.click()
    reason = "CP replaced on site; session ended"
    await page.fill("input[name=reason]", reason)
    await page.click("form.card button[type=submit]")
    await expect(page.locator("form.card .outcome-text")).to_have_text("Closed")
    await page.reload()
    await expect(page.locator("#tx-state")).to_have_text("finished")
    await expect(page.locator("#tx-closed")).to_have_text(f"operator: {reason}")
    await expect(page.locator("table.small")).to_contain_text("closed_by_operator")
    await expect(page.locator("table.small")).to_contain_text(reason)
    await page.goto(f"{console_url}/transactions?cp={cp_id}")
    await expect(row).to_contain_text("finished")


async def test_a_reservation_made_from_the_panel_is_listed(
    page: Page, console_url: str, cp_id: str, connect_cp: Any, api: httpx.AsyncClient
) -> None:
    tag = "N" + cp_id[-9:].upper()
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    reservation = random.randrange(1, 2**31)
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    text = await _send(
        page,
        "ReserveNow",
        connectorId="1",
        expiryDate=format_datetime(utcnow() + timedelta(hours=1)),
        idTag=tag,
        reservationId=str(reservation),
    )
    assert text == "Sent and answered: Accepted"

    async def recorded() -> bool:
        listed = await api.get("/reservations", params={"chargePointId": cp_id})
        return any(r["reservationId"] == reservation for r in listed.json()["items"])

    await eventually(recorded)
    await page.goto(f"{console_url}/reservations?cp={cp_id}")
    await expect(page.locator("table tbody")).to_contain_text(str(reservation))
    await expect(page.locator("table tbody")).to_contain_text(tag)
    await screenshot(page, "reservations")


async def test_an_api_key_created_and_revoked_in_the_browser(
    page: Page, console_url: str, api: httpx.AsyncClient
) -> None:
    name = f"billing-{uuid.uuid4().hex[:8]}"
    await log_in_as_admin(page, console_url)
    await page.goto(console_url + "/api-keys")
    await page.click("#new-key summary")
    await page.fill("#new-key input[name=name]", name)
    await page.select_option("#new-key select[name=role]", "viewer")
    await page.click("#new-key button[type=submit]")
    await expect(page.locator("#new-key .outcome-text")).to_have_text(
        f"Created {name}; copy the key now, it is not shown again"
    )
    key = (await page.locator("#new-key .answer").inner_text()).strip()
    base = str(api.base_url)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        assert (await client.get("/status")).status_code == 200
        await page.goto(console_url + "/api-keys")
        row = page.locator("tr", has_text=name)
        await expect(row).to_contain_text("viewer")
        await screenshot(page, "api-keys")
        page.once("dialog", lambda dialog: dialog.accept())
        await row.locator("button").click()
        await expect(row.locator(".outcome-text")).to_have_text("Revoked")
        assert (await client.get("/status")).status_code == 401
    await page.goto(console_url + "/api-keys")
    await expect(row.locator("button")).to_have_count(0)
