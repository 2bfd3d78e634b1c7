"""Meter values by UTC month of arrival: stored in this month's partition, read back over REST,
months created ahead, a month past SESSION_METER_VALUES_RETENTION_DAYS dropped whole."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from csms_shared.partitions import Period, period_start, shift
from session_service.meter_partitions import METER_VALUES
from tests.integration.conftest import Suite
from tests.integration.support import eventually, metric
from tests.integration.test_sessions_charging import extra_session_service, iso

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def partitions(db: asyncpg.Connection) -> set[str]:
    """The partitions of sessions.meter_values there are."""
    rows = await db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'sessions.meter_values'::regclass"
    )
    return {row["relname"] for row in rows}


def months_from_now(n: int) -> str:
    """The partition name of the month `n` months from this one."""
    this_month = period_start(datetime.now(UTC).date(), Period.MONTH)
    return METER_VALUES.partition_name(shift(this_month, n, Period.MONTH))


async def test_meter_values_land_in_the_month_they_arrived_and_read_back_over_rest(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    tag = cp_id[-10:].upper()
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    now = datetime.now(UTC).replace(microsecond=0)
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": iso(now)},
    )
    tx_id = started["transactionId"]
    # A CP whose clock is years off: its readings are stored by our clock's month all the same.
    readings = [
        {"timestamp": "2001-01-01T00:00:00Z", "sampledValue": [{"value": "100"}]},
        {"timestamp": iso(now), "sampledValue": [{"value": "200"}]},
    ]
    await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": readings})

    async def read_back() -> dict[str, Any] | None:
        response = await api.get(f"/transactions/{tx_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        # The gateway answers MeterValues before the session-service stores them, and the
        # count and the page are read apart: wait for both.
        done = body["meterValuesTotal"] == 2 and len(body["meterValues"]) == 2
        return body if done else None

    body = await eventually(read_back)
    assert [mv["value"] for mv in body["meterValues"]] == ["100", "200"]
    listed = (await api.get("/meter-values", params={"transactionId": tx_id})).json()
    assert [mv["value"] for mv in listed["items"]] == ["100", "200"]

    rows = await db.fetch(
        "SELECT tableoid::regclass::text AS partition, received_at FROM sessions.meter_values"
        " WHERE transaction_id = $1",
        tx_id,
    )
    for row in rows:
        received = row["received_at"].astimezone(UTC)
        assert abs(received - datetime.now(UTC)) < timedelta(minutes=5)
        month = METER_VALUES.partition_name(period_start(received.date(), Period.MONTH))
        assert row["partition"] == f"sessions.{month}"


async def test_months_ahead_exist(db: asyncpg.Connection, suite: Suite) -> None:
    # SESSION_METER_VALUES_PARTITIONS_AHEAD: 2, the default.
    wanted = {months_from_now(n) for n in range(3)}

    async def created() -> bool:
        return wanted <= await partitions(db)

    await eventually(created)


async def test_a_month_past_retention_is_dropped_whole(
    suite: Suite, db: asyncpg.Connection, tmp_path: Path
) -> None:
    this_month = period_start(datetime.now(UTC).date(), Period.MONTH)
    old = shift(this_month, -24, Period.MONTH)  # ended some 23 months ago
    recent = shift(this_month, -6, Period.MONTH)  # ended 4 to 5 months ago
    cp = f"RET-{uuid.uuid4().hex[:8]}"
    for month in (old, recent):
        await db.execute(METER_VALUES.create_sql(month))
        at = datetime(month.year, month.month, 15, 12, tzinfo=UTC)
        await db.execute(
            "INSERT INTO sessions.meter_values (charge_point_id, connector_id, timestamp, value,"
            " source, received_at) VALUES ($1, 1, $2, '1', 'MeterValues', $2)",
            cp,
            at,
        )
    try:
        # A replica beside the suite's own (which keeps meter values for ever): the two
        # maintain the same table, in turns.
        async with extra_session_service(
            suite,
            tmp_path,
            SESSION_METER_VALUES_RETENTION_DAYS="400",
            SESSION_METER_VALUES_PARTITIONS_AHEAD="3",
            SESSION_PARTITION_INTERVAL="0.5",
        ) as (_, port):

            async def dropped() -> bool:
                return METER_VALUES.partition_name(old) not in await partitions(db)

            await eventually(dropped)
            kept = await partitions(db)
            assert METER_VALUES.partition_name(recent) in kept
            assert {months_from_now(n) for n in range(4)} <= kept
            name = "csms_partitions_dropped_total"
            assert await metric(port, name, table="sessions.meter_values") >= 1
        left = await db.fetch(
            "SELECT received_at FROM sessions.meter_values WHERE charge_point_id = $1", cp
        )
        assert [row["received_at"].month for row in left] == [recent.month]
    finally:
        await db.execute(f"DROP TABLE IF EXISTS sessions.{METER_VALUES.partition_name(recent)}")
        await db.execute(f"DROP TABLE IF EXISTS sessions.{METER_VALUES.partition_name(old)}")
