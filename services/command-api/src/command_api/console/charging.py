"""Transactions, id tags, reservations and the energy report."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from csms_shared.ocpp import INT32_MAX, INT32_MIN
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.vocabulary.tokens import MAX_TOKEN_LENGTH

from ..api import sessions as session_api
from .chart import HEIGHT, PAD, WIDTH, series
from .web import AdminPage, OperatorPage, ViewerPage, shown

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
YesNo = Annotated[str, Query(pattern="^(|yes|no)$")]
TagPath = Annotated[str, Path(min_length=1, max_length=MAX_TOKEN_LENGTH, pattern=r"^[^\x00]+$")]
CpFilter = Annotated[str, Query(pattern=f"^$|{CHARGE_POINT_ID_PATTERN}")]


def _flag(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@router.get("/transactions")
async def transactions(
    page: ViewerPage,
    cp: CpFilter = "",
    tag: Annotated[str, Query(max_length=MAX_TOKEN_LENGTH)] = "",
    active: YesNo = "",
    stale: YesNo = "",
    offset: Offset = 0,
) -> Response:
    """Transactions, newest first, by CP, id tag, active and stale."""
    try:
        result = shown(
            await session_api.list_transactions(
                page.state,
                page.principal,
                charge_point_id=cp or None,
                connector_id=None,
                id_tag=tag or None,
                active=_flag(active),
                stale=_flag(stale),
                start=None,
                end=None,
                limit=PAGE_SIZE,
                offset=offset,
            )
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render(
        "transactions.html",
        result=result,
        cp=cp,
        tag=tag,
        active=active,
        stale=stale,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/transactions/{transaction_id}")
async def transaction(
    page: ViewerPage, transaction_id: Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]
) -> Response:
    """Energy, cost, the audit trail and a chart of the meter values."""
    try:
        tx = await session_api.get_transaction(
            page.state,
            page.principal,
            transaction_id,
            meter_values_limit=10_000,
            meter_values_offset=0,
        )
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return page.render(
        "transaction.html",
        tx=shown(tx),
        charts=series(tx.meter_values),
        width=WIDTH,
        height=HEIGHT,
        pad=PAD,
    )


@router.post("/transactions/{transaction_id}/close")
async def close(
    page: OperatorPage, transaction_id: Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]
) -> Response:
    """Close a stale transaction the CP never stopped, with the operator's reason."""
    form = await page.form()
    try:
        body = session_api.CloseTransaction(
            reason=str(form.get("reason") or ""), force=form.get("force") == "yes"
        )
        await session_api.close_transaction(page.state, page.principal, transaction_id, body)
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not closed", exc)
    return page.outcome(200, ok=True, text="Closed")


@router.get("/id-tags")
async def id_tags(
    page: ViewerPage,
    q: Annotated[str, Query(max_length=50)] = "",
    status: Annotated[str, Query(pattern="^(|Accepted|Blocked|Expired|Invalid)$")] = "",
    offset: Offset = 0,
) -> Response:
    """The authorization list: search, create, block, unblock, delete."""
    result = await session_api.list_id_tags(
        page.state,
        page.principal,
        id_tag_status=cast(session_api.IdTagStatus, status) if status else None,
        parent_id_tag=None,
        search=q or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return page.render(
        "id_tags.html",
        result=shown(result),
        q=q,
        status=status,
        offset=offset,
        page_size=PAGE_SIZE,
    )


_INTEGER = re.compile(r"-?[0-9]{1,3}")


def _tag_fields(form: Any) -> dict[str, str | int | None]:
    fields: dict[str, str | int | None] = {
        "expiry_date": form.get("expiryDate") or None,
        "parent_id_tag": form.get("parentIdTag") or None,
        "max_concurrent_tx": form.get("maxConcurrentTx") or None,
        "note": form.get("note") or None,
    }
    if form.get("status"):
        fields["status"] = form.get("status")
    if priority := str(form.get("chargingPriority") or "").strip():
        # The API takes a JSON integer only; text that is none is refused by its rules.
        fields["charging_priority"] = int(priority) if _INTEGER.fullmatch(priority) else priority
    return fields


@router.post("/id-tags")
async def create_id_tag(page: AdminPage) -> Response:
    """Add an id tag."""
    form = await page.form()
    try:
        body = session_api.NewIdTag(id_tag=str(form.get("idTag") or ""), **_tag_fields(form))
        created = await session_api.create_id_tag(page.state, page.principal, body)
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not created", exc)
    return page.outcome(200, ok=True, text=f"Created {created.id_tag}")


@router.get("/id-tags/{id_tag}")
async def id_tag(page: ViewerPage, id_tag: TagPath) -> Response:
    """One id tag and its edit form."""
    try:
        tag = await session_api.get_id_tag(page.state, page.principal, id_tag)
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return page.render("id_tag.html", tag=shown(tag))


@router.post("/id-tags/{id_tag}")
async def edit_id_tag(page: AdminPage, id_tag: TagPath) -> Response:
    """Change status, expiry, parent, concurrent limit, charging priority or note."""
    form = await page.form()
    try:
        body = session_api.IdTagChange(**_tag_fields(form))
        await session_api.update_id_tag(page.state, page.principal, id_tag, body)
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not saved", exc)
    return page.outcome(200, ok=True, text="Saved")


@router.post("/id-tags/{id_tag}/{verb}")
async def id_tag_action(
    page: AdminPage, id_tag: TagPath, verb: Annotated[str, Path(pattern="^(block|unblock|delete)$")]
) -> Response:
    """Block, unblock or delete an id tag."""
    await page.form()
    call = {
        "block": session_api.block_id_tag,
        "unblock": session_api.unblock_id_tag,
        "delete": session_api.delete_id_tag,
    }[verb]
    try:
        await call(page.state, page.principal, id_tag)
    except HTTPException as exc:
        return page.outcome(exc.status_code, ok=False, text=f"Not done: {exc.detail}")
    if page.request.headers.get("hx-request") == "true":
        done = {"block": "blocked", "unblock": "unblocked", "delete": "deleted"}[verb]
        return page.outcome(200, ok=True, text=f"{id_tag} {done}")
    return RedirectResponse("/id-tags", 303)


@router.get("/reservations")
async def reservations(
    page: ViewerPage, cp: CpFilter = "", active: YesNo = "", offset: Offset = 0
) -> Response:
    """Reservations made by accepted ReserveNow commands."""
    result = await session_api.list_reservations(
        page.state,
        page.principal,
        charge_point_id=cp or None,
        reservation_status=None,
        active=_flag(active),
        limit=PAGE_SIZE,
        offset=offset,
    )
    return page.render(
        "reservations.html",
        result=shown(result),
        cp=cp,
        active=active,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/reports/energy")
async def energy(
    page: ViewerPage,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    cp: CpFilter = "",
    format: Annotated[str, Query(pattern="^(html|csv)$")] = "html",
) -> Response:
    """kWh and cost per CP and day, as a chart and a CSV download."""
    try:
        report = await session_api.get_energy_report(
            page.state,
            page.principal,
            start=start,
            end=end,
            charge_point_id=cp or None,
            limit=10_000,
            offset=0,
        )
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["day", "chargePointId", "transactions", "energyKWh", "cost", "currency", "tariff"]
        )
        for r in report.items:
            writer.writerow(
                [
                    r.day.isoformat(),
                    r.charge_point_id,
                    r.transactions,
                    r.energy_kwh,
                    r.cost,
                    r.currency,
                    r.tariff_name or "",
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="energy.csv"'},
        )
    days: dict[str, float] = {}
    for r in report.items:
        day = r.day.isoformat()
        days[day] = days.get(day, 0.0) + r.energy_kwh
    top = max(days.values(), default=0.0) or 1.0
    bars = [(day, kwh, kwh / top * (HEIGHT - 2 * PAD)) for day, kwh in sorted(days.items())]
    return page.render(
        "energy.html",
        report=shown(report),
        bars=bars,
        cp=cp,
        start=start,
        end=end,
        width=WIDTH,
        height=HEIGHT,
        pad=PAD,
    )
