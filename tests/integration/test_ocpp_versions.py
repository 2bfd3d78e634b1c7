"""One network, two OCPP versions: each CP's version, stored and filtered on, and the device
model of 2.0.1 stations."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.support import eventually

pytestmark = pytest.mark.integration


async def test_a_cp_shows_the_version_it_speaks_and_the_list_filters_on_it(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    tag = f"v-{uuid.uuid4().hex[:8]}"
    assert (await api.patch(f"/charge-points/{cp_id}", json={"tags": [tag]})).status_code == 200

    async def shown() -> dict[str, Any] | None:
        found: dict[str, Any] = (await api.get(f"/charge-points/{cp_id}")).json()
        return found if found["online"] else None

    assert (await eventually(shown))["ocppVersion"] == "1.6"
    v16 = (await api.get("/charge-points", params={"tag": tag, "ocppVersion": "1.6"})).json()
    assert [c["id"] for c in v16["items"]] == [cp_id]
    v201 = (await api.get("/charge-points", params={"tag": tag, "ocppVersion": "2.0.1"})).json()
    assert v201["total"] == 0
    wrong = await api.get("/charge-points", params={"ocppVersion": "2.0"})
    assert wrong.status_code == 422
    assert "ocppVersion" in wrong.text


async def test_a_1_6_cp_has_no_device_model_and_the_filters_are_bounded(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    page = (await api.get(f"/charge-points/{cp_id}/variables")).json()
    assert (page["items"], page["total"]) == ([], 0)
    too_long = await api.get(f"/charge-points/{cp_id}/variables", params={"component": "c" * 51})
    assert too_long.status_code == 422
