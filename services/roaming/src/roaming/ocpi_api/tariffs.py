"""/ocpi/2.2.1/tariffs: the sender interface platforms pull this CPO's tariffs from (GET, paged;
every platform sees every tariff: they are this CPO's public prices)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import tariff_store
from ..ocpi.types import VERSION
from .paging import Paging, paged
from .routing import Routed
from .state import AppState

router = APIRouter(prefix=f"/ocpi/{VERSION}")


@router.get("/tariffs")
async def list_tariffs(request: Request, routed: Routed, query: Paging) -> JSONResponse:
    """The tariffs in force, by id; those updated in [date_from, date_to)."""
    state: AppState = request.app.state.roaming
    async with state.sessions() as session:
        found, total = await tariff_store.page(
            session,
            offset=query.offset,
            limit=query.limit,
            date_from=query.date_from,
            date_to=query.date_to,
        )
    return routed.stamp(paged(request, found, total, query))
