"""/ocpi/2.2.1/sessions and /ocpi/2.2.1/cdrs: the sender interfaces an eMSP pulls its drivers'
Sessions and CDRs from (GET, paged): only those of the parties it registered as (a hub: every
party's, or the one its OCPI-from headers name)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import cdr_store
from ..db import cdrs, sessions
from ..ocpi.types import VERSION
from .paging import PageQuery, Paging, paged
from .routing import Route, Routed
from .state import AppState

router = APIRouter(prefix=f"/ocpi/{VERSION}")


async def _page(request: Request, routed: Route, query: PageQuery, table: Any) -> JSONResponse:
    state: AppState = request.app.state.roaming
    async with state.sessions() as session:
        found, total = await cdr_store.owned_page(
            session,
            table,
            routed.owners(),
            routed.platform_id,
            offset=query.offset,
            limit=query.limit,
            date_from=query.date_from,
            date_to=query.date_to,
        )
    return routed.stamp(paged(request, found, total, query))


@router.get("/sessions")
async def list_sessions(request: Request, routed: Routed, query: Paging) -> JSONResponse:
    """The caller's Sessions, by last update; those updated in [date_from, date_to)."""
    return await _page(request, routed, query, sessions)


@router.get("/cdrs")
async def list_cdrs(request: Request, routed: Routed, query: Paging) -> JSONResponse:
    """The caller's CDRs, by creation; those created in [date_from, date_to)."""
    return await _page(request, routed, query, cdrs)
