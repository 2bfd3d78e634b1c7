"""Roaming in the console: the OCPI platforms (admins invite one, register with one, hand it new
credentials, unregister it); the tokens eMSPs pushed, the locations published, the push log and
the CDRs sent (operators look them up, send a CDR again; the locations are in
`roaming_locations`). Every page and form calls the `/roaming` REST route itself, so the console
keeps the API's checks and answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import ValidationError

from csms_shared.contracts.rpc_roaming import InvitePlatform, RegisterPlatform

from ..api import roaming as roaming_api
from . import roaming_locations
from .charging import PAGE_SIZE, Offset
from .web import AdminPage, OperatorPage, shown

router = APIRouter(include_in_schema=False)
router.include_router(roaming_locations.router)
PlatformId = Annotated[str, Path(min_length=1, max_length=36)]
PlatformFilter = Annotated[str, Query(max_length=36)]
CdrId = Annotated[str, Path(min_length=1, max_length=39)]


@router.get("/roaming")
async def platforms(page: AdminPage, offset: Offset = 0) -> Response:
    """The OCPI platforms, newest first, with the forms to connect one."""
    try:
        result = shown(
            await roaming_api.list_platforms(
                page.state, page.principal, None, limit=PAGE_SIZE, offset=offset
            )
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render("roaming.html", result=result, offset=offset, page_size=PAGE_SIZE)


@router.post("/roaming/invitations")
async def invite(page: AdminPage) -> Response:
    """A platform invited: its token A and our versions URL, shown this once."""
    form = await page.form()
    try:
        invited = await roaming_api.invite_platform(
            page.state, page.principal, InvitePlatform(name=str(form.get("name") or "").strip())
        )
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not invited", exc)
    return page.render("roaming_invitation.html", invitation=shown(invited))


@router.post("/roaming/platforms")
async def register(page: AdminPage) -> Response:
    """Register with a platform from its versions URL and token A."""
    form = await page.form()
    try:
        body = RegisterPlatform(
            name=str(form.get("name") or "").strip(),
            versions_url=str(form.get("versionsUrl") or "").strip(),
            token=str(form.get("token") or "").strip(),
        )
        done = await roaming_api.register_platform(page.state, page.principal, body)
    except (ValidationError, HTTPException) as exc:
        return page.refused("Not registered", exc)
    return page.outcome(201, ok=True, text=f"Registered with {done.name} (OCPI {done.version})")


@router.post("/roaming/platforms/{platform_id}/credentials")
async def rotate(page: AdminPage, platform_id: PlatformId) -> Response:
    """New credentials tokens both ways."""
    await page.form()
    try:
        done = await roaming_api.rotate_credentials(page.state, page.principal, platform_id)
    except HTTPException as exc:
        return page.refused("Not renewed", exc)
    return page.outcome(200, ok=True, text=f"New credentials exchanged with {done.name}")


@router.post("/roaming/platforms/{platform_id}/unregister")
async def unregister(page: AdminPage, platform_id: PlatformId) -> Response:
    """End the registration with a platform."""
    await page.form()
    try:
        done = await roaming_api.unregister_platform(page.state, page.principal, platform_id)
    except HTTPException as exc:
        return page.refused("Not unregistered", exc)
    text = f"Unregistered {done.platform.name}"
    if done.problem:
        text += f" (the platform answered: {done.problem})"
    return page.outcome(200, ok=True, text=text)


@router.get("/roaming/tokens")
async def tokens(
    page: OperatorPage,
    party: Annotated[str, Query(max_length=6, description="CC-PID, e.g. NL-TNM")] = "",
    uid: Annotated[str, Query(max_length=36)] = "",
    offset: Offset = 0,
) -> Response:
    """The tokens eMSPs pushed, newest push first; filtered by owner (CC-PID) and uid."""
    country, _, party_id = party.strip().partition("-")
    try:
        result = shown(
            await roaming_api.list_tokens(
                page.state,
                page.principal,
                country_code=country or None,
                party_id=party_id or None,
                uid=uid.strip() or None,
                limit=PAGE_SIZE,
                offset=offset,
            )
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render(
        "roaming_tokens.html",
        result=result,
        party=party,
        uid=uid,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/roaming/pushes")
async def pushes(
    page: OperatorPage, platform: PlatformFilter = "", pending: bool = False, offset: Offset = 0
) -> Response:
    """The push log, newest first: what went where, attempts, the last error, how it ended."""
    try:
        result = shown(
            await roaming_api.list_pushes(
                page.state,
                page.principal,
                platform_id=platform.strip() or None,
                pending=pending,
                limit=PAGE_SIZE,
                offset=offset,
            )
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render(
        "roaming_pushes.html",
        result=result,
        platform=platform,
        pending=pending,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/roaming/cdrs")
async def cdrs(page: OperatorPage, platform: PlatformFilter = "", offset: Offset = 0) -> Response:
    """The CDRs sent to eMSPs, newest first."""
    try:
        result = shown(
            await roaming_api.list_cdrs(
                page.state,
                page.principal,
                platform_id=platform.strip() or None,
                limit=PAGE_SIZE,
                offset=offset,
            )
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render(
        "roaming_cdrs.html", result=result, platform=platform, offset=offset, page_size=PAGE_SIZE
    )


@router.post("/roaming/cdrs/{cdr_id}/push")
async def repush_cdr(page: OperatorPage, cdr_id: CdrId) -> Response:
    """The CDR again to its eMSP, the same document."""
    await page.form()
    try:
        done = await roaming_api.push_cdr(page.state, page.principal, cdr_id)
    except HTTPException as exc:
        return page.refused("Not sent", exc)
    return page.outcome(
        200,
        ok=True,
        text=roaming_locations.queued(done.pushes, "its eMSP is not registered or pulls its CDRs"),
    )
