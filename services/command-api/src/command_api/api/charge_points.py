"""Charge points and the suite's status, answered by station-registry over RPC."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from .deps import State, Viewer, rpc

router = APIRouter(tags=["charge points"])

REGISTRY = "station-registry"
CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/charge-points")
async def list_charge_points(
    state: State,
    principal: Viewer,
    limit: Limit = 50,
    offset: Offset = 0,
    online: bool | None = None,
) -> dict[str, Any]:
    """Charge points with their connectors, presence and boot info."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "list_charge_points", limit=limit, offset=offset, online=online
    )
    return result


@router.get("/charge-points/{id}")
async def get_charge_point(state: State, principal: Viewer, cp_id: CpId) -> dict[str, Any]:
    """One charge point: connectors, online, gateway, last seen, boot info."""
    result: dict[str, Any] = await rpc(state, REGISTRY, "get_charge_point", id=cp_id)
    return result


@router.get("/charge-points/{id}/status-history")
async def status_history(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The CP's StatusNotifications, newest first."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "status_history", id=cp_id, limit=limit, offset=offset
    )
    return result


@router.get("/status")
async def suite_status(state: State, principal: Viewer) -> dict[str, Any]:
    """Charge points known and connected, in all and per gateway."""
    result: dict[str, Any] = await rpc(state, REGISTRY, "status_summary")
    return result
