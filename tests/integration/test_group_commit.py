"""Many charge points at once through both gateways: their decision calls leave in bundles and
are answered from group transactions, and each CP still gets its own answers and its own,
correctly stored transaction."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, metric

pytestmark = pytest.mark.integration

CPS = 40


async def session_of(cp: ChargePointClient, tag: str, meter_start: int) -> dict[str, Any]:
    """Authorize, StartTransaction, StopTransaction; what the CP was told."""
    authorized = await cp.call("Authorize", {"idTag": tag}, timeout=30)
    started = await cp.call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": tag,
            "meterStart": meter_start,
            "timestamp": format_datetime(utcnow()),
        },
        timeout=30,
    )
    stopped = await cp.call(
        "StopTransaction",
        {
            "transactionId": started["transactionId"],
            "idTag": tag,
            "meterStop": meter_start + 1500,
            "timestamp": format_datetime(utcnow()),
        },
        timeout=30,
    )
    return {"authorized": authorized, "started": started, "stopped": stopped}


async def test_a_crowd_charging_at_once_gets_its_own_answers_and_transactions(
    suite: Suite, connect_cp: Any, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    run = uuid.uuid4().hex[:6]
    tags = [f"GC{run}{n:03d}" for n in range(CPS)]
    for tag in tags:
        assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cps = await asyncio.gather(*(connect_cp(f"CP-GC-{run}-{n}", gateway=n % 2) for n in range(CPS)))
    boots = await asyncio.gather(
        *(
            cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "G"})
            for cp in cps
        )
    )
    assert {boot["status"] for boot in boots} == {"Accepted"}
    service_metrics = suite.internal_ports["session-service"]
    groups_before = await metric(service_metrics, "csms_group_calls_count")

    results = await asyncio.gather(
        *(session_of(cp, tag, 1000 * n) for n, (cp, tag) in enumerate(zip(cps, tags, strict=True)))
    )

    assert {r["authorized"]["idTagInfo"]["status"] for r in results} == {"Accepted"}
    assert {r["started"]["idTagInfo"]["status"] for r in results} == {"Accepted"}
    assert {r["stopped"]["idTagInfo"]["status"] for r in results} == {"Accepted"}
    ids = [r["started"]["transactionId"] for r in results]
    assert len(set(ids)) == CPS
    rows = await db.fetch(
        "SELECT id, charge_point_id, id_tag, meter_start, meter_stop, energy_wh"
        " FROM sessions.transactions WHERE id = ANY($1::int[])",
        ids,
    )
    stored = {row["id"]: row for row in rows}
    for n, tx_id in enumerate(ids):
        row = stored[tx_id]
        assert (row["charge_point_id"], row["id_tag"]) == (f"CP-GC-{run}-{n}", tags[n])
        assert (row["meter_start"], row["meter_stop"], row["energy_wh"]) == (
            1000 * n,
            1000 * n + 1500,
            1500,
        )
    # Forty CPs calling at once: some calls queued and were answered from shared transactions.
    assert await metric(service_metrics, "csms_group_calls_count") > groups_before
