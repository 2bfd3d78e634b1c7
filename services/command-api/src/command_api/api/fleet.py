"""Fleet-wide commands: one action to many CPs (listed, or by tag), a few at a time."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import insert, select, update

from csms_shared.ocpp._base import DateTime, format_datetime
from csms_shared.ocpp.framing import find_nul
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.redaction import needs_admin, secret_keys
from csms_shared.ocpp.v16.actions import ACTIONS, CS_TO_CP_ACTIONS

from .. import problems
from ..auth import Principal, Role
from ..db import command_batches, commands
from ..models import Resource
from ..problems import ProblemError
from ..recorder import command_doc
from .commands import Command, CommandFailed, send_command
from .deps import AppState, Operator, State, Viewer, api_router, rpc

router = api_router(404, tags=["commands"])

CpIdItem = Annotated[str, StringConstraints(pattern=CHARGE_POINT_ID_PATTERN)]


class FleetCommand(BaseModel):
    """The CPs (`chargePointIds`, or every CP with `tag`) and the OCPP request payload."""

    model_config = ConfigDict(extra="forbid")

    charge_point_ids: list[CpIdItem] | None = Field(
        default=None, alias="chargePointIds", min_length=1, max_length=1000
    )
    tag: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    payload: dict[str, Any] = Field(
        default_factory=dict, description="The action's OCPP request payload, camelCase"
    )


class FleetItem(Resource):
    """One CP's outcome: `result` with the CP's `response`, or why there is none."""

    charge_point_id: str
    command_id: str | None = None
    status: str
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    reason: str | None = None


class FleetResult(Resource):
    """Every CP's answer (`?wait=true`), or the batch to poll (`?wait=false`)."""

    batch_id: str
    action: str
    total: int
    summary: dict[str, int] = Field(description="CPs per status")
    items: list[FleetItem]


class Refusal(Resource):
    """A CP the batch sent nothing to, and why (e.g. a feature profile it does not list)."""

    charge_point_id: str
    status: str
    reason: str


class Batch(Resource):
    """A fleet-wide command: its commands as the audit log has them, and the CPs refused."""

    batch_id: str
    action: str
    request: dict[str, Any]
    requested_by: str
    created_at: DateTime
    total: int = Field(description="Every CP the batch targets")
    pending: int = Field(description="Commands still out, and CPs not sent to yet")
    summary: dict[str, int] = Field(description="CPs per status; `queued`: not sent to yet")
    items: list[Command]
    refused: list[Refusal] = Field(description="CPs refused before a command was recorded")


def _check_request(
    state: AppState,
    principal: Principal,
    action: str,
    request: dict[str, Any],
    timeout: float | None,
) -> None:
    # What send_command refuses alike for every CP, refused once before any is sent.
    settings = state.settings
    if timeout is not None and timeout > settings.command_timeout_max:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"timeout must be in (0, {settings.command_timeout_max}] seconds",
        )
    if find_nul(request, "payload"):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "payload: strings may not contain U+0000"
        )
    secrets = secret_keys(settings.secret_configuration_keys)
    if needs_admin(action, request, secrets) and not principal.may(Role.ADMIN):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{action} of this kind needs the admin role"
        )


async def _targets(state: AppState, body: FleetCommand) -> list[str]:
    if (body.charge_point_ids is None) == (body.tag is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give either chargePointIds or tag"
        )
    if body.charge_point_ids is not None:
        return list(dict.fromkeys(body.charge_point_ids))
    limit = state.settings.fleet_max_charge_points
    page = await rpc(state, "station-registry", "list_charge_points", tag=body.tag, limit=1000)
    ids = [cp["id"] for cp in page["items"]]
    while len(ids) < page["total"] and len(ids) <= limit:
        page = await rpc(
            state, "station-registry", "list_charge_points", tag=body.tag, limit=1000,
            offset=len(ids),
        )  # fmt: skip
        if not page["items"]:
            break
        ids += [cp["id"] for cp in page["items"]]
    if len(ids) > limit:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"tag {body.tag!r} names {page['total']} charge points; at most {limit} at once",
        )
    return ids


async def _one(
    state: AppState,
    principal: Principal,
    cp_id: str,
    action: str,
    payload: Any,
    timeout: float | None,
    wait: bool,
    batch_id: str,
) -> dict[str, Any]:
    async with state.sessions() as session:
        try:
            sent = await send_command(
                state, session, principal, cp_id, action, payload, timeout, wait,
                batch_id=batch_id,
            )  # fmt: skip
        except CommandFailed as exc:
            return {
                "chargePointId": cp_id,
                "commandId": exc.command_id,
                "status": exc.outcome,
                "errorCode": exc.extensions.get("errorCode"),
                "errorDescription": exc.extensions.get("errorDescription"),
                "reason": exc.detail,
            }
        except HTTPException as exc:
            outcome = "unknown_charge_point" if exc.status_code == 404 else "refused"
            return {"chargePointId": cp_id, "status": outcome, "reason": str(exc.detail)}
        except ProblemError as exc:  # e.g. a feature profile the CP does not list
            return {"chargePointId": cp_id, "status": "refused", "reason": exc.detail}
    if sent.response is None:
        return {"chargePointId": cp_id, "commandId": sent.command_id, "status": "pending"}
    return {
        "chargePointId": cp_id,
        "commandId": sent.command_id,
        "status": "result",
        "response": sent.response,
    }


@router.post(
    "/commands/{action}",
    response_model=FleetResult,
    response_model_exclude_none=True,
    responses={202: {"model": FleetResult}, **problems.responses(503)},
)
async def send_fleet_command(
    state: State,
    principal: Operator,
    action: Annotated[str, Path(description="A CS->CP action, e.g. Reset")],
    body: FleetCommand,
    timeout: Annotated[float | None, Query(gt=0, description="Seconds per CP")] = None,
    wait: Annotated[bool, Query(description="false: answer 202 with the batch to poll")] = True,
) -> JSONResponse:
    """Send one action to many CPs, a few at a time; every CP's answer, or the batch."""
    if action not in CS_TO_CP_ACTIONS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Unknown action {action!r}; the central system can send: "
            + ", ".join(sorted(CS_TO_CP_ACTIONS)),
        )
    try:
        payload = ACTIONS[action].request.model_validate(body.payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "payload", *e["loc"])} for e in exc.errors()]
        ) from None
    _check_request(state, principal, action, payload.to_payload(), timeout)
    cp_ids = await _targets(state, body)
    batch_id = str(uuid.uuid4())
    async with state.sessions() as session, session.begin():
        await session.execute(
            insert(command_batches).values(
                id=batch_id,
                action=action,
                request=payload.to_payload(),
                charge_point_ids=cp_ids,
                requested_by=principal.name,
            )
        )
    gate = asyncio.Semaphore(state.settings.fleet_concurrency)

    async def one(cp_id: str) -> dict[str, Any]:
        async with gate:
            return await _one(state, principal, cp_id, action, payload, timeout, wait, batch_id)

    items = await asyncio.gather(*(one(cp) for cp in cp_ids))
    refused = [item for item in items if item["status"] == "refused"]
    if refused:
        async with state.sessions() as session, session.begin():
            await session.execute(
                update(command_batches)
                .where(command_batches.c.id == batch_id)
                .values(refused=refused)
            )
    summary = Counter(item["status"] for item in items)
    doc = {
        "batchId": batch_id,
        "action": action,
        "total": len(items),
        "summary": dict(summary),
        "items": [{k: v for k, v in item.items() if v is not None} for item in items],
    }
    return JSONResponse(doc, status_code=200 if wait else 202)


@router.get("/command-batches/{batch_id}", response_model=Batch)
async def get_command_batch(state: State, principal: Viewer, batch_id: str) -> dict[str, Any]:
    """A fleet-wide command: each CP's command as the audit log has it, the CPs refused before
    any was recorded, and a count per status of every CP targeted."""
    async with state.sessions() as session:
        batch = (
            await session.execute(select(command_batches).where(command_batches.c.id == batch_id))
        ).first()
        if batch is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No command batch {batch_id!r}")
        rows = (
            await session.execute(
                select(commands)
                .where(commands.c.batch_id == batch_id)
                .order_by(commands.c.charge_point_id)
            )
        ).all()
    refused = batch.refused
    summary = Counter(r.status for r in rows) + Counter(item["status"] for item in refused)
    # A CP with neither: the batch is still sending (wait=true), or was cut short.
    queued = len(batch.charge_point_ids) - len(rows) - len(refused)
    if queued > 0:
        summary["queued"] = queued
    return {
        "batchId": batch.id,
        "action": batch.action,
        "request": batch.request,
        "requestedBy": batch.requested_by,
        "createdAt": format_datetime(batch.created_at),
        "total": len(batch.charge_point_ids),
        "pending": summary["pending"] + summary["queued"],
        "summary": dict(summary),
        "items": [command_doc(r) for r in rows],
        "refused": refused,
    }
