"""`POST /charge-points/{id}/commands/{Action}`: every CS->CP action of OCPP 1.6 and 2.0.1,
checked against the version the charge point speaks, and the audit log.

No `from __future__ import annotations` here: each route's body annotation is a closure
variable that FastAPI must see as a class, not as a string.
"""

import asyncio
import uuid
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Annotated, Any

from fastapi import Body, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import Field, PlainValidator, create_model
from pydantic_core import PydanticCustomError

from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.contracts.envelopes import CommandOutcome, CommandStatus
from csms_shared.contracts.resources import JsonObject
from csms_shared.contracts.rpc import OfChargePoint, RegistryRpc
from csms_shared.log_context import bind
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.framing import find_nul
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.redaction import (
    admin_keys,
    configuration_key_problem,
    needs_admin,
    redact_request,
    secret_keys,
)
from csms_shared.ocpp.version import OcppVersion

from .. import problems, recorder
from ..auth import Principal, Role
from ..dispatcher import NotConnected
from ..models import Command, Page, Resource
from ..problems import TYPES, ProblemError
from ..profiles import check_feature_profile
from ..recorder import command_of, record_outcome, record_sent
from ..versions import (
    ALL_ACTIONS,
    WrongVersion,
    parse_request,
    station_version,
    version_for,
    version_of,
)
from .deps import MAX_OFFSET, AppState, Operator, Session, State, Viewer, api_router, rpc_client

router = api_router(tags=["commands"])

CpId = Annotated[
    str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN, description="Charge point id")
]


class CommandResult(Resource):
    """The charge point answered CALLRESULT."""

    command_id: str
    response: JsonObject = Field(description="The CP's CALLRESULT payload")


class CommandAccepted(Resource):
    """`?wait=false`: the command is on its way; read its outcome at /commands/{commandId}."""

    command_id: str
    status: str = Field(description="Always `pending`")


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
    """A command sent: the CP's CALLRESULT payload, or None when not waited for."""

    command_id: str
    response: JsonObject | None


async def _charge_point_known(state: AppState, cp_id: str) -> bool:
    try:
        await rpc_client(state).call(
            RegistryRpc.get_charge_point, OfChargePoint(id=cp_id), state.settings.rpc_timeout
        )
    except RpcUnavailable:
        return True  # cannot tell; "not connected" is still true
    except RpcError as exc:
        return exc.code != "not_found"
    return True


def check_request(
    state: AppState,
    principal: Principal,
    action: str,
    request: dict[str, Any],
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
) -> Sent:
    """Record, publish and (unless wait=false) await one command; CommandFailed without a
    CALLRESULT. `request_id`: a back office's id of the request (unique per requester).
    `payload` is one version's request model: WrongVersion (422) when the station speaks the
    other; `station` is what the caller already read of it (read here when not given)."""
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
    if station is None:
        station = Station(await station_version(state, cp_id))
    if station.version is not None and station.version is not checked:
        raise WrongVersion(cp_id, station.version, action)
    secrets = secret_keys(settings.secret_configuration_keys)
    if checked is OcppVersion.V16:  # feature profiles are 1.6's (2.0.1 has functional blocks)
        await check_feature_profile(state, cp_id, action)
    command_id = str(uuid.uuid4())
    bind(command_id=command_id)  # this request's log lines, the access log's included
    async with session.begin():
        await record_sent(
            session,
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
        return Sent(command_id, None)
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
    return _answer(command_id, outcome)


def _answer(command_id: str, outcome: CommandOutcome) -> Sent:
    kind = outcome.status
    if kind == "result":
        return Sent(command_id, outcome.response or {})
    if kind in ("error", "invalid"):
        answer: dict[str, Any] = {"response": outcome.response} if kind == "invalid" else {}
        raise CommandFailed(
            command_id,
            kind,
            errorCode=outcome.error_code,
            errorDescription=outcome.error_description,
            errorDetails=outcome.error_details or {},
            **answer,
        )
    raise CommandFailed(command_id, kind)


# 409: not connected, or an action of a feature profile the CP does not list.
_COMMAND_PROBLEMS = problems.responses(404, 409, 429, 502, 504)


def _json_object(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a JSON object")
    return value


def _specs(action: str) -> dict[OcppVersion, Any]:
    return {v: catalog(v).actions[action] for v in OcppVersion if action in catalog(v).to_station}


def _add_action_route(action: str) -> None:
    specs = _specs(action)
    versions = " and ".join(f"OCPP {v}" for v in specs)
    # Checked against the station's version at run time; documented as either version's schema.
    request_schema = reduce(or_, [spec.request for spec in specs.values()])
    Payload = Annotated[
        JsonObject,
        PlainValidator(_json_object, json_schema_input_type=request_schema),
        Body(description=f"The {action} request of the charge point's version ({versions})"),
    ]

    async def endpoint(
        state: State,
        session: Session,
        principal: Operator,
        cp_id: CpId,
        body: Payload,
        timeout: Annotated[
            float | None, Query(gt=0, description="Seconds to wait for the CP (default 30)")
        ] = None,
        wait: Annotated[bool, Query(description="false: answer 202 at once")] = True,
    ) -> JSONResponse:
        known = await station_version(state, cp_id)
        version = version_for(cp_id, known, action)
        payload = parse_request(version, action, body)
        sent = await send_command(
            state, session, principal, cp_id, action, payload, timeout, wait,
            station=Station(known),
        )  # fmt: skip
        if not wait or sent.response is None:
            return JSONResponse({"commandId": sent.command_id, "status": "pending"}, 202)
        # The CP's payload as it sent it (the gateway checked it against the action's schema).
        return JSONResponse({"commandId": sent.command_id, "response": sent.response})

    endpoint.__name__ = _snake(action if action.startswith("Send") else "Send" + action)
    endpoint.__doc__ = (
        f"Send {action} ({versions}) to the charge point and return its answer; the body is "
        "checked against the version the charge point's connection speaks."
    )
    result = create_model(
        f"{action}Result",
        __base__=CommandResult,
        __doc__=f"The charge point answered {action} with CALLRESULT.",
        response=(
            reduce(or_, [spec.response for spec in specs.values()]),
            Field(description="The CP's CALLRESULT payload"),
        ),
    )
    router.add_api_route(
        f"/charge-points/{{id}}/commands/{action}",
        endpoint,
        methods=["POST"],
        summary=action,
        response_model=result,
        responses={202: {"model": CommandAccepted}, **_COMMAND_PROBLEMS},
    )


def _snake(action: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")


for _action in sorted(ALL_ACTIONS):
    _add_action_route(_action)


@router.post(
    "/charge-points/{id}/commands/{action}",
    status_code=422,
    include_in_schema=False,
)
async def unknown_action(cp_id: CpId, action: str, principal: Operator) -> None:
    """Any other action name: 422 naming the ones there are."""
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"Unknown action {action!r}; the central system can send: "
        + ", ".join(sorted(ALL_ACTIONS)),
    )


@router.get("/commands", tags=["audit"], response_model=Page[Command])
async def list_commands(
    session: Session,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    charge_point_id: Annotated[str | None, Query(alias="chargePointId")] = None,
    action: str | None = None,
    command_status: Annotated[str | None, Query(alias="status")] = None,
) -> Page[Command]:
    """The audit log of commands, newest first."""
    rows, total = await recorder.list_commands(
        session,
        limit=limit,
        offset=offset,
        charge_point_id=charge_point_id,
        action=action,
        status=command_status,
    )
    return Page[Command](
        items=[command_of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/commands/{command_id}",
    tags=["audit"],
    response_model=Command,
    responses=problems.responses(404),
)
async def get_command(session: Session, principal: Viewer, command_id: str) -> Command:
    """One command: who sent what, when, and what came of it."""
    row = await recorder.get_command(session, command_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No command {command_id!r}")
    return command_of(row)
