"""`POST /charge-points/{id}/commands/{Action}`: every CS->CP action, and the audit log.

No `from __future__ import annotations` here: each route's body annotation is a closure
variable that FastAPI must see as a class, not as a string.
"""

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.framing import find_nul
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.redaction import needs_admin, redact_request, secret_keys
from csms_shared.ocpp.v16.actions import ACTIONS, CS_TO_CP_ACTIONS

from ..auth import Role
from ..dispatcher import NotConnected
from ..recorder import command_doc, get_command, list_commands, record_outcome, record_sent
from .deps import MAX_OFFSET, AppState, Operator, Session, State, Viewer, rpc_client

router = APIRouter(tags=["commands"])

CpId = Annotated[
    str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN, description="Charge point id")
]


class ApiModel(BaseModel):
    """camelCase on the wire, like OCPP."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CommandResult(ApiModel):
    """The charge point answered CALLRESULT."""

    command_id: str
    response: dict[str, Any] = Field(description="The CP's CALLRESULT payload")


class CommandAccepted(ApiModel):
    """`?wait=false`: the command is on its way; read its outcome at /commands/{commandId}."""

    command_id: str
    status: str


class CommandFailed(ApiModel):
    """The CP answered CALLERROR, answered nonsense, or did not answer."""

    command_id: str
    status: str
    detail: str
    error_code: str | None = None
    error_description: str | None = None
    error_details: dict[str, Any] | None = None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CommandResult},
    202: {"model": CommandAccepted},
    404: {"description": "The charge point was never seen"},
    409: {"model": CommandFailed, "description": "The charge point is not connected"},
    422: {"description": "The body breaks the action's schema"},
    429: {"model": CommandFailed, "description": "Too many commands queued for this CP"},
    502: {"model": CommandFailed, "description": "The CP answered CALLERROR or an invalid payload"},
    504: {"model": CommandFailed, "description": "No answer in time"},
}

# Outcome status -> HTTP status of the synchronous answer.
_HTTP = {
    "result": 200,
    "error": 502,
    "invalid": 502,
    "timeout": 504,
    "disconnected": 409,
    "busy": 429,
    "rejected": 500,
}
_DETAIL = {
    "error": "The charge point answered CALLERROR",
    "invalid": "The charge point's answer breaks the action's schema",
    "timeout": "The charge point did not answer in time",
    "disconnected": "The charge point disconnected before answering",
    "busy": "Too many commands are queued for this charge point",
    "rejected": "The gateway could not read the command",
}


async def _charge_point_known(state: AppState, cp_id: str) -> bool:
    try:
        await rpc_client(state).call(
            "station-registry",
            "get_charge_point",
            {"id": cp_id},
            timeout=state.settings.rpc_timeout,
        )
    except RpcUnavailable:
        return True  # cannot tell; "not connected" is still true
    except RpcError as exc:
        return exc.code != "not_found"
    return True


async def send_command(
    state: AppState,
    session: Session,
    principal: Operator,
    cp_id: str,
    action: str,
    payload: OcppModel,
    timeout: float | None,
    wait: bool,
) -> JSONResponse:
    """Record, publish and (unless wait=false) await one command."""
    settings = state.settings
    seconds = timeout or settings.command_timeout
    if not 0 < seconds <= settings.command_timeout_max:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"timeout must be in (0, {settings.command_timeout_max}] seconds",
        )
    request = payload.to_payload()
    where = find_nul(request, "body")
    if where:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: strings may not contain U+0000"
        )
    secrets = secret_keys(settings.secret_configuration_keys)
    if needs_admin(action, request, secrets) and not principal.may(Role.ADMIN):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{action} of this kind changes how the charge point authenticates or what it "
            "trusts: it needs the admin role",
        )
    command_id = str(uuid.uuid4())
    async with session.begin():
        await record_sent(
            session,
            command_id=command_id,
            charge_point_id=cp_id,
            action=action,
            request=redact_request(action, request, secrets),
            requested_by=principal.name,
            timeout=seconds,
        )
    dispatcher = state.dispatcher
    future = dispatcher.waiter.expect(command_id)
    try:
        await dispatcher.send(command_id, cp_id, action, request, seconds)
    except NotConnected:
        dispatcher.waiter.forget(command_id)
        known = await _charge_point_known(state, cp_id)
        outcome = "offline" if known else "unknown_charge_point"
        async with session.begin():
            await record_outcome(session, command_id, {"status": outcome})
        dispatcher.wake_relay()
        if not known:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"Charge point {cp_id!r} was never seen"
            ) from None
        return _failed(409, command_id, outcome, f"Charge point {cp_id!r} is not connected")
    if not wait:
        dispatcher.waiter.forget(command_id)
        return JSONResponse({"commandId": command_id, "status": "pending"}, status_code=202)
    try:
        # The gateway answers `timeout` itself; the margin covers the broker round trips.
        outcome_doc: dict[str, Any] = await dispatcher.waiter.wait(command_id, future, seconds + 5)
    except TimeoutError:
        async with session.begin():
            await record_outcome(session, command_id, {"status": "timeout"})
        dispatcher.wake_relay()
        return _failed(504, command_id, "timeout", "No answer from the gateway in time")
    except asyncio.CancelledError:
        dispatcher.waiter.forget(command_id)
        raise
    return _answer(command_id, outcome_doc)


def _answer(command_id: str, outcome: dict[str, Any]) -> JSONResponse:
    kind = str(outcome.get("status"))
    if kind == "result":
        return JSONResponse({"commandId": command_id, "response": outcome["response"]})
    response = _failed(_HTTP.get(kind, 500), command_id, kind, _DETAIL.get(kind, kind))
    if kind in ("error", "invalid"):
        body = {
            "commandId": command_id,
            "status": kind,
            "detail": _DETAIL[kind],
            "errorCode": outcome.get("errorCode"),
            "errorDescription": outcome.get("errorDescription"),
            "errorDetails": outcome.get("errorDetails") or {},
        }
        if kind == "invalid":
            body["response"] = outcome.get("response")
        return JSONResponse(body, status_code=502)
    return response


def _failed(code: int, command_id: str, kind: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"commandId": command_id, "status": kind, "detail": detail}, status_code=code
    )


def _add_action_route(action: str, model: type[OcppModel]) -> None:
    async def endpoint(
        state: State,
        session: Session,
        principal: Operator,
        cp_id: CpId,
        body: Annotated[model, Body()],  # type: ignore[valid-type]
        timeout: Annotated[
            float | None, Query(gt=0, description="Seconds to wait for the CP (default 30)")
        ] = None,
        wait: Annotated[bool, Query(description="false: answer 202 at once")] = True,
    ) -> JSONResponse:
        return await send_command(state, session, principal, cp_id, action, body, timeout, wait)

    endpoint.__doc__ = f"Send {action} to the charge point and return its answer."
    router.add_api_route(
        f"/charge-points/{{id}}/commands/{action}",
        endpoint,
        methods=["POST"],
        name=f"command_{action}",
        summary=action,
        responses=_RESPONSES,
        response_model=None,
    )


for _action in sorted(CS_TO_CP_ACTIONS):
    _add_action_route(_action, ACTIONS[_action].request)


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
        + ", ".join(sorted(CS_TO_CP_ACTIONS)),
    )


@router.get("/commands", tags=["audit"])
async def commands_log(
    session: Session,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    charge_point_id: Annotated[str | None, Query(alias="chargePointId")] = None,
    action: str | None = None,
    command_status: Annotated[str | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """The audit log of commands, newest first."""
    rows, total = await list_commands(
        session,
        limit=limit,
        offset=offset,
        charge_point_id=charge_point_id,
        action=action,
        status=command_status,
    )
    return {
        "items": [command_doc(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/commands/{command_id}", tags=["audit"])
async def command(session: Session, principal: Viewer, command_id: str) -> dict[str, Any]:
    """One command: who sent what, when, and what came of it."""
    row = await get_command(session, command_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No command {command_id!r}")
    return command_doc(row)
