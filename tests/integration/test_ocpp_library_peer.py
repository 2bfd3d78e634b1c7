"""A CP built on another implementation (the `ocpp` library) boots through both gateways."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import connect

from tests.integration.support import eventually

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("gateway", [0, 1])
async def test_ocpp_library_charge_point_boots(
    suite: Any, db: asyncpg.Connection, gateway: int
) -> None:
    cp_id = f"LIB-{gateway}"
    async with connect(
        f"{suite.gateway_url(gateway)}/ocpp/{cp_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as ws:
        cp = ChargePoint(cp_id, ws)
        reader = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call.BootNotification(
                    charge_point_model="LibModel", charge_point_vendor="LibVendor"
                )
            )
            assert boot.status == "Accepted"
            status = await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            assert status is not None
            heartbeat = await cp.call(call.Heartbeat())
            assert heartbeat.current_time.endswith("Z")
        finally:
            reader.cancel()

    async def recorded() -> bool:
        row = await db.fetchrow(
            "SELECT vendor, model FROM registry.charge_points WHERE id = $1", cp_id
        )
        status = await db.fetchval(
            "SELECT status FROM registry.connectors"
            " WHERE charge_point_id = $1 AND connector_id = 1",
            cp_id,
        )
        return bool(row and row["vendor"] == "LibVendor" and status == "Available")

    await eventually(recorded)
