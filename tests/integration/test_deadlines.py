"""A decision call taken after its deadline: answered InternalError, not handled, not
dead-lettered (the gateway has answered its CP already)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import aiormq
import asyncpg
import httpx
import orjson
import pytest

from csms_shared.bus.publish import publish
from csms_shared.bus.topology import (
    DECISIONS,
    HEADER_CHARGE_POINT,
    HEADER_DEADLINE,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    call_routing_key,
)
from csms_shared.ocpp._base import format_datetime, utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.conftest import Suite

pytestmark = pytest.mark.integration


@pytest.fixture
async def channel(suite: Suite) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel with publisher confirms: the test plays a gateway."""
    connection = await aio_pika.connect(suite.infra.broker_url)
    yield await connection.channel(publisher_confirms=True)
    await connection.close()


async def _ask(
    channel: aio_pika.abc.AbstractChannel, cp_id: str, payload: dict[str, Any], deadline: int
) -> dict[str, Any]:
    """A StartTransaction as a gateway publishes it, with `deadline` (ms); the reply."""
    replies = await channel.declare_queue(exclusive=True, auto_delete=True)
    gateway = f"deadline-{uuid.uuid4().hex[:8]}"
    headers = {
        HEADER_CHARGE_POINT: cp_id,
        HEADER_MESSAGE_ID: uuid.uuid4().hex,
        HEADER_GATEWAY: gateway,
        HEADER_RECEIVED_AT: utcnow().isoformat(),
        HEADER_DEADLINE: deadline,
    }
    await publish(
        channel,
        orjson.dumps(payload),
        exchange=DECISIONS.name,  # as a gateway sends a decision
        routing_key=call_routing_key("StartTransaction", OcppVersion.V16),
        properties=aiormq.spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=2,
            headers=headers,
            reply_to=replies.name,
            correlation_id="c-1",
        ),
        mandatory=True,
    )
    async with replies.iterator() as messages:
        async with asyncio.timeout(30):
            async for message in messages:
                await message.ack()
                return dict(orjson.loads(message.body))
    raise AssertionError("no reply")


async def test_a_start_past_its_deadline_stores_nothing_and_leaves_no_dead_letter(
    channel: aio_pika.abc.AbstractChannel,
    api: httpx.AsyncClient,
    db: asyncpg.Connection,
    cp_id: str,
) -> None:
    tag = f"D{uuid.uuid4().hex[:10]}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    start = {
        "connectorId": 1,
        "idTag": tag,
        "meterStart": 100,
        "timestamp": format_datetime(utcnow()),
    }
    late = await _ask(channel, cp_id, start, int((time.time() - 1) * 1000))
    assert late["error"]["code"] == "InternalError"
    assert "deadline" in late["error"]["description"]
    stored = "SELECT count(*) FROM sessions.transactions WHERE charge_point_id = $1"
    assert await db.fetchval(stored, cp_id) == 0

    # The same call in time is handled: one transaction.
    on_time = await _ask(channel, cp_id, start, int((time.time() + 20) * 1000))
    assert on_time["payload"]["idTagInfo"]["status"] == "Accepted"
    assert await db.fetchval(stored, cp_id) == 1

    # Acked, not dead-lettered: the session-service's dead-letter queue holds none of it.
    letters = await api.get("/dead-letters/session-service.calls", params={"limit": 500})
    assert letters.status_code == 200, letters.text
    assert not [
        m for m in letters.json()["items"] if m["headers"].get(HEADER_CHARGE_POINT) == cp_id
    ]
