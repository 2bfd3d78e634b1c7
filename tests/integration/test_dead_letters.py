"""Dead letters through the admin API: listed with their reason and x-death, replayed, discarded."""

from __future__ import annotations

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
    CALLS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    call_routing_key,
)
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.conftest import Suite
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

QUEUE = "station-registry.calls"


@pytest.fixture
async def channel(suite: Suite) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel with publisher confirms: the test plays a gateway."""
    connection = await aio_pika.connect(suite.infra.broker_url)
    yield await connection.channel(publisher_confirms=True)
    await connection.close()


async def _publish_call(
    channel: aio_pika.abc.AbstractChannel,
    action: str,
    body: bytes,
    headers: dict[str, Any],
    expiration: str | None = None,
) -> None:
    await publish(
        channel,
        body,
        exchange=CALLS.name,
        routing_key=call_routing_key(action, OcppVersion.V16),
        properties=aiormq.spec.Basic.Properties(
            content_type="application/json", delivery_mode=2, headers=headers, expiration=expiration
        ),
        mandatory=True,
    )


async def _letters(api: httpx.AsyncClient, gateway: str) -> list[dict[str, Any]]:
    """The dead letters of QUEUE that this test's `gateway` header marks."""
    response = await api.get(f"/dead-letters/{QUEUE}", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [m for m in response.json()["items"] if m["headers"].get(HEADER_GATEWAY) == gateway]


async def test_poison_message_is_listed_replayed_and_discarded(
    api: httpx.AsyncClient, channel: aio_pika.abc.AbstractChannel
) -> None:
    gateway = f"poison-{uuid.uuid4().hex[:8]}"
    # A bundle header on a body that is no bundle: the registry can hand it to no handler and
    # rejects it, so the broker dead-letters it.
    await _publish_call(
        channel,
        "StatusNotification",
        b"\xffnot a bundle",
        {HEADER_GATEWAY: gateway, HEADER_BUNDLE: 2},
    )
    [letter] = await eventually(lambda: _letters(api, gateway), timeout=30)
    assert letter["reason"] == "rejected"
    assert letter["exchange"] == CALLS.name
    assert letter["routingKey"] == "v16.StatusNotification"
    assert letter["deaths"] == 1
    [death] = letter["headers"]["x-death"]
    assert death["queue"] == QUEUE and death["reason"] == "rejected"
    assert "bodyBase64" in letter and "body" not in letter  # not UTF-8: given as base64

    # Listing left it where it was.
    assert [m["id"] for m in await _letters(api, gateway)] == [letter["id"]]
    queues = (await api.get("/dead-letters")).json()["items"]
    registry = next(q for q in queues if q["queue"] == QUEUE)
    assert registry["declared"] and registry["messages"] >= 1

    # Replayed, the registry gets it again (and rejects it again: a second death, same id).
    response = await api.post(f"/dead-letters/{QUEUE}/replay", json={"ids": [letter["id"]]})
    assert response.status_code == 200, response.text
    assert response.json() == {"done": [letter["id"]], "missing": []}

    async def died_again() -> list[dict[str, Any]]:
        return [m for m in await _letters(api, gateway) if m["id"] == letter["id"]]

    # The replay took it out of the dead-letter queue; it is back only if it died again. Its
    # x-death counts 2 on RabbitMQ 3.x; 4.x ignores x-death headers a client publishes, so there
    # the replayed message's record starts again at 1.
    [again] = await eventually(died_again, timeout=30)
    assert again["deaths"] in (1, 2) and again["reason"] == "rejected"

    response = await api.post(f"/dead-letters/{QUEUE}/discard", json={"ids": [letter["id"]]})
    assert response.json() == {"done": [letter["id"]], "missing": []}
    assert await _letters(api, gateway) == []
    # Nothing left to discard: the id is reported missing, nothing else is touched.
    response = await api.post(f"/dead-letters/{QUEUE}/discard", json={"ids": [letter["id"]]})
    assert response.json() == {"done": [], "missing": [letter["id"]]}


async def test_a_call_that_expired_unhandled_is_handled_once_replayed(
    suite: Suite,
    api: httpx.AsyncClient,
    channel: aio_pika.abc.AbstractChannel,
    db: asyncpg.Connection,
    cp_id: str,
) -> None:
    gateway = f"expired-{uuid.uuid4().hex[:8]}"
    payload = {"connectorId": 1, "errorCode": "NoError", "status": "Faulted"}
    headers = {
        HEADER_CHARGE_POINT: cp_id,
        HEADER_MESSAGE_ID: "m-1",
        HEADER_GATEWAY: gateway,
        HEADER_RECEIVED_AT: utcnow().isoformat(),
    }
    # With the registry stopped, the notification expires in its queue and is dead-lettered.
    suite.services["station-registry"].stop()
    try:
        await _publish_call(
            channel, "StatusNotification", orjson.dumps(payload), headers, expiration="1"
        )
        [letter] = await eventually(lambda: _letters(api, gateway), timeout=30)
    finally:
        suite.restart_service("station-registry")
    assert letter["reason"] == "expired"
    assert orjson.loads(letter["body"]) == payload
    assert letter["headers"][HEADER_CHARGE_POINT] == cp_id

    response = await api.post(f"/dead-letters/{QUEUE}/replay", json={"ids": [letter["id"]]})
    assert response.json() == {"done": [letter["id"]], "missing": []}

    async def stored() -> Any:
        return await db.fetchval(
            "SELECT status FROM registry.connectors WHERE charge_point_id = $1", cp_id
        )

    assert await eventually(stored, timeout=30) == "Faulted"
    assert await _letters(api, gateway) == []


async def test_bad_requests_change_nothing(suite: Suite, api: httpx.AsyncClient) -> None:
    response = await api.get("/dead-letters/no-such.calls")
    assert response.status_code == 404
    assert "station-registry.calls" in response.json()["detail"]
    response = await api.post(f"/dead-letters/{QUEUE}/replay", json={"ids": ["not-an-id"]})
    assert response.status_code == 422
    response = await api.post(f"/dead-letters/{QUEUE}/discard", json={"every": True})
    assert response.status_code == 422
    response = await api.get(f"/dead-letters/{QUEUE}", params={"limit": 0})
    assert response.status_code == 422
    created = await api.post("/api-keys", json={"name": "dl-operator", "role": "operator"})
    operator = {"Authorization": f"Bearer {created.json()['key']}"}
    response = await api.get("/dead-letters", headers=operator)
    assert response.status_code == 403
    response = await api.post(f"/dead-letters/{QUEUE}/discard", json={}, headers=operator)
    assert response.status_code == 403
