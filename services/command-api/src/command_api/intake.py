"""Back offices' commands from `ocpp.command-requests`, run exactly as the REST route runs them.

A request `{"requestId", "chargePointId", "action", "payload", "timeout"?}`
(`csms_shared.contracts.command_requests.BackOfficeRequest`) becomes a command
of the audit log (requester `broker:<user>`, the AMQP user_id the broker verified) sent through
`send_command` with the role the deployment gives that user (`API_BACK_OFFICES`, or operator
for the users of `API_COMMAND_REQUEST_ROLES`); its outcome leaves as `command.completed`
carrying the requestId, which is unique per user. A request that cannot become a command gets a
`command.completed` with status `refused` and the reason.
"""

from __future__ import annotations

import logging

import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from fastapi import HTTPException
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from csms_shared.bus.access import LOAD_MANAGER, allowed
from csms_shared.bus.ack import requeue_later
from csms_shared.bus.outbox import emit
from csms_shared.bus.topology import COMMAND_REQUESTS, declare_service_queue, service_queue
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.contracts.events import CommandCompleted

from .api.command_sending import Station, send_command
from .api.deps import AppState
from .auth import Principal, Role
from .db import outbox
from .problems import ProblemError
from .recorder import find_request
from .versions import ALL_ACTIONS, request_model, station_version, version_for

log = logging.getLogger(__name__)

QUEUE = service_queue("command-api", "command-requests")
LOAD_MANAGER_ROLE = frozenset({LOAD_MANAGER})
REFUSED = "refused"
PREFETCH = 32
MAX_BODY = 256 * 1024
REQUESTS = Counter(
    "csms_command_requests_total",
    "Back offices' requests on ocpp.command-requests: sent, refused or duplicate",
    ["outcome"],
)


class Refused(Exception):
    """The request cannot become a command; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


def parse(body: bytes) -> BackOfficeRequest:
    """The request in a message body; Refused naming what is wrong."""
    if len(body) > MAX_BODY:
        raise Refused(f"the body has {len(body)} bytes; at most {MAX_BODY}")
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(f"the body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Refused("the body must be a JSON object")
    try:
        request = BackOfficeRequest.model_validate(raw)
    except ValidationError as exc:
        raise Refused(_errors(exc)) from None
    if request.action not in ALL_ACTIONS:
        raise Refused(
            f"unknown action {request.action!r}; the central system can send: "
            + ", ".join(sorted(ALL_ACTIONS))
        )
    return request


def _identifiers(body: bytes) -> dict[str, str]:
    # Whatever of requestId, chargePointId and action a refused body still names, for the event.
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        k: raw[k]
        for k in ("requestId", "chargePointId", "action")
        if isinstance(raw.get(k), str) and len(raw[k]) <= 100
    }


class Intake:
    """Consumes `command-api.command-requests` (shared by every replica)."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._queue: AbstractQueue | None = None

    async def start(self, channel: AbstractChannel) -> None:
        """Declare the exchange's queue, bind it and consume."""
        await channel.set_qos(prefetch_count=PREFETCH)
        exchange = await channel.declare_exchange(
            COMMAND_REQUESTS.name, COMMAND_REQUESTS.type, durable=True
        )
        self._queue = await declare_service_queue(channel, QUEUE)
        await self._queue.bind(exchange)
        await self._queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Run one request; ack once its command or its refusal is committed."""
        try:
            await self.handle(message.body, message.user_id)
        except Exception:
            # The database or the broker failed: the request is not lost, it comes back (and
            # after the queue's delivery limit it is dead-lettered, not dropped).
            log.exception("command request failed; requeued")
            await requeue_later(message)
            return
        await message.ack()

    async def handle(self, body: bytes, user_id: str | None) -> None:
        """Turn one request into a command, or into a refusal event."""
        state = self._state
        role = role_of(state, user_id)
        if user_id is None or role is None or role is Role.VIEWER:
            await self._refuse(
                body,
                # Named whenever the broker vouched for the user, so that a sender refused
                # for its role still matches the refusal to its request.
                None if user_id is None else f"broker:{user_id}",
                f"broker user {user_id!r} may not send commands ("
                + (
                    "a viewer in API_BACK_OFFICES"
                    if role is Role.VIEWER
                    else "the message must carry its user_id; API_BACK_OFFICES or the roles "
                    + ", ".join(state.settings.command_request_roles)
                    + " must name it"
                )
                + ")",
            )
            return
        requester = f"broker:{user_id}"
        try:
            request = parse(body)
        except Refused as exc:
            await self._refuse(body, requester, exc.reason)
            return
        # Checked against the station's version, as the REST route checks it.
        known = await station_version(state, request.charge_point_id)
        try:
            version = version_for(request.charge_point_id, known, request.action)
            payload = request_model(version, request.action).model_validate(request.payload)
        except ProblemError as exc:
            await self._refuse(body, requester, exc.detail)
            return
        except ValidationError as exc:
            await self._refuse(body, requester, "payload." + _errors(exc))
            return
        async with state.sessions() as session:
            seen = await find_request(session, requester, request.request_id)
        if seen is not None:
            # A redelivery: the command went (or, its sender having died, is swept `lost`);
            # either way its command.completed carries this requestId.
            log.info("request %s of %s seen before: not sent again", request.request_id, user_id)
            REQUESTS.labels("duplicate").inc()
            return
        async with state.sessions() as session:
            principal = Principal(requester, requester, role)
            try:
                await send_command(
                    state,
                    session,
                    principal,
                    request.charge_point_id,
                    request.action,
                    payload,
                    request.timeout,
                    wait=False,
                    request_id=request.request_id,
                    station=Station(known),
                    # The load-manager's requests carry the site allocator's own profiles.
                    allocator=allowed(user_id, LOAD_MANAGER_ROLE, state.settings.broker_users),
                )
            except IntegrityError:
                # Another replica took the same request (a redelivery) a moment ago.
                log.info("request %s of %s taken by another replica", request.request_id, user_id)
                REQUESTS.labels("duplicate").inc()
                return
            except (HTTPException, ProblemError) as exc:
                # Offline and unknown CPs are in the audit log, their command.completed on its
                # way; anything refused before the audit log gets its refusal here.
                await session.rollback()
                if await find_request(session, requester, request.request_id) is None:
                    await self._refuse(body, requester, _detail(exc))
                    return
        REQUESTS.labels("sent").inc()

    async def _refuse(self, body: bytes, requester: str | None, reason: str) -> None:
        log.warning("command request refused: %s", reason)
        REQUESTS.labels(REFUSED).inc()
        event = CommandCompleted.model_validate(
            {"status": REFUSED, "reason": reason, **_identifiers(body)}
        )
        if requester is not None:
            event.requested_by = requester
        async with self._state.sessions() as session, session.begin():
            await emit(session, outbox, event)
        self._state.dispatcher.wake_relay()


def _detail(exc: HTTPException | ProblemError) -> str:
    detail = getattr(exc, "detail", None)
    return str(detail) if detail else str(exc)


def role_of(state: AppState, user_id: str | None) -> Role | None:
    """The role a broker user's requests run with: its own (`API_BACK_OFFICES`), operator for
    a user of the roles allowed to send (`API_COMMAND_REQUEST_ROLES`), else None."""
    settings = state.settings
    if user_id is None:
        return None
    if user_id in settings.back_offices:
        return Role(settings.back_offices[user_id])
    roles = frozenset(settings.command_request_roles)
    return Role.OPERATOR if allowed(user_id, roles, settings.broker_users) else None
