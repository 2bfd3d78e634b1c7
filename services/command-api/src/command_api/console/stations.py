"""Overview, the charge point list and a charge point's page with its command panel."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from csms_shared.contracts.rpc_profiles import MAX_COMPOSITE_DURATION
from csms_shared.ocpp import v201
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.v16.enums import ChargePointStatus
from csms_shared.ocpp.version import OcppVersion

from .. import webhook_store
from ..api import charge_point_security as cp_security
from ..api import charge_points as cp_api
from ..api import sessions as session_api
from ..api.command_sending import CommandFailed, Sent, Station, send_command
from ..api.deps import Session
from ..api.operator_actions import run_action
from ..auth import Role
from ..models import Page
from ..problems import ProblemError
from ..station_actions import ACTIONS
from ..versions import ALL_ACTIONS, station_version, version_for
from .forms import (
    OUTCOMES,
    FormProblem,
    action_forms,
    command_forms,
    parse_action,
    parse_command,
    set_variables_request,
)
from .profiles import PROFILE_FORM, profiles_of, site_of
from .web import AdminPage, OperatorPage, ViewerPage, shown

router = APIRouter(include_in_schema=False)

CpId = Annotated[str, Path(pattern=CHARGE_POINT_ID_PATTERN)]
PAGE_SIZE = 50
STATUSES = [s.value for s in ChargePointStatus]


async def _total(call: Any, **kw: Any) -> int | None:
    try:
        page: Page[Any] = await call(**kw)
    except HTTPException:
        return None
    return page.total


@router.get("/")
async def overview(page: ViewerPage) -> Response:
    """The network at a glance and what needs attention."""
    state, who = page.state, page.principal
    summary = shown(await cp_api.get_suite_status(state, who))
    cps, tx = cp_api.list_charge_points, session_api.list_transactions
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    faulted = await _section(cps, state, who, limit=10, connector_status=ChargePointStatus.FAULTED)
    counts = {
        "faulted": None if "error" in faulted else faulted["total"],
        "offline": await _total(cps, state=state, principal=who, limit=1, online=False),
        "active": await _total(tx, state=state, principal=who, limit=1, active=True),
        "stale": await _total(tx, state=state, principal=who, limit=1, stale=True),
        "unmatched": await _total(
            session_api.list_unmatched_stops, state=state, principal=who, limit=1
        ),
        "pending": await _total(
            cps, state=state, principal=who, limit=1, registration_status="Pending"
        ),
    }
    security = await _section(cp_api.list_recent_security_events, state, who, limit=10)
    # Admins see the webhooks disabled for failing, to enable them once their receiver is fixed.
    disabled_webhooks = []
    if who.may(Role.ADMIN):
        async with state.sessions() as session:
            disabled_webhooks = [
                shown(webhook_store.webhook_of(row))
                for row in await webhook_store.disabled(session)
            ]
    try:
        energy = shown(
            await session_api.get_energy_report(
                state, who, start=today, end=None, charge_point_id=None, limit=1, offset=0
            )
        )
    except HTTPException:
        energy = {"totals": []}
    by_status = summary.get("connectorsByStatus") or {}
    return page.render(
        "overview.html",
        summary=summary,
        connector_statuses={s: by_status.get(s, 0) for s in [*STATUSES, "unknown"]}
        if by_status
        else {},
        statuses=STATUSES,
        counts=counts,
        energy=energy,
        faulted=faulted["items"],
        security=security["items"],
        disabled_webhooks=disabled_webhooks,
    )


@router.get("/charge-points")
async def charge_point_list(
    page: ViewerPage,
    q: Annotated[str, Query(max_length=48)] = "",
    online: Annotated[str, Query(pattern="^(|yes|no)$")] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    registration: Literal["", "Accepted", "Pending", "Rejected"] = "",
    version: Literal["", "1.6", "2.0.1"] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    rows: Annotated[bool, Query(description="only the table's rows (live refresh)")] = False,
) -> Response:
    """Search by id, vendor or model; filter by presence and connector status; pages of 50."""
    result = await cp_api.list_charge_points(
        page.state,
        page.principal,
        limit=PAGE_SIZE,
        offset=offset,
        online={"yes": True, "no": False}.get(online),
        search=q or None,
        connector_status=ChargePointStatus(status) if status in STATUSES else None,
        registration_status=registration or None,
        ocpp_version=OcppVersion(version) if version else None,
    )
    context = {
        "result": shown(result),
        "q": q,
        "online": online,
        "status": status,
        "registration": registration,
        "version": version,
        "versions": [v.value for v in OcppVersion],
        "offset": offset,
        "page_size": PAGE_SIZE,
        "statuses": STATUSES,
    }
    return page.render("cp_rows.html" if rows else "charge_points.html", **context)


async def _section(call: Any, *args: Any, **kw: Any) -> Any:
    """A page a route answers, as the API shows it; or none, and why."""
    try:
        result: Page[Any] = await call(*args, **kw)
    except HTTPException as exc:
        return {"items": [], "total": 0, "error": str(exc.detail)}
    return shown(result)


@router.get("/charge-points/{cp_id}")
async def charge_point_page(page: ViewerPage, cp_id: CpId) -> Response:
    """Presence, boot info, connectors, configuration, history, security events, operations,
    transactions, and the command panel."""
    state, who = page.state, page.principal
    try:
        cp = shown(await cp_api.get_charge_point(state, who, cp_id))
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    history = await _section(cp_api.list_status_history, state, who, cp_id, limit=20, offset=0)
    events = await _section(cp_api.list_security_events, state, who, cp_id, limit=20, offset=0)
    operations = await _section(
        cp_api.list_operations, state, who, cp_id, kind=None, limit=20, offset=0
    )
    transfers = await _section(cp_api.list_data_transfers, state, who, cp_id, limit=20, offset=0)
    transactions = await _section(
        session_api.list_transactions,
        state=state,
        principal=who,
        charge_point_id=cp_id,
        connector_id=None,
        id_tag=None,
        active=None,
        stale=None,
        start=None,
        end=None,
        limit=20,
        offset=0,
    )
    return page.render(
        "charge_point.html",
        cp=cp,
        history=history,
        events=events,
        operations=operations,
        transactions=transactions,
        transfers=transfers,
        profiles=await profiles_of(page, cp_id),
        profile_form=PROFILE_FORM,
        site=await site_of(page, cp_id),
        max_duration=MAX_COMPOSITE_DURATION,
        # The station's version's actions, and the operator actions that work for either.
        # None before it first connects: its version, and so its commands, are not known.
        forms=command_forms(OcppVersion(cp["ocppVersion"]))
        if page.may(Role.OPERATOR) and cp.get("ocppVersion")
        else [],
        actions=action_forms() if page.may(Role.OPERATOR) else [],
    )


@router.get("/charge-points/{cp_id}/variables")
async def charge_point_variables(
    page: ViewerPage,
    cp_id: CpId,
    component: Annotated[str, Query(max_length=50)] = "",
    variable: Annotated[str, Query(max_length=50)] = "",
) -> Response:
    """A 2.0.1 station's device model, searched by part of a component's or variable's name."""
    result = await _section(
        cp_api.list_variables,
        page.state,
        page.principal,
        cp_id,
        limit=200,
        offset=0,
        component=component or None,
        variable=variable or None,
    )
    return page.render("cp_variables.html", result=result, cp_id=cp_id)


@router.post("/charge-points/{cp_id}/variables/set")
async def set_variable(page: OperatorPage, cp_id: CpId) -> Response:
    """One attribute of the device model set through SetVariables (a security variable needs
    the admin role, as the command route decides); the station's attributeStatus is shown."""
    form = await page.form()
    try:
        request = set_variables_request(form)
    except FormProblem as problem:
        return page.outcome(422, ok=False, text=f"Not sent: {problem}")

    async def run(session: Session) -> Sent:
        return await send_command(
            page.state, session, page.principal, cp_id, "SetVariables", request, None, True
        )

    return await _show(page, run)


@router.get("/charge-points/{cp_id}/live")
async def charge_point_live(page: ViewerPage, cp_id: CpId) -> Response:
    """The presence and connectors block alone, refreshed in place."""
    try:
        cp = shown(await cp_api.get_charge_point(page.state, page.principal, cp_id))
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return page.render("cp_live.html", cp=cp)


@router.post("/charge-points/{cp_id}/commands/{action}")
async def send(page: OperatorPage, cp_id: CpId, action: str) -> Response:
    """Validate the form against the station's version, send the command, and say what came
    of it."""
    form = await page.form()
    if action not in ALL_ACTIONS:
        return page.outcome(422, ok=False, text=f"Unknown action {action!r}")
    known = await station_version(page.state, cp_id)
    try:
        version = version_for(cp_id, known, action)
        request = parse_command(action, form, version)
    except ProblemError as problem:
        return page.outcome(problem.status, ok=False, text=f"Not sent: {problem.detail}")
    except FormProblem as problem:
        return page.outcome(422, ok=False, text=f"Not sent: {problem}")

    async def run(session: Session) -> Sent:
        return await send_command(
            page.state, session, page.principal, cp_id, action, request, None, True,
            station=Station(known),
        )  # fmt: skip

    return await _show(page, run)


@router.post("/charge-points/{cp_id}/actions/{name}")
async def act(page: OperatorPage, cp_id: CpId, name: str) -> Response:
    """An operator action (start a session, reset, ...) sent in the station's version."""
    form = await page.form()
    if name not in ACTIONS:
        return page.outcome(422, ok=False, text=f"Unknown action {name!r}")
    try:
        body = parse_action(name, form)
    except FormProblem as problem:
        return page.outcome(422, ok=False, text=f"Not sent: {problem}")

    async def run(session: Session) -> Sent:
        _, sent = await run_action(page.state, session, page.principal, cp_id, body, None, True)
        return sent

    return await _show(page, run)


async def _show(page: OperatorPage, run: Callable[[Session], Awaitable[Sent]]) -> Response:
    """Send (`run`) and render what came of it: the answer, or why there is none."""
    async with page.state.sessions() as session:
        try:
            sent = await run(session)
        except CommandFailed as failed:
            ext = failed.extensions
            if failed.outcome == "error":
                text = (
                    f"The charge point refused: {ext.get('errorCode')}"
                    f" ({ext.get('errorDescription') or 'no description'})"
                )
            else:
                text = OUTCOMES.get(failed.outcome, failed.detail)
            return page.outcome(200, ok=False, text=text, command_id=failed.command_id)
        except ProblemError as exc:
            return page.outcome(exc.status, ok=False, text=f"Not sent: {exc.detail}")
        except RequestValidationError as exc:
            where = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
            )
            return page.outcome(422, ok=False, text=f"Not sent: {where}")
        except HTTPException as exc:
            return page.outcome(exc.status_code, ok=False, text=str(exc.detail))
    answer = sent.response or {}
    status = _status(sent.answer())
    text = f"Sent and answered: {status}" if status else "Sent and answered"
    return page.render(
        "outcome.html",
        ok=status in (None, "Accepted", "Unlocked"),
        text=text,
        command_id=sent.command_id,
        answer=json.dumps(answer, indent=2, ensure_ascii=False),
    )


@runtime_checkable
class _Answered(Protocol):
    """An answer that says in a status what came of the command (most actions' answers)."""

    @property
    def status(self) -> StrEnum: ...


def _status(answer: OcppModel | None) -> str | None:
    """What the answer says came of the command: its status, or a SetVariables answer's
    (first) attributeStatus; None when it says neither."""
    if isinstance(answer, v201.SetVariablesResponse):
        return answer.set_variable_result[0].attribute_status.value
    if isinstance(answer, _Answered):
        return answer.status.value
    return None


@router.post("/charge-points/{cp_id}/approve")
async def approve(page: AdminPage, cp_id: CpId) -> Response:
    """Accept a pending charge point."""
    await page.form()
    async with page.state.sessions() as session:
        try:
            await cp_security.approve_charge_point(page.state, session, page.principal, cp_id)
        except HTTPException as exc:
            return page.outcome(exc.status_code, ok=False, text=str(exc.detail))
    return RedirectResponse(f"/charge-points/{cp_id}", 303)


@router.post("/charge-points/{cp_id}/security-profile")
async def security_profile(page: AdminPage, cp_id: CpId) -> Response:
    """Set the charge point's security profile (0 to 3)."""
    form = await page.form()
    raw = str(form.get("securityProfile") or "")
    if raw not in ("0", "1", "2", "3"):
        return page.outcome(422, ok=False, text="The profile is 0, 1, 2 or 3")
    try:
        await cp_security.register_charge_point(
            page.state,
            page.principal,
            cp_id,
            cp_security.ChargePointSettings(security_profile=int(raw)),
        )
    except HTTPException as exc:
        return page.outcome(exc.status_code, ok=False, text=str(exc.detail))
    return page.outcome(200, ok=True, text=f"Security profile set to {raw}")
