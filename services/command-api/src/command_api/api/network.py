"""The network as data: an admin describes a CP (PATCH) or decommissions it (DELETE)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# The body is the registry's RPC params (one model for both: the same checks).
from csms_shared.contracts.rpc import (
    DecommissionChargePoint,
    MetadataPatch,
    RegistryRpc,
    UpdateChargePointMetadata,
)
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..models import ChargePoint
from .deps import Admin, State, api_router, call

router = api_router(404, 409, 503, tags=["charge points"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]


class ChargePointMetadata(MetadataPatch):
    """Fields given are set (null clears one), fields left out stay; `tags` replaces the set."""


@router.patch("/charge-points/{id}", response_model=ChargePoint)
async def update_charge_point_metadata(
    state: State, principal: Admin, cp_id: CpId, body: ChargePointMetadata
) -> ChargePoint:
    """Describe a CP: name, description, address, coordinates, time zone, tags, connectors."""
    # The patch as sent: the fields left out stay as they are.
    update = UpdateChargePointMetadata(id=cp_id, patch=body)
    return await call(state, RegistryRpc.update_charge_point_metadata, update)


@router.delete("/charge-points/{id}", response_model=ChargePoint)
async def decommission_charge_point(
    state: State,
    principal: Admin,
    cp_id: CpId,
    force: Annotated[
        bool, Query(description="Also while connected (its connection is closed)")
    ] = False,
) -> ChargePoint:
    """Decommission a CP: refused at the handshake and left out of lists; its history stays.
    409 while it is connected, unless `?force=true`. `PUT /charge-points/{id}` brings it back."""
    taking = DecommissionChargePoint(id=cp_id, force=force)
    return await call(state, RegistryRpc.decommission_charge_point, taking)
