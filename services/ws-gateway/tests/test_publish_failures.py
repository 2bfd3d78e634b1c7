"""What a CALL fails with when its bundle could not be sent: the connection (or the channel with
it) going under a publish in flight reads as BrokerAway (answered at once, with its retry hint),
the same as for the calls that come after the loss is noticed; a returned publish as
Unroutable; anything else, a channel the broker closed for what was sent included, as itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import aiormq
import pytest
from aio_pika.exceptions import DeliveryError
from aiormq.exceptions import (
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
    ConnectionClosed,
)

from csms_shared.bus.client import BusClient
from csms_shared.ocpp.version import OcppVersion
from ws_gateway.call_refusals import BrokerAway, Unroutable
from ws_gateway.calls_out import CallsOut, failure

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Failing:
    """A client whose publishes and requests raise `error` before anything is sent."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def publish(self, *_: object, **__: object) -> None:
        self.calls += 1
        raise self.error

    async def request(self, *_: object, **__: object) -> bytes:
        self.calls += 1
        raise self.error


def calls_out(client: Failing) -> CallsOut:
    return CallsOut(
        cast(BusClient, client),
        "gw-1",
        owners=None,
        bundle=True,
        bundle_wait=0.0,
        bundle_requests=True,
        request_bundles_in_flight=1,
        refuse_calls_behind=0,
    )


def closed() -> Exception:
    return ConnectionClosed(320, "CONNECTION_FORCED - broker lost")


@pytest.mark.parametrize(
    "error",
    [closed(), ChannelInvalidStateError("channel closed"), ConnectionResetError("reset")],
    ids=["connection-closed", "channel-closed", "socket-reset"],
)
async def test_a_notification_whose_connection_goes_mid_publish_is_broker_away(
    error: Exception,
) -> None:
    client = Failing(error)
    out = calls_out(client)
    with pytest.raises(BrokerAway) as raised:
        await out.notify("CP-1", "m1", "MeterValues", {}, NOW, OcppVersion.V16)
    assert client.calls == 1
    assert raised.value.__cause__ is error
    assert raised.value.retry_after == BrokerAway.retry_after


async def test_a_decision_call_not_sent_for_a_closed_channel_is_broker_away() -> None:
    client = Failing(ChannelInvalidStateError("channel closed"))
    out = calls_out(client)
    with pytest.raises(BrokerAway):
        await out.request("CP-1", "m1", "Authorize", {}, NOW, 5, OcppVersion.V16)
    assert client.calls == 1


async def test_an_end_not_taken_for_a_lost_connection_is_broker_away() -> None:
    client = Failing(closed())
    out = calls_out(client)
    with pytest.raises(BrokerAway):
        await out.take("CP-1", "m1", "StopTransaction", {}, NOW, 5, OcppVersion.V16)


async def test_a_returned_notification_is_unroutable() -> None:
    returned = DeliveryError(None, cast(aiormq.spec.Basic.Return, None))
    out = calls_out(Failing(returned))
    with pytest.raises(Unroutable):
        await out.notify("CP-1", "m1", "MeterValues", {}, NOW, OcppVersion.V16)


def test_other_failures_are_kept_and_broker_away_is_not_wrapped() -> None:
    odd = ValueError("odd")
    assert failure("Authorize", odd) is odd
    refused = ChannelPreconditionFailed("PRECONDITION_FAILED - what was sent")  # no broker gone
    assert failure("Authorize", refused) is refused
    away = BrokerAway("gone")
    assert failure("Authorize", away) is away
    timeout = TimeoutError()
    assert failure("Authorize", timeout) is timeout
