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

from csms_shared.contracts.resources import ChargePoint, JsonObject, Page
from csms_shared.contracts.rpc import ListChargePoints, RegistryRpc
from csms_shared.ocpp._base import DateTime, OcppModel
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.redaction import redact_request, secret_keys
from csms_shared.ocpp.version import OcppVersion

from .. import problems
from ..auth import Principal
from ..db import command_batches, commands
from ..models import Command, Resource
from ..problems import ProblemError
from ..recorder import command_of
from ..versions import ALL_ACTIONS, WrongVersion, request_model, station_version
from .command_sending import CommandFailed, Station, check_request, send_command
from .deps import AppState, Operator, State, Viewer, api_router, call

router = api_router(404, tags=["commands"])

CpIdItem = Annotated[str, StringConstraints(pattern=CHARGE_POINT_ID_PATTERN)]


class FleetCommand(BaseModel):
    """The CPs (`chargePointIds`, or every CP with `tag`) and the OCPP request payload."""

    model_config = ConfigDict(extra="forbid")

    charge_point_ids: list[CpIdItem] | None = Field(
        default=None, alias="chargePointIds", min_length=1, max_length=1000
    )
    tag: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    payload: JsonObject = Field(
        default_factory=dict, description="The action's OCPP request payload, camelCase"
    )


class FleetItem(Resource):
    """One CP's outcome: `result` with the CP's `response`, or why there is none."""

    charge_point_id: str
    command_id: str | None = None
    status: str
    response: JsonObject | None = None
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
    request: JsonObject
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
    request: JsonObject,
    timeout: float | None,
) -> None:
    # What send_command refuses alike for every CP, refused once before any is sent.
    settings = state.settings
    if timeout is not None and timeout > settings.command_timeout_max:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"timeout must be in (0, {settings.command_timeout_max}] seconds",
        )
    check_request(state, principal, action, request, where="payload")


async def _targets(state: AppState, body: FleetCommand) -> list[str]:
    if (body.charge_point_ids is None) == (body.tag is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give either chargePointIds or tag"
        )
    if body.charge_point_ids is not None:
        return list(dict.fromkeys(body.charge_point_ids))
    limit = state.settings.fleet_max_charge_points

    async def page_from(offset: int) -> Page[ChargePoint]:
        listing = ListChargePoints(tag=body.tag, limit=1000, offset=offset)
        return await call(state, RegistryRpc.list_charge_points, listing)

    page = await page_from(0)
    ids = [cp.id for cp in page.items]
    while len(ids) < page.total and len(ids) <= limit:
        page = await page_from(len(ids))
        if not page.items:
            break
        ids += [cp.id for cp in page.items]
    if len(ids) > limit:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"tag {body.tag!r} names {page.total} charge points; at most {limit} at once",
        )
    return ids


class Payloads:
    """A fleet command's payload read as each version's request that it is valid for: a
    fleet of both versions takes a payload both spell alike (ClearCache, TriggerMessage of
    StatusNotification), and each CP the one of its version."""

    def __init__(self, action: str, payload: JsonObject) -> None:
        self.action = action
        self.valid: dict[OcppVersion, OcppModel] = {}
        self.errors: dict[OcppVersion, list[Any]] = {}
        for version in OcppVersion:
            if action not in catalog(version).to_station:
                continue
            try:
                self.valid[version] = request_model(version, action).model_validate(payload)
            except ValidationError as exc:
                self.errors[version] = exc.errors()

    def first(self) -> OcppModel:
        """The payload as the first version that takes it reads it (1.6 before 2.0.1)."""
        return next(iter(self.valid.values()))

    def refusal(self, cp_id: str, version: OcppVersion) -> str | None:
        """Why a CP of `version` is sent nothing; None when its version takes the payload."""
        if version in self.valid:
            return None
        if version not in self.errors:
            return WrongVersion(cp_id, version, self.action).detail
        where = "; ".join(
            f"payload.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in self.errors[version]
        )
        return f"Charge point {cp_id!r} speaks OCPP {version}: {where}"


async def _one(
    state: AppState,
    principal: Principal,
    cp_id: str,
    payloads: Payloads,
    timeout: float | None,
    wait: bool,
    batch_id: str,
) -> FleetItem:
    action = payloads.action
    known = await station_version(state, cp_id)
    refusal = payloads.refusal(cp_id, known) if known is not None else None
    if refusal is not None:
        return FleetItem(charge_point_id=cp_id, status="refused", reason=refusal)
    payload = payloads.valid[known] if known is not None else payloads.first()
    async with state.sessions() as session:
        try:
            sent = await send_command(
                state, session, principal, cp_id, action, payload, timeout, wait,
                batch_id=batch_id, station=Station(known),
            )  # fmt: skip
        except CommandFailed as exc:
            return FleetItem(
                charge_point_id=cp_id,
                command_id=exc.command_id,
                status=exc.outcome,
                error_code=exc.extensions.get("errorCode"),
                error_description=exc.extensions.get("errorDescription"),
                reason=exc.detail,
            )
        except HTTPException as exc:
            outcome = "unknown_charge_point" if exc.status_code == 404 else "refused"
            return FleetItem(charge_point_id=cp_id, status=outcome, reason=str(exc.detail))
        except ProblemError as exc:  # e.g. a feature profile the CP does not list
            return FleetItem(charge_point_id=cp_id, status="refused", reason=exc.detail)
    if sent.response is None:
        return FleetItem(charge_point_id=cp_id, command_id=sent.command_id, status="pending")
    return FleetItem(
        charge_point_id=cp_id,
        command_id=sent.command_id,
        status="result",
        response=sent.response,
    )


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
    """Send one action to many CPs, a few at a time; every CP's answer, or the batch. Each CP
    gets the payload checked against its own OCPP version; a CP whose version lacks the
    action, or reads the payload otherwise, is refused (and listed so)."""
    if action not in ALL_ACTIONS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Unknown action {action!r}; the central system can send: "
            + ", ".join(sorted(ALL_ACTIONS)),
        )
    payloads = Payloads(action, body.payload)
    if not payloads.valid:
        # Valid for no version: each version's errors, named by version when there are two.
        named = len(payloads.errors) > 1
        raise RequestValidationError(
            [
                {
                    **e,
                    "loc": ("body", "payload", *e["loc"]),
                    "msg": f"OCPP {version}: {e['msg']}" if named else e["msg"],
                }
                for version, errors in payloads.errors.items()
                for e in errors
            ]
        )
    payload = payloads.first()
    _check_request(state, principal, action, payload.to_payload(), timeout)
    cp_ids = await _targets(state, body)
    batch_id = str(uuid.uuid4())
    async with state.sessions() as session, session.begin():
        await session.execute(
            insert(command_batches).values(
                id=batch_id,
                action=action,
                # Stored and shown as each CP's command is: secrets redacted.
                request=redact_request(
                    action,
                    payload.to_payload(),
                    secret_keys(state.settings.secret_configuration_keys),
                ),
                charge_point_ids=cp_ids,
                requested_by=principal.name,
            )
        )
    gate = asyncio.Semaphore(state.settings.fleet_concurrency)

    async def one(cp_id: str) -> FleetItem:
        async with gate:
            return await _one(state, principal, cp_id, payloads, timeout, wait, batch_id)

    items = await asyncio.gather(*(one(cp) for cp in cp_ids))
    refused = [
        Refusal(charge_point_id=item.charge_point_id, status=item.status, reason=item.reason or "")
        for item in items
        if item.status == "refused"
    ]
    if refused:
        async with state.sessions() as session, session.begin():
            await session.execute(
                update(command_batches)
                .where(command_batches.c.id == batch_id)
                .values(refused=[r.model_dump(mode="json", by_alias=True) for r in refused])
            )
    result = FleetResult(
        batch_id=batch_id,
        action=action,
        total=len(items),
        summary=dict(Counter(item.status for item in items)),
        items=list(items),
    )
    shown = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return JSONResponse(shown, status_code=200 if wait else 202)


@router.get("/command-batches/{batch_id}", response_model=Batch)
async def get_command_batch(state: State, principal: Viewer, batch_id: str) -> Batch:
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
    refused = [Refusal.model_validate(item) for item in batch.refused]
    summary = Counter(r.status for r in rows) + Counter(item.status for item in refused)
    # A CP with neither: the batch is still sending (wait=true), or was cut short.
    queued = len(batch.charge_point_ids) - len(rows) - len(refused)
    if queued > 0:
        summary["queued"] = queued
    return Batch(
        batch_id=batch.id,
        action=batch.action,
        request=batch.request,
        requested_by=batch.requested_by,
        created_at=batch.created_at,
        total=len(batch.charge_point_ids),
        pending=summary["pending"] + summary["queued"],
        summary=dict(summary),
        items=[command_of(r) for r in rows],
        refused=refused,
    )
