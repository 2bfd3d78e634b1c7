"""/ocpi/2.2.1/locations[/{location_id}[/{evse_uid}[/{connector_id}]]]: the sender interface
eMSPs pull this CPO's locations from (GET: a page of them, one, one EVSE, one connector)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from .. import location_store
from ..location_documents import Publisher, connector_document, evse_document
from ..ocpi.types import VERSION, Status
from .answers import OcpiError, envelope
from .paging import Paging, paged
from .routing import Routed
from .state import AppState

router = APIRouter(prefix=f"/ocpi/{VERSION}/locations")

LocationId = Annotated[str, Path(min_length=1, max_length=36)]
EvseUid = Annotated[str, Path(min_length=1, max_length=36)]
ConnectorId = Annotated[str, Path(min_length=1, max_length=36)]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.roaming
    return state


def _unknown(what: str) -> OcpiError:
    return OcpiError(f"no {what}", Status.UNKNOWN_LOCATION, 404)


@router.get("")
async def list_locations(request: Request, routed: Routed, query: Paging) -> JSONResponse:
    """A page of the locations, by id; those last updated in [date_from, date_to)."""
    state = _state(request)
    async with state.sessions() as session:
        found, total = await location_store.page(
            session,
            Publisher.of(state.settings),
            offset=query.offset,
            limit=query.limit,
            date_from=query.date_from,
            date_to=query.date_to,
        )
    return routed.stamp(paged(request, [f.document.wire() for f in found], total, query))


async def _location(request: Request, location_id: str) -> location_store.StoredLocation:
    state = _state(request)
    async with state.sessions() as session:
        found = await location_store.load(session, location_id, Publisher.of(state.settings))
    if found is None:
        raise _unknown(f"location {location_id}")
    return found


@router.get("/{location_id}")
async def get_location(request: Request, routed: Routed, location_id: LocationId) -> JSONResponse:
    found = await _location(request, location_id)
    return routed.stamp(envelope(found.document.wire()))


@router.get("/{location_id}/{evse_uid}")
async def get_evse(
    request: Request, routed: Routed, location_id: LocationId, evse_uid: EvseUid
) -> JSONResponse:
    evse = evse_document((await _location(request, location_id)).document, evse_uid)
    if evse is None:
        raise _unknown(f"EVSE {evse_uid} in location {location_id}")
    return routed.stamp(envelope(evse.wire()))


@router.get("/{location_id}/{evse_uid}/{connector_id}")
async def get_connector(
    request: Request,
    routed: Routed,
    location_id: LocationId,
    evse_uid: EvseUid,
    connector_id: ConnectorId,
) -> JSONResponse:
    evse = evse_document((await _location(request, location_id)).document, evse_uid)
    connector = None if evse is None else connector_document(evse, connector_id)
    if connector is None:
        raise _unknown(f"connector {connector_id} of EVSE {evse_uid} in location {location_id}")
    return routed.stamp(envelope(connector.wire()))
