"""Roaming locations in the console: the list, a location's page (its EVSEs' OCPI status, the
pushes of it, the OCPI document), and the editor operators create and change one with. The
editor PUTs the LocationSettings body through the REST route's own function, so the console
keeps the API's checks: a refusal's fields are shown beside their inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from csms_shared.contracts.rpc_roaming_locations import LocationSettings, RoamingLocation

from ..api import roaming as roaming_api
from . import roaming_location_form as location_form
from .charging import PAGE_SIZE, Offset
from .roaming_location_form import Draft, Refusal
from .web import OperatorPage, Page, shown

router = APIRouter(include_in_schema=False)
LocationId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._-]+$")]
# The pushes a location's page looks through for its own: the newest of the push log.
PUSH_WINDOW = 200


def queued(pushes: int, why_none: str) -> str:
    """How many pushes a "send again" queued, in words."""
    if pushes == 0:
        return f"Nothing queued: {why_none}"
    return f"Queued {pushes} push{'' if pushes == 1 else 'es'}"


@dataclass
class Editor:
    """The location form as its template shows it: the draft, where it posts, whether it makes
    a new location, why it was refused, and the field to focus after a row was added."""

    draft: Draft
    action: str
    new: bool
    refusal: Refusal = field(default_factory=Refusal)
    focus: str = ""
    open: bool = False
    choices: Any = location_form


def _htmx(page: Page) -> bool:
    return page.request.headers.get("hx-request") == "true"


@router.get("/roaming/locations")
async def locations(page: OperatorPage, offset: Offset = 0) -> Response:
    """The locations published to the platforms, by id, with each EVSE's OCPI status, and the
    form of a new one."""
    editor = Editor(location_form.new_draft(), "/roaming/locations", new=True)
    return await _list_page(page, editor, offset)


async def _list_page(page: Page, editor: Editor, offset: int = 0, status: int = 200) -> Response:
    try:
        result = shown(
            await roaming_api.list_locations(
                page.state, page.principal, limit=PAGE_SIZE, offset=offset
            )
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render(
        "roaming_locations.html",
        status,
        result=result,
        offset=offset,
        page_size=PAGE_SIZE,
        editor=editor,
    )


@router.get("/roaming/locations/{location_id}")
async def location(page: OperatorPage, location_id: LocationId, saved: bool = False) -> Response:
    """One location: where it is, its EVSEs' status, the pushes of it, the OCPI Location
    platforms get, and its editor."""
    try:
        found = await roaming_api.get_location(page.state, page.principal, location_id)
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    editor = Editor(
        location_form.stored_draft(found.id, found.location),
        f"/roaming/locations/{found.id}",
        new=False,
    )
    return await _location_page(page, found, editor, saved=saved)


async def _location_page(
    page: Page, found: RoamingLocation, editor: Editor, *, saved: bool = False, status: int = 200
) -> Response:
    return page.render(
        "roaming_location.html",
        status,
        location=shown(found),
        # In the document's own order, as platforms read it.
        document=json.dumps(found.ocpi, indent=2, ensure_ascii=False),
        pushes=await _pushes_of(page, found.id),
        saved=saved,
        push_window=PUSH_WINDOW,
        editor=editor,
    )


async def _pushes_of(page: Page, location_id: str) -> dict[str, Any]:
    """The pushes of the location among the newest PUSH_WINDOW of the log (the push log has
    no filter by location; right after a change its pushes are the newest)."""
    try:
        log = await roaming_api.list_pushes(
            page.state, page.principal, platform_id=None, limit=PUSH_WINDOW, offset=0
        )
    except HTTPException as exc:
        return {"items": [], "error": str(exc.detail)}
    # As the roaming service keys them: `location:<id>`, the id in capitals (a CiString).
    key = f"location:{location_id.upper()}"
    return {"items": [p for p in shown(log)["items"] if p["object"] == key]}


@router.post("/roaming/locations")
async def create_location(page: OperatorPage) -> Response:
    """Publish a new location, or add or remove a row of its form."""
    form = await page.form()
    editor = Editor(location_form.posted_draft(form), "/roaming/locations", new=True, open=True)
    change = str(form.get("change") or "")
    if change:
        editor.draft, editor.focus = location_form.changed(editor.draft, change)
        return await _again(page, editor, 200)
    refusal = editor.refusal
    body = _body(editor.draft, refusal)
    location_id = ""
    try:
        location_id = location_form.location_id(editor.draft)
    except ValidationError as exc:
        refusal.add_invalid(exc, ("id",))
    if refusal or body is None:
        return await _again(page, editor, refusal.status)
    try:
        await roaming_api.get_location(page.state, page.principal, location_id)
    except HTTPException as exc:
        if exc.status_code != 404:
            refusal.add_answer(exc)
            return await _again(page, editor, refusal.status)
    else:
        # A PUT would replace it whole: a new location never overwrites one.
        refusal.fields["id"] = f"location {location_id} exists already: edit it on its page"
        return await _again(page, editor, refusal.status)
    return await _put(page, editor, location_id, body)


@router.post("/roaming/locations/{location_id}")
async def edit_location(page: OperatorPage, location_id: LocationId) -> Response:
    """Replace a location whole with what its form says, or add or remove a row of it."""
    form = await page.form()
    draft = {**location_form.posted_draft(form), "id": location_id}
    editor = Editor(draft, f"/roaming/locations/{location_id}", new=False, open=True)
    change = str(form.get("change") or "")
    if change:
        editor.draft, editor.focus = location_form.changed(editor.draft, change)
        return await _again(page, editor, 200)
    body = _body(editor.draft, editor.refusal)
    if body is None:
        return await _again(page, editor, editor.refusal.status)
    return await _put(page, editor, location_id, body)


def _body(draft: Draft, refusal: Refusal) -> LocationSettings | None:
    try:
        return location_form.settings(draft)
    except ValidationError as exc:
        refusal.add_invalid(exc)
        return None


async def _put(page: Page, editor: Editor, location_id: str, body: LocationSettings) -> Response:
    """PUT the location; its page when it was taken (htmx follows HX-Redirect), else the form
    again with why."""
    try:
        found = await roaming_api.put_location(page.state, page.principal, location_id, body)
    except HTTPException as exc:
        editor.refusal.add_answer(exc)
        return await _again(page, editor, editor.refusal.status)
    except ValidationError as exc:
        editor.refusal.add_invalid(exc)
        return await _again(page, editor, editor.refusal.status)
    target = f"/roaming/locations/{found.id}?saved=true"
    if _htmx(page):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


async def _again(page: Page, editor: Editor, status: int) -> Response:
    """The form again (a row added or removed, or why it was not saved): htmx swaps the form
    alone in (it swaps only 2xx answers), a plain post gets its whole page and the status."""
    if _htmx(page):
        return page.render("roaming_location_form.html", editor=editor)
    if editor.new:
        return await _list_page(page, editor, status=status)
    location_id = editor.draft["id"]
    try:
        found = await roaming_api.get_location(page.state, page.principal, location_id)
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return await _location_page(page, found, editor, status=status)


@router.post("/roaming/locations/{location_id}/push")
async def repush_location(page: OperatorPage, location_id: LocationId) -> Response:
    """The whole Location again to every platform with a locations receiver."""
    await page.form()
    try:
        done = await roaming_api.push_location(page.state, page.principal, location_id)
    except HTTPException as exc:
        return page.refused("Not sent", exc)
    return page.outcome(
        200, ok=True, text=queued(done.pushes, "no registered platform has a locations receiver")
    )
