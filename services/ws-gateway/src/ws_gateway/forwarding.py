"""A checked CALL on its way to the service that owns it, and what its answer means for the
connection: the CALLERROR a CP gets when the service is missing, behind, silent or unreachable,
and the registration status a BootNotification's answer gives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from csms_shared import tracing
from csms_shared.bus.calls import notification_response
from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.contracts import problems
from csms_shared.contracts.envelopes import CallReply
from csms_shared.contracts.rpc import EndedIdToken, SessionsRpc, StopIdTag
from csms_shared.contracts.rpc_base import RpcMethod
from csms_shared.ocpp import INT32_MAX, INT32_MIN, JsonObject, v16, v201
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.errors import InternalError, NotImplementedOcppError
from csms_shared.ocpp.framing import Call
from csms_shared.ocpp.version import OcppVersion

from .bus import GatewayBus
from .call_metrics import ANSWERED_APART, judged_without, refused_behind, refused_ownerless
from .call_refusals import BrokerAway, Overloaded, Ownerless, Unroutable
from .settings import Settings

log = logging.getLogger(__name__)

# The answer to a BootNotification in each version: its status is the CP's registration.
BootAnswer = v16.BootNotificationResponse | v201.BootNotificationResponse
BOOT_ANSWERS: Mapping[OcppVersion, type[BootAnswer]] = {
    OcppVersion.V16: v16.BootNotificationResponse,
    OcppVersion.V201: v201.BootNotificationResponse,
}


@dataclass(frozen=True, slots=True)
class Timing:
    """How long a CP's CALL may wait: for its service's answer (`call_timeout`), and, for a
    transaction's end taken at once, before it is answered without the service
    (`end_answer_after`, from when the gateway forwards it; see `answer_taken`)."""

    call_timeout: float
    end_answer_after: float


_TIMINGS: dict[tuple[float, float], Timing] = {}


def timing_of(settings: Settings) -> Timing:
    """The settings' `Timing` (one per value, shared by every connection)."""
    key = (settings.call_timeout, settings.end_answer_after)
    found = _TIMINGS.get(key)
    if found is None:
        found = _TIMINGS[key] = Timing(*key)
    return found


async def forward(
    bus: GatewayBus,
    timing: Timing,
    version: OcppVersion,
    cp_id: str,
    call: Call,
    received: datetime,
) -> JsonObject:
    """Publish a checked CALL to its service; its answer (raises OcppError). With traces on,
    in a span the service's handling joins (`traceparent` on the call)."""
    if not tracing.active():
        return await _forward(bus, timing, version, cp_id, call, received)
    attributes = {"ocpp.charge_point_id": cp_id, "ocpp.message_id": call.message_id}
    with tracing.tracer.start_as_current_span(
        call.action, kind=SpanKind.SERVER, attributes=attributes
    ):
        return await _forward(bus, timing, version, cp_id, call, received)


async def _forward(
    bus: GatewayBus,
    timing: Timing,
    version: OcppVersion,
    cp_id: str,
    call: Call,
    received: datetime,
) -> JsonObject:
    call_timeout = timing.call_timeout
    try:
        if catalog(version).is_notification(call.action, call.payload):
            await bus.notify(cp_id, call.message_id, call.action, call.payload, received, version)
            return notification_response(call.action)
        if catalog(version).answered_apart(call.action, call.payload):
            started = asyncio.get_running_loop().time()
            answer = await bus.take(
                cp_id, call.message_id, call.action, call.payload, received, call_timeout, version
            )
            return await answer_taken(bus, timing, started, version, cp_id, call, received, answer)
        reply = await bus.request(
            cp_id,
            call.message_id,
            call.action,
            call.payload,
            received,
            call_timeout,
            version,
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


# How long an action's ends go on being answered apart at once after one was answered apart.
LATE_HOLD = 10.0
# The least time a judgment apart is given, even when the call's timeout is all but spent.
MIN_BUDGET = 1.0
R = TypeVar("R", bound=BaseModel)


def _in_time(
    late: dict[tuple[OcppVersion, str], float],
    key: tuple[OcppVersion, str],
    deadline: float,
    answer: asyncio.Future[CallReply],
) -> None:
    """An end's owner answered: in time (by `deadline`), its ends wait for it again."""
    if answer.cancelled() or answer.exception() is not None:
        return
    if asyncio.get_running_loop().time() <= deadline:
        late.pop(key, None)


async def answer_taken(
    bus: GatewayBus,
    timing: Timing,
    started: float,
    version: OcppVersion,
    cp_id: str,
    call: Call,
    received: datetime,
    answer: asyncio.Future[CallReply],
) -> JsonObject:
    """The answer to a transaction's end the broker holds (`GatewayBus.take`): its owner's,
    when it comes within `end_answer_after` of the call's arrival (so a healthy system answers
    from what it stored, as any call); else, when the owner is behind a bulk backlog, one that
    needs nothing the backlog holds (`Catalog.answered_apart`): the end is taken and stored
    in order, and the station is not made to send it again. A 1.6 StopTransaction gets the
    idTagInfo of the idTag it names (`_judged`), a 2.0.1 Ended the idTokenInfo of its idToken
    if it names one (`_judged_201`), without totalCost: its total needs the transaction's
    events before it.

    While its owner is late (an end of the action was answered apart within `LATE_HOLD`
    seconds, and no owner's answer came in time since), an end is answered apart as soon as
    it is taken: under a backlog each would wait out `end_answer_after` in vain. The first
    owner's answer in time (`_in_time`) ends that."""
    loop = asyncio.get_running_loop()
    key = (version, call.action)
    late = bus.late_ends
    answer.add_done_callback(partial(_in_time, late, key, started + timing.end_answer_after))
    try:
        wait = 0.0 if late.get(key, 0.0) > loop.time() else timing.end_answer_after
        done, _ = await asyncio.wait({answer}, timeout=max(0.0, started + wait - loop.time()))
        if done:
            lost = "cancelled" if answer.cancelled() else answer.exception()
            reply = answer.result() if lost is None else None
            if reply is not None and not _failed(reply):
                return reply.result()  # raises its CALLERROR
            # Taken, but its answer cannot come (the reply queue went with the connection), or
            # its handling failed and it went back to its queue (bus/ack.py): not re-sent.
            log.info("%s: %s taken; its answer was lost: %r", cp_id, call.action, lost or reply)
        else:
            late[key] = loop.time() + LATE_HOLD
    except BaseException:
        answer.cancel()  # the CP went: nobody waits for it now
        raise
    ANSWERED_APART.labels(call.action).inc()
    # What is left of the call's timeout, so the whole wait stays within it.
    budget = max(MIN_BUDGET, started + timing.call_timeout - loop.time())
    if version is OcppVersion.V16:
        return await _judged(bus, budget, cp_id, call, received)
    return await _judged_201(bus, budget, cp_id, call, received)


def _failed(reply: CallReply) -> bool:
    """An owner's InternalError: a fault of ours, after which a taken end goes back to its
    queue (bus/ack.py) and is stored later; its station is answered apart, not told to send it
    again."""
    return reply.error is not None and reply.error.code == "InternalError"


async def _ask(bus: GatewayBus, method: RpcMethod[Any, R], params: Any, budget: float) -> R | None:
    """The judgment asked over RPC within `budget` seconds, or None (counted) when it cannot be
    had: the broker away (a publish would wait for it to come back), an RPC error, a lost
    connection, or time."""
    if bus.broker_away:
        judged_without(RpcUnavailable("unavailable", "the broker connection is down"))
        return None
    try:
        return await asyncio.wait_for(bus.rpc.call(method, params, budget), budget)
    except RpcError as exc:  # RpcUnavailable included
        judged_without(exc)
    except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
        judged_without(RpcUnavailable("unavailable", repr(exc)))
    return None


async def _judged(
    bus: GatewayBus, call_timeout: float, cp_id: str, call: Call, received: datetime
) -> JsonObject:
    """A 1.6 StopTransaction's answer apart from its owner: the idTagInfo of the idTag it
    names, judged by the session-service over RPC (`stop_id_tag_info`: the RPC lane is not
    behind a bulk backlog). idTagInfo is optional in the answer: when the judgment cannot be
    had (a session-service of the release before, or none answering), the station is answered
    without it rather than made to send the stop again."""
    id_tag = call.payload.get("idTag")
    if id_tag is None:
        return {}
    params = StopIdTag(
        charge_point_id=cp_id,
        id_tag=id_tag,
        timestamp=call.payload["timestamp"],
        received_at=received,
    )
    judged = await _ask(bus, SessionsRpc.stop_id_tag_info, params, call_timeout)
    if judged is None:
        return {}
    return {"idTagInfo": judged.id_tag_info.to_payload()}


async def _judged_201(
    bus: GatewayBus, call_timeout: float, cp_id: str, call: Call, received: datetime
) -> JsonObject:
    """A 2.0.1 Ended's answer apart from its owner: without totalCost, and with the idTokenInfo
    of the idToken it names (`ended_id_token_info`). That one is required when the Ended names
    an idToken: when it cannot be had the station gets a retriable CALLERROR, and its re-sent
    Ended (same seqNo) changes nothing twice."""
    ended = v201.TransactionEventRequest.model_validate(call.payload)  # valid: checked
    if ended.id_token is None:
        return {}
    params = EndedIdToken(
        charge_point_id=cp_id,
        transaction_id=ended.transaction_info.transaction_id,
        id_token=ended.id_token.id_token,
        type=ended.id_token.type.value,
        timestamp=ended.timestamp,
        received_at=received,
    )
    # Only when named: a session-service that does not know them yet refuses them, null or not.
    if ended.evse is not None:
        params.evse_id = ended.evse.id
    if _names_ours(ended.reservation_id):
        params.reservation_id = ended.reservation_id
    judged = await _ask(bus, SessionsRpc.ended_id_token_info, params, call_timeout)
    if judged is None:
        raise InternalError(
            f"{call.action} was taken, but its idToken could not be judged; send it again"
        )
    return {"idTokenInfo": judged.id_token_info.to_payload()}


def _names_ours(reservation_id: int | None) -> bool:
    """Whether a station's reservationId could name one of ours (32-bit serials)."""
    return reservation_id is not None and INT32_MIN <= reservation_id <= INT32_MAX


def registration_of(cp_id: str, version: OcppVersion, payload: JsonObject) -> str:
    """The registration status a BootNotification's answer gives, read through the version's
    model; an answer that does not fit it is not passed on (the CP retries)."""
    try:
        answer = BOOT_ANSWERS[version].model_validate(payload)
    except ValidationError as exc:
        log.error("%s: unreadable BootNotification answer: %s", cp_id, problems(exc))
        raise InternalError("The central system's answer was unreadable") from None
    return answer.status.value
