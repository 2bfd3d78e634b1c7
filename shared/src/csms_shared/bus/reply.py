"""Reply: the outcome of each call, as the bus body the gateway turns into a CALLRESULT or a
CALLERROR; and where replies (and re-sent bundle items) are published."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aio_pika.abc import AbstractChannel

from ..ocpp._base import OcppModel
from ..ocpp.errors import InternalError, OcppError
from .bundle import encode_replies_fast
from .client import message_properties
from .delivery import Delivery, is_bundle
from .fast_envelopes import FastCallReply
from .publish import publish
from .topology import CALLS, HEADER_CHARGE_POINT

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one call: its reply (`CallReply`, written by msgspec) and the metric outcome
    (ok, ocpp_error, internal_error, expired)."""

    reply: FastCallReply
    label: str = "ok"

    @property
    def failed(self) -> bool:
        """A fault of ours (not the call's): a notification goes back to its queue."""
        return self.label == "internal_error"


def answered(response: OcppModel) -> Outcome:
    """The outcome of a call its handler answered."""
    return Outcome(FastCallReply(payload=response.to_payload()))


def error_outcome(action: str, headers: Mapping[str, Any], exc: BaseException) -> Outcome:
    """The CALLERROR outcome of a call that raised: its own error, or InternalError."""
    if isinstance(exc, OcppError):
        return Outcome(FastCallReply.refusal(exc), "ocpp_error")
    log.error("%s handler failed for %s", action, headers.get(HEADER_CHARGE_POINT), exc_info=exc)
    error = InternalError("The central system could not handle the call")
    return Outcome(FastCallReply.refusal(error), "internal_error")


class Outbound(Protocol):
    """Where the pipeline publishes: replies to askers, and bundle items re-sent alone."""

    async def reply(self, to: str, correlation_id: str | None, body: bytes) -> None: ...

    async def republish(
        self, routing_key: str, headers: Mapping[str, Any], payload: Any
    ) -> None: ...


class ChannelOutbound:
    """Outbound on the service's channels."""

    def __init__(self, channel: AbstractChannel, reply_channel: AbstractChannel) -> None:
        self.channel = channel
        # Replies go to the asker's exclusive queue, transient: no publisher confirms (the
        # asker's answer, or its timeout, is the confirmation), so none is waited for.
        self.reply_channel = reply_channel

    async def reply(self, to: str, correlation_id: str | None, body: bytes) -> None:
        """Publish a reply to the asker's queue."""
        await publish(
            self.reply_channel,
            body,
            exchange="",
            routing_key=to,
            properties=message_properties(correlation_id=correlation_id),
        )

    async def republish(self, routing_key: str, headers: Mapping[str, Any], payload: Any) -> None:
        """One item of a bundle as a message of its own, persistent and confirmed."""
        await publish(
            self.channel,
            orjson.dumps(payload),
            exchange=CALLS.name,
            routing_key=routing_key,
            properties=message_properties(persistent=True, headers=dict(headers)),
        )


async def send_reply(outbound: Outbound, message: Delivery, outcomes: list[Outcome]) -> None:
    """Answer the asker, if the delivery asks for an answer: a single call's reply, or a
    bundle's one reply per item in the items' order."""
    if not message.reply_to:
        return
    if is_bundle(message):
        body = encode_replies_fast([outcome.reply for outcome in outcomes])
    else:
        [outcome] = outcomes
        body = outcome.reply.encode()
    await outbound.reply(message.reply_to, message.correlation_id, body)
