"""Publishing straight on aiormq, without holding the channel for the socket write."""

from __future__ import annotations

from typing import cast

import aiormq
from aio_pika.abc import AbstractChannel
from aiormq.abc import ConfirmationFrameType


async def publish(
    channel: AbstractChannel,
    body: bytes,
    *,
    exchange: str,
    routing_key: str,
    properties: aiormq.spec.Basic.Properties,
    mandatory: bool = False,
) -> ConfirmationFrameType | None:
    """Publish `body`; on a channel with publisher confirms, return once the broker confirmed.

    aiormq holds the channel's lock until the writer task has put each publish on the socket
    (`wait=True`, its default, and aio-pika's): a channel then carries one publish per few
    event-loop turns, and a busy process's publishes queue behind each other. The confirm is
    what tells the message is safe, so nothing waits for the write (`wait=False`). Skipping
    aio-pika's Message also saves building and checking one per publish. A basic.return of a
    mandatory publish raises aio_pika's DeliveryError, as `Exchange.publish` does. The
    message carries `user_id`, the user this connection logged in as.
    """
    # The abstract channel does not declare `wait`; aiormq's Channel, the one it hands out, does.
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    if properties.user_id is None:
        # The broker refuses a user_id other than the login's, so a receiver can trust it
        # (bus/access.py); set on every message, whoever built its properties.
        properties.user_id = underlay.connection.url.user
    return await underlay.basic_publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        properties=properties,
        mandatory=mandatory,
        wait=False,
    )
