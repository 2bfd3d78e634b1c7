"""Tariffs in the console: the list, a new one, one to edit or delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from csms_shared.ocpp import INT32_MAX

from ..api import tariffs as tariff_api
from .charging import PAGE_SIZE, Offset
from .web import AdminPage, ViewerPage, shown

router = APIRouter(include_in_schema=False)
TariffPath = Annotated[int, Path(ge=1, le=INT32_MAX)]


def _names(text: Any) -> list[str]:
    """A comma- or space-separated list typed into a form field."""
    return [part for part in str(text or "").replace(",", " ").split() if part]


FormValue = str | bool | list[str] | None
_CLEARABLE = ("valid_from", "valid_to", "vat")


def _fields(form: Any, *, new: bool) -> dict[str, FormValue]:
    fields: dict[str, FormValue] = {
        "name": form.get("name") or None,
        "price_per_kwh": form.get("pricePerKwh") or None,
        "session_fee": form.get("sessionFee") or ("0" if new else None),
        "per_minute_fee": form.get("perMinuteFee") or ("0" if new else None),
        "parking_per_minute_fee": form.get("parkingPerMinuteFee") or ("0" if new else None),
        "currency": form.get("currency") or None,
        "vat": form.get("vat") or None,
        "valid_from": form.get("validFrom") or None,
        "valid_to": form.get("validTo") or None,
        "is_default": form.get("isDefault") == "on",
        "charge_point_ids": _names(form.get("chargePointIds")),
        "tags": _names(form.get("tags")),
    }
    if new:
        return {k: v for k, v in fields.items() if v is not None}
    # An edit sends every field of the form: an emptied validity bound or VAT rate is cleared.
    return {k: v for k, v in fields.items() if v is not None or k in _CLEARABLE}


@router.get("/tariffs")
async def tariffs(page: ViewerPage, offset: Offset = 0) -> Response:
    """Tariffs, newest first, and a form for a new one (admins)."""
    result = await tariff_api.list_tariffs(
        page.state,
        page.principal,
        charge_point_id=None,
        tag=None,
        in_force_at=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return page.render("tariffs.html", result=shown(result), offset=offset, page_size=PAGE_SIZE)


@router.post("/tariffs")
async def create_tariff(page: AdminPage) -> Response:
    """Add a tariff."""
    form = await page.form()
    try:
        body = tariff_api.NewTariff(**_fields(form, new=True))
        created = await tariff_api.create_tariff(page.state, page.principal, body)
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not created", exc)
    return page.outcome(200, ok=True, text=f"Created tariff {created.name}")


@router.get("/tariffs/{tariff_id}")
async def tariff(page: ViewerPage, tariff_id: TariffPath) -> Response:
    """One tariff and its edit form."""
    try:
        found = await tariff_api.get_tariff(page.state, page.principal, tariff_id)
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return page.render("tariff.html", tariff=shown(found))


@router.post("/tariffs/{tariff_id}")
async def edit_tariff(page: AdminPage, tariff_id: TariffPath) -> Response:
    """Change a tariff; transactions already started keep their prices."""
    form = await page.form()
    try:
        body = tariff_api.TariffChange(**_fields(form, new=False))
        await tariff_api.update_tariff(page.state, page.principal, tariff_id, body)
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not saved", exc)
    return page.outcome(200, ok=True, text="Saved")


@router.post("/tariffs/{tariff_id}/delete")
async def delete_tariff(page: AdminPage, tariff_id: TariffPath) -> Response:
    """Remove a tariff no transaction started under."""
    await page.form()
    try:
        await tariff_api.delete_tariff(page.state, page.principal, tariff_id)
    except HTTPException as exc:
        return page.outcome(exc.status_code, ok=False, text=f"Not deleted: {exc.detail}")
    if page.request.headers.get("hx-request") == "true":
        return page.outcome(200, ok=True, text="Deleted")
    return RedirectResponse("/tariffs", 303)
