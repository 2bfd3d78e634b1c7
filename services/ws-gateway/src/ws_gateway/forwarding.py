"""A checked CALL on its way to the service that owns it, and what its answer means for the
connection: the CALLERROR a CP gets when the service is missing, behind, silent or unreachable,
and the registration status a BootNotification's answer gives."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from csms_shared import tracing
from csms_shared.bus.calls import notification_response
from csms_shared.contracts import problems
from csms_shared.ocpp import JsonObject, v16, v201
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.errors import InternalError, NotImplementedOcppError
from csms_shared.ocpp.framing import Call
from csms_shared.ocpp.version import OcppVersion

from .bus import GatewayBus
from .call_metrics import refused_behind, refused_ownerless
from .call_refusals import BrokerAway, Overloaded, Ownerless, Unroutable

log = logging.getLogger(__name__)

# The answer to a BootNotification in each version: its status is the CP's registration.
BootAnswer = v16.BootNotificationResponse | v201.BootNotificationResponse
BOOT_ANSWERS: Mapping[OcppVersion, type[BootAnswer]] = {
    OcppVersion.V16: v16.BootNotificationResponse,
    OcppVersion.V201: v201.BootNotificationResponse,
}


async def forward(
    bus: GatewayBus,
    call_timeout: float,
    version: OcppVersion,
    cp_id: str,
    call: Call,
    received: datetime,
) -> JsonObject:
    """Publish a checked CALL to its service; its answer (raises OcppError). With traces on,
    in a span the service's handling joins (`traceparent` on the call)."""
    if not tracing.active():
        return await _forward(bus, call_timeout, version, cp_id, call, received)
    attributes = {"ocpp.charge_point_id": cp_id, "ocpp.message_id": call.message_id}
    with tracing.tracer.start_as_current_span(
        call.action, kind=SpanKind.SERVER, attributes=attributes
    ):
        return await _forward(bus, call_timeout, version, cp_id, call, received)


async def _forward(
    bus: GatewayBus,
    call_timeout: float,
    version: OcppVersion,
    cp_id: str,
    call: Call,
    received: datetime,
) -> JsonObject:
    try:
        if catalog(version).is_notification(call.action, call.payload):
            await bus.notify(cp_id, call.message_id, call.action, call.payload, received, version)
            return notification_response(call.action)
        reply = await bus.request(
            cp_id,
            call.message_id,
            call.action,
            call.payload,
            received,
            call_timeout,
            version,
            in_order=catalog(version).ends_transaction(call.action, call.payload),
        )
    except Unroutable:
        raise NotImplementedOcppError(f"No service handles {call.action}") from None
    except Overloaded as exc:
        refused_behind(exc)
        raise InternalError(
            f"The central system is busy: {call.action} was not taken; retry later",
            {"retryAfterSeconds": exc.retry_after},
        ) from None
    except Ownerless as exc:
        refused_ownerless(exc)
        raise InternalError(
            f"{call.action} cannot be taken now: {exc.reason}; retry later",
            {"retryAfterSeconds": exc.retry_after},
        ) from None
    except TimeoutError:
        raise InternalError(f"{call.action} was not answered in time; retry later") from None
    except BrokerAway as exc:  # logged once by the bus, not once per call
        raise InternalError(
            f"{call.action} could not reach its service; retry",
            {"retryAfterSeconds": exc.retry_after},
        ) from None
    except (AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
        # The broker connection or channel went (a node fail-over): nothing was taken.
        log.warning("%s: %s not forwarded: %r", cp_id, call.action, exc)
        raise InternalError(f"{call.action} could not reach its service; retry") from None
    return reply.result()  # raises its CALLERROR


def registration_of(cp_id: str, version: OcppVersion, payload: JsonObject) -> str:
    """The registration status a BootNotification's answer gives, read through the version's
    model; an answer that does not fit it is not passed on (the CP retries)."""
    try:
        answer = BOOT_ANSWERS[version].model_validate(payload)
    except ValidationError as exc:
        log.error("%s: unreadable BootNotification answer: %s", cp_id, problems(exc))
        raise InternalError("The central system's answer was unreadable") from None
    return answer.status.value
