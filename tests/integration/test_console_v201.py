"""The console's command panel for either OCPP version: a station's own version's forms, and
operator actions whose one button sends each version its own command."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.integration.browser import browser, console_url, context, log_in_as_admin, page
from tests.integration.support import eventually

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used by the tests below

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def _act(page: Page, name: str, **fields: str) -> str:
    panel = page.locator(f'details[data-operator-action="{name}"]')
    await panel.locator("summary").click()
    for field, value in fields.items():
        element = panel.locator(f'[name="{field}"]')
        if await element.evaluate("e => e.tagName") == "SELECT":
            await element.select_option(value)
        else:
            await element.fill(value)
    await panel.locator("button[type=submit]").click()
    outcome = panel.locator(".outcome-text")
    await expect(outcome).to_be_visible()
    return await outcome.inner_text()


@pytest.mark.parametrize(("version", "reset"), [("1.6", "Hard"), ("2.0.1", "Immediate")])
async def test_one_reset_button_sends_each_version_its_reset(
    page: Page,
    console_url: str,
    api: httpx.AsyncClient,
    connect_cp: Any,
    cp_id: str,
    version: str,
    reset: str,
) -> None:
    if version == "2.0.1":
        cp = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    else:
        cp = await connect_cp(cp_id, 0)
        await cp.call("BootNotification", BOOT)

    async def recorded() -> bool:
        return (await api.get(f"/charge-points/{cp_id}")).json().get("ocppVersion") == version

    await eventually(recorded)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"configurationKey": []} if action == "GetConfiguration" else {"status": "Accepted"}

    cp.responder = answer
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    await expect(page.locator("#cp-ocpp-version")).to_have_text(version)
    # The command forms are the station's version's.
    ours, theirs = (
        ("RemoteStartTransaction", "RequestStartTransaction")
        if version == "1.6"
        else ("RequestStartTransaction", "RemoteStartTransaction")
    )
    await expect(page.locator(f'details[data-action="{ours}"]')).to_have_count(1)
    await expect(page.locator(f'details[data-action="{theirs}"]')).to_have_count(0)

    assert await _act(page, "reset", type="hard") == "Sent and answered: Accepted"
    assert ("Reset", {"type": reset}) in cp.received_calls


async def test_an_operator_sets_a_device_model_variable_from_its_row(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    report = {
        "requestId": 1,
        "generatedAt": "2026-11-25T08:00:00Z",
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [
                    {"type": "Actual", "value": "300", "mutability": "ReadWrite"}
                ],
            },
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
                "variableAttribute": [
                    {"type": "Actual", "value": "22000", "mutability": "ReadOnly"}
                ],
            },
        ],
    }
    assert await cp.call("NotifyReport", report) == {}

    async def reported() -> bool:
        found = (await api.get(f"/charge-points/{cp_id}/variables")).json()
        return bool(found["total"] == 2)

    await eventually(reported)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        [data] = payload["setVariableData"]
        result = {"component": data["component"], "variable": data["variable"]}
        return {"setVariableResult": [{"attributeStatus": "Accepted", **result}]}

    cp.responder = answer
    status = {
        "timestamp": "2026-11-25T09:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 2,
    }
    assert await cp.call("StatusNotification", status) == {}

    async def shown() -> bool:
        found = (await api.get(f"/charge-points/{cp_id}")).json()["connectors"]
        return any(c.get("evseConnectorId") == 2 for c in found)

    await eventually(shown)
    await log_in_as_admin(page, console_url)
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    # The connectors table names each EVSE and the connector within it.
    await expect(page.locator("#connectors thead")).to_contain_text("EVSE / connector")
    await expect(page.locator("#connectors tbody tr").first).to_contain_text("1 / 2")
    available = page.locator('#connectors tr[data-evse="1"][data-connector="2"] .status')
    await expect(available).to_have_text("Available")
    row = page.locator('tr[data-variable="OCPPCommCtrlr.HeartbeatInterval"]')
    await expect(row.locator(".value")).to_have_text("300")
    # A read-only variable has no form to set it.
    await expect(page.locator('tr[data-variable="EVSE.Power"] form')).to_have_count(0)
    await row.locator('input[name="value"]').fill("120")
    await row.locator("button[type=submit]").click()
    await expect(row.locator(".outcome-text")).to_have_text("Sent and answered: Accepted")
    assert cp.received_calls[-1] == (
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "120",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeType": "Actual",
                }
            ]
        },
    )

    async def kept() -> bool:
        found = (await api.get(f"/charge-points/{cp_id}/variables")).json()["items"]
        return any(v["variable"] == "HeartbeatInterval" and v["value"] == "120" for v in found)

    await eventually(kept)
