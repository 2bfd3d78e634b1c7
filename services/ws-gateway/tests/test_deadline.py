"""Decision calls leave with a deadline header, not an AMQP expiration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiormq
import pamqp.decode
import pamqp.encode
import pytest

from csms_shared.bus.bundle import encode_replies
from csms_shared.bus.topology import HEADER_BUNDLE, HEADER_DEADLINE
from csms_shared.contracts.envelopes import CallReply
from csms_shared.ocpp.version import OcppVersion
from ws_gateway.bus import GatewayBus
from ws_gateway.call_messages import handling_deadline

V16 = OcppVersion.V16


class Client:
    """Stands in for the BusClient: records each request and answers every call."""

    def __init__(self) -> None:
        self.requests: list[tuple[aiormq.spec.Basic.Properties, float, bool]] = []

    async def request(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: aiormq.spec.Basic.Properties,
        timeout: float,
        *,
        expires: bool = True,
        on_published: Callable[[], None] | None = None,
    ) -> bytes:
        self.requests.append((properties, timeout, expires))
        if on_published is not None:
            on_published()
        await asyncio.sleep(0)
        headers = properties.headers or {}
        if HEADER_BUNDLE in headers:
            return encode_replies([CallReply(payload={})] * int(headers[HEADER_BUNDLE]))
        return CallReply(payload={}).encode()


def _bus(bundle_requests: bool) -> tuple[GatewayBus, Client]:
    bus = GatewayBus("amqp://unused/", "gw-1", 10, bundle_requests=bundle_requests)
    client = Client()
    bus.client = client  # type: ignore[assignment]
    return bus, client


@pytest.mark.parametrize("timeout", [25.0, 10.0, 1.0])
def test_a_fifth_of_the_wait_at_most_5_s_is_kept_for_handling(timeout: float) -> None:
    before = time.time()
    deadline = handling_deadline(timeout)
    assert isinstance(deadline, int)  # milliseconds: AMQP tables keep floats in 32 bits
    kept = min(5.0, timeout / 5)
    assert int((before + timeout - kept) * 1000) <= deadline <= (time.time() + timeout) * 1000


async def test_a_decision_call_carries_a_deadline_and_no_expiration() -> None:
    bus, client = _bus(bundle_requests=False)
    before = time.time()
    await bus.request("CP-1", "m1", "Authorize", {"idTag": "A"}, datetime.now(UTC), 25.0, V16)
    [(properties, timeout, expires)] = client.requests
    assert expires is False and properties.expiration is None and timeout == 25.0
    deadline = (properties.headers or {})[HEADER_DEADLINE]
    assert int((before + 20.0) * 1000) <= deadline <= (time.time() + 20) * 1000
    # It crosses AMQP unchanged (a float would shrink to 32 bits, a minute off).
    _, table = pamqp.decode.field_table(pamqp.encode.field_table(properties.headers))
    assert table[HEADER_DEADLINE] == deadline


async def test_a_bundle_carries_the_earliest_deadline_of_its_calls() -> None:
    bus, client = _bus(bundle_requests=True)
    received = datetime.now(UTC)
    before = time.time()
    # Both queue in one turn of the event loop: they leave as one bundle.
    await asyncio.gather(
        bus.request("CP-1", "m1", "Authorize", {}, received, 10.0, V16),
        bus.request("CP-2", "m2", "Authorize", {}, received, 25.0, V16),
    )
    [(properties, timeout, expires)] = client.requests
    headers = properties.headers or {}
    assert headers[HEADER_BUNDLE] == 2 and expires is False and timeout == 25.0
    # The earlier deadline of the two: 10 s less 2 s, not 25 s less 5 s.
    assert int((before + 8.0) * 1000) <= headers[HEADER_DEADLINE] <= (time.time() + 8.0) * 1000
