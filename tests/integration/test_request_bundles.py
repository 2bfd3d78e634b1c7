"""A gateway's decision calls that queue behind unanswered bundles of their action leave as one
bundle through the real broker; each call gets its own item of the one reply."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aio_pika
import orjson
import pytest

from csms_shared.bus.bundle import decode_bundle, encode_replies
from csms_shared.bus.topology import (
    DECISIONS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_MESSAGE_ID,
    call_routing_key,
)
from csms_shared.contracts.envelopes import CallReply
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.infra import isolated_vhost
from ws_gateway.bus import GatewayBus

pytestmark = pytest.mark.integration
V16 = OcppVersion.V16


class Owner:
    """A stand-in service: takes Authorize messages, answers when the test says so."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self.channel = channel
        self.received: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()
        await self.received.put(message)

    async def answer(self, message: aio_pika.abc.AbstractIncomingMessage, body: bytes) -> None:
        await self.channel.default_exchange.publish(
            aio_pika.Message(body, correlation_id=message.correlation_id),
            routing_key=message.reply_to or "",
        )

    @staticmethod
    def calls(message: aio_pika.abc.AbstractIncomingMessage) -> list[tuple[str, Any]]:
        """(cp, payload) of each call the message carries."""
        headers = message.headers or {}
        if HEADER_BUNDLE in headers:
            return [
                (str(item.headers[HEADER_CHARGE_POINT]), item.payload)
                for item in decode_bundle(message.body, "")
            ]
        return [(str(headers[HEADER_CHARGE_POINT]), orjson.loads(message.body))]

    async def answer_each(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        """Answer every call with a payload naming its CP."""
        replies = [CallReply(payload={"for": cp}) for cp, _ in self.calls(message)]
        if HEADER_BUNDLE in (message.headers or {}):
            await self.answer(message, encode_replies(replies))
        else:
            await self.answer(message, replies[0].encode())


@pytest.fixture
async def bus_and_owner(broker_and_db_base: tuple[str, str]) -> Any:
    """A gateway's bus (one bundle in flight per action) and the owner of Authorize."""
    with isolated_vhost(broker_and_db_base[0]) as url:
        bus = GatewayBus(url, "gw-requests", prefetch=10, request_bundles_in_flight=1)
        await bus.start()
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(DECISIONS.name, call_routing_key("Authorize", OcppVersion.V16))
        owner = Owner(channel)
        await queue.consume(owner.on_message)
        yield bus, owner
        await connection.close()
        await bus.close()


def authorize(bus: GatewayBus, n: int, timeout: float = 10.0) -> asyncio.Task[CallReply]:
    """A CP's Authorize, queued for its bundle in the task's first step: before the test's next
    await can bring anything back from the broker (the answer that lets a bundle leave)."""
    return asyncio.create_task(
        bus.request(f"CP-{n}", f"m{n}", "Authorize", {"idTag": f"T{n}"}, utcnow(), timeout, V16)
    )


async def test_calls_queued_behind_an_unanswered_bundle_leave_together(
    bus_and_owner: Any,
) -> None:
    bus, owner = bus_and_owner
    first = authorize(bus, 0)
    lone = await asyncio.wait_for(owner.received.get(), 5)
    # The only bundle in flight is unanswered: the next calls wait for it.
    later = [authorize(bus, n) for n in range(1, 6)]
    assert HEADER_BUNDLE not in (lone.headers or {})
    assert lone.headers[HEADER_MESSAGE_ID] == "m0"
    await owner.answer_each(lone)
    assert await first == CallReply(payload={"for": "CP-0"})
    # The next message is the bundle of all five: none of them left before the answer.
    bundle = await asyncio.wait_for(owner.received.get(), 5)
    assert bundle.headers[HEADER_BUNDLE] == 5
    assert bundle.reply_to == bus.queue_name and bundle.correlation_id
    assert owner.calls(bundle) == [(f"CP-{n}", {"idTag": f"T{n}"}) for n in range(1, 6)]
    await owner.answer_each(bundle)
    assert [await task for task in later] == [
        CallReply(payload={"for": f"CP-{n}"}) for n in range(1, 6)
    ]


async def test_a_refusal_of_the_whole_bundle_reaches_every_call(bus_and_owner: Any) -> None:
    bus, owner = bus_and_owner
    first = authorize(bus, 0)
    lone = await asyncio.wait_for(owner.received.get(), 5)
    later = [authorize(bus, n) for n in (1, 2)]
    await owner.answer_each(lone)
    await first
    bundle = await asyncio.wait_for(owner.received.get(), 5)
    refusal = {"error": {"code": "InternalError", "description": "unreadable bundle"}}
    await owner.answer(bundle, orjson.dumps(refusal))
    assert [await task for task in later] == [CallReply.model_validate(refusal)] * 2


async def test_an_unreadable_reply_to_a_bundle_fails_each_call_with_internal_error(
    bus_and_owner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bus, owner = bus_and_owner
    first = authorize(bus, 0)
    lone = await asyncio.wait_for(owner.received.get(), 5)
    later = [authorize(bus, n) for n in (1, 2, 3)]
    await owner.answer_each(lone)
    await first
    bundle = await asyncio.wait_for(owner.received.get(), 5)
    with caplog.at_level(logging.ERROR, "ws_gateway.call_messages"):
        await owner.answer(bundle, encode_replies([CallReply(payload={})]))  # one for three
        for task in later:
            error = (await task).error
            assert error is not None and error.code == "InternalError"
    assert "the answer to 3 Authorize is unreadable" in caplog.text
    assert "a reply to a bundle of 3 holds 1 items" in caplog.text


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"payload": {}, "error": {"code": "InternalError"}}', "either a payload or an error"),
        (b'{"error": {"description": "no code"}}', "error.code: Field required"),
    ],
)
async def test_an_unreadable_answer_to_a_decision_call_is_internal_error_and_logged(
    bus_and_owner: Any, caplog: pytest.LogCaptureFixture, answer: bytes, problem: str
) -> None:
    bus, owner = bus_and_owner
    call = authorize(bus, 0)
    lone = await asyncio.wait_for(owner.received.get(), 5)
    with caplog.at_level(logging.ERROR, "ws_gateway.call_messages"):
        await owner.answer(lone, answer)
        reply = await call
    assert reply.error is not None and reply.error.code == "InternalError"
    assert "the answer to 1 Authorize is unreadable (not a CallReply:" in caplog.text
    assert problem in caplog.text
    # Nothing else changed: the next call goes and is answered.
    after = authorize(bus, 1)
    await owner.answer_each(await asyncio.wait_for(owner.received.get(), 5))
    assert await after == CallReply(payload={"for": "CP-1"})


async def test_a_call_that_expired_while_queued_is_not_sent(bus_and_owner: Any) -> None:
    bus, owner = bus_and_owner
    first = authorize(bus, 0)
    lone = await asyncio.wait_for(owner.received.get(), 5)
    expiring = authorize(bus, 1, timeout=0.2)
    with pytest.raises(TimeoutError):
        await expiring
    waiting = authorize(bus, 2)
    await owner.answer_each(lone)
    await first
    message = await asyncio.wait_for(owner.received.get(), 5)
    assert owner.calls(message) == [("CP-2", {"idTag": "T2"})]
    await owner.answer_each(message)
    assert await waiting == CallReply(payload={"for": "CP-2"})


async def test_without_bundles_every_call_is_a_message_of_its_own(
    broker_and_db_base: tuple[str, str],
) -> None:
    with isolated_vhost(broker_and_db_base[0]) as url:
        bus = GatewayBus(url, "gw-single", prefetch=10, bundle_requests=False)
        await bus.start()
        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue("", exclusive=True)
            await queue.bind(DECISIONS.name, call_routing_key("Authorize", OcppVersion.V16))
            owner = Owner(channel)
            await queue.consume(owner.on_message)
            tasks = [authorize(bus, n) for n in range(3)]
            messages = [await asyncio.wait_for(owner.received.get(), 5) for _ in range(3)]
            assert all(HEADER_BUNDLE not in (m.headers or {}) for m in messages)
            for message in messages:
                await owner.answer_each(message)
            answers = [await task for task in tasks]
            assert [a.result()["for"] for a in answers] == ["CP-0", "CP-1", "CP-2"]
        finally:
            await connection.close()
            await bus.close()
