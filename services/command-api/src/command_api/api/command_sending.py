"""Sending one command: the checks every command passes whatever CP it is for, then record,
publish and (unless not waited for) await its outcome; `CommandFailed` when no CALLRESULT came.

Every route that sends a command comes here (`commands.py`, `operator_actions.py`, `fleet.py`,
...), and so do the command-api's own senders (boot reads, local list resyncs, the console).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from pydantic import ValidationError

from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.contracts.envelopes import CommandOutcome, CommandStatus
from csms_shared.contracts.resources import JsonObject
from csms_shared.log_context import bind
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.framing import find_nul
from csms_shared.ocpp.redaction import (
    admin_keys,
    configuration_key_problem,
    needs_admin,
    redact_request,
    secret_keys,
)
from csms_shared.ocpp.version import OcppVersion

from .. import problems
from ..auth import Principal, Role
from ..dispatcher import NotConnected
from ..problems import TYPES, ProblemError
from ..profile_guard import check_profile
from ..profiles import check_feature_profile
from ..recorder import record_outcome, record_sent
from ..versions import (
    WrongVersion,
    read_station_version,
    recheck_version,
    response_model,
    station_version,
    version_of,
)
from .deps import AppState, Operator, Session

log = logging.getLogger(__name__)

# The problems a route that sends a command documents: 409 not connected, or an action of a
# feature profile the CP does not list.
COMMAND_PROBLEMS = problems.responses(404, 409, 429, 502, 504)

# Outcome -> (HTTP status, problem type, title, detail) of the synchronous answer.
_FAILURES: dict[str, tuple[int, str, str, str]] = {
    "offline": (409, "not-connected", "The charge point is not connected", ""),
    "disconnected": (
        409,
        "not-connected",
        "The charge point is not connected",
        "The charge point disconnected before answering",
    ),
    "busy": (
        429,
        "charge-point-busy",
        "Too many commands are queued for the charge point",
        "Too many commands are queued for this charge point",
    ),
    "error": (
        502,
        "call-error",
        "The charge point answered CALLERROR",
        "The charge point answered CALLERROR",
    ),
    "invalid": (
        502,
        "invalid-answer",
        "The charge point's answer breaks the action's schema",
        "The charge point's answer breaks the action's schema",
    ),
    "timeout": (
        504,
        "no-answer",
        "The charge point did not answer in time",
        "The charge point did not answer in time",
    ),
    "rejected": (
        500,
        "command-rejected",
        "The gateway could not read the command",
        "The gateway could not read the command",
    ),
}


class CommandFailed(ProblemError):
    """A command without a CALLRESULT: `outcome` says why (offline, error, timeout, ...)."""

    def __init__(self, command_id: str, outcome: str, detail: str = "", **extensions: Any) -> None:
        code, slug, title, default = _FAILURES.get(
            outcome, (500, "command-failed", "The command failed", outcome)
        )
        super().__init__(
            code,
            detail or default,
            type=TYPES + slug,
            title=title,
            commandId=command_id,
            outcome=outcome,
            **extensions,
        )
        self.command_id = command_id
        self.outcome = outcome


@dataclass(frozen=True)
class Station:
    """What a route already learnt of the station: the version its connection speaks (None:
    unknown, the registry not knowing the station or not answering)."""

    version: OcppVersion | None


@dataclass
class Sent:
    """A command sent: the CP's CALLRESULT payload (None when not waited for) and the model it
    is of, the action's response in the version the command was checked against."""

    command_id: str
    response: JsonObject | None
    response_model: type[OcppModel]

    def answer(self) -> OcppModel | None:
        """The CALLRESULT read through its response model; None when not waited for, or when
        it does not read (logged: the gateway checked it against the same model, so only an
        answer redacted here or a gateway of another release can get there)."""
        if self.response is None:
            return None
        try:
            return self.response_model.model_validate(self.response)
        except ValidationError as exc:
            log.warning(
                "the answer to command %s is no %s: %s",
                self.command_id,
                self.response_model.__name__,
                exc,
            )
            return None


async def _charge_point_known(state: AppState, cp_id: str) -> bool:
    try:
        return (await read_station_version(state, cp_id)).known
    except (RpcUnavailable, RpcError):
        return True  # cannot tell; "not connected" is still true


def check_request(
    state: AppState,
    principal: Principal,
    action: str,
    request: JsonObject,
    *,
    built_by_csms: bool = False,
    where: str = "body",
) -> None:
    """What refuses a command whatever CP it is for: U+0000 (422), a configuration key name
    that is padded or holds control characters (422), a command that needs the admin role
    (403). `built_by_csms`: the payload is the suite's own (a local list from the id tags),
    not the caller's, so the role check of a hand-made one does not apply."""
    nul = find_nul(request, where)
    if nul:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{nul}: strings may not contain U+0000"
        )
    problem = configuration_key_problem(action, request)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}.{problem}")
    settings = state.settings
    if (
        not built_by_csms
        and not principal.may(Role.ADMIN)
        and needs_admin(
            action,
            request,
            secret_keys(settings.secret_configuration_keys),
            admin_keys(settings.admin_configuration_keys),
        )
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{action} of this kind changes how the charge point authenticates, what it "
            "trusts, whom it lets charge or where it connects: it needs the admin role",
        )


async def send_command(
    state: AppState,
    session: Session,
    principal: Operator,
    cp_id: str,
    action: str,
    payload: OcppModel,
    timeout: float | None,
    wait: bool,
    *,
    request_id: str | None = None,
    batch_id: str | None = None,
    built_by_csms: bool = False,
    station: Station | None = None,
    allocator: bool = False,
) -> Sent:
    """Record, publish and (unless wait=false) await one command; CommandFailed without a
    CALLRESULT. `request_id`: a back office's id of the request (unique per requester).
    `payload` is one version's request model: WrongVersion (422) when the station speaks the
    other; `station` is what the caller already read of it (read here when not given);
    `allocator`: the load-manager's own request, whose profile is the site allocator's."""
    settings = state.settings
    seconds = timeout or settings.command_timeout
    if not 0 < seconds <= settings.command_timeout_max:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"timeout must be in (0, {settings.command_timeout_max}] seconds",
        )
    checked = version_of(action, payload)
    if checked is None:
        raise TypeError(f"{type(payload).__name__} is no OCPP version's {action} request")
    request = payload.to_payload()
    check_request(state, principal, action, request, built_by_csms=built_by_csms)
    if not allocator:
        # Only the site allocator's own requests may carry its profile (profile_guard.py).
        await check_profile(state, cp_id, payload, "body")
    if station is None:
        station = Station(await station_version(state, cp_id))
    if station.version is not None and station.version is not checked:
        raise WrongVersion(cp_id, station.version, action)
    secrets = secret_keys(settings.secret_configuration_keys)
    if checked is OcppVersion.V16:  # feature profiles are 1.6's (2.0.1 has functional blocks)
        await check_feature_profile(state, cp_id, action)
    command_id = str(uuid.uuid4())
    bind(command_id=command_id)  # this request's log lines, the access log's included
    # One statement committed on its own (no BEGIN and COMMIT round trips): the row is there
    # before the command leaves, for its outcome to land on.
    async with state.engine.connect() as connection:
        writer = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await record_sent(
            writer,
            command_id=command_id,
            charge_point_id=cp_id,
            action=action,
            request=redact_request(action, request, secrets),
            requested_by=principal.name,
            timeout=seconds,
            request_id=request_id,
            batch_id=batch_id,
            ocpp_version=checked,
        )
    dispatcher = state.dispatcher
    future = dispatcher.waiter.expect(command_id)
    try:
        # The version it was checked against: a gateway whose connection speaks another (the
        # registry did not know, or the station reconnected meanwhile) sends it nowhere.
        await dispatcher.send(command_id, cp_id, action, request, seconds, checked)
    except NotConnected:
        dispatcher.waiter.forget(command_id)
        known = await _charge_point_known(state, cp_id)
        missing: CommandStatus = "offline" if known else "unknown_charge_point"
        reason = f"Charge point {cp_id!r} " + ("is not connected" if known else "was never seen")
        async with session.begin():
            await record_outcome(session, command_id, CommandOutcome(status=missing, reason=reason))
        dispatcher.wake_relay()
        if not known:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"Charge point {cp_id!r} was never seen"
            ) from None
        raise CommandFailed(
            command_id, missing, f"Charge point {cp_id!r} is not connected"
        ) from None
    if not wait:
        dispatcher.waiter.forget(command_id)
        return Sent(command_id, None, response_model(checked, action))
    try:
        # The gateway answers `timeout` itself; the margin covers the broker round trips.
        outcome = await dispatcher.waiter.wait(command_id, future, seconds + 5)
    except TimeoutError:
        async with session.begin():
            await record_outcome(session, command_id, CommandOutcome(status="timeout"))
        dispatcher.wake_relay()
        raise CommandFailed(command_id, "timeout", "No answer from the gateway in time") from None
    except asyncio.CancelledError:
        dispatcher.waiter.forget(command_id)
        raise
    if outcome.status == "rejected":
        await recheck_version(state, cp_id, action, checked)
    return _answer(command_id, outcome, response_model(checked, action))


def _answer(command_id: str, outcome: CommandOutcome, answers: type[OcppModel]) -> Sent:
    kind = outcome.status
    if kind == "result":
        return Sent(command_id, outcome.response or {}, answers)
    if kind == "error":
        raise CommandFailed(
            command_id,
            kind,
            errorCode=outcome.error_code,
            errorDescription=outcome.error_description,
            errorDetails=outcome.error_details or {},
        )
    if kind == "invalid":
        # The answer that broke the action's schema is shown to whoever sent the command.
        raise CommandFailed(
            command_id,
            kind,
            errorCode=outcome.error_code,
            errorDescription=outcome.error_description,
            errorDetails=outcome.error_details or {},
            response=outcome.response,
        )
    raise CommandFailed(command_id, kind)
