"""The network as data: an admin describes a CP (PATCH) or decommissions it (DELETE)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

# The body's parts are the registry's RPC params (one model for both: the same checks).
from csms_shared.contracts.rpc_registry import (
    Address,
    ConnectorInfo,
    Coordinates,
    Tag,
    Text100Lax,
)
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..models import ChargePoint
from .deps import Admin, State, api_router, rpc

router = api_router(404, 409, 503, tags=["charge points"])

REGISTRY = "station-registry"
CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ChargePointMetadata(_Body):
    """Fields given are set (null clears one), fields left out stay; `tags` replaces the set."""

    name: Text100Lax | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    address: Address | None = None
    coordinates: Coordinates | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="IANA, e.g. Europe/Berlin (checked by the registry)"
    )
    tags: list[Tag] | None = Field(default=None, max_length=50)
    connectors: list[ConnectorInfo] | None = Field(default=None, max_length=100)


@router.patch("/charge-points/{id}", response_model=ChargePoint)
async def update_charge_point_metadata(
    state: State, principal: Admin, cp_id: CpId, body: ChargePointMetadata
) -> dict[str, Any]:
    """Describe a CP: name, description, address, coordinates, time zone, tags, connectors."""
    patch = body.model_dump(by_alias=True, exclude_unset=True)
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "update_charge_point_metadata", id=cp_id, patch=patch
    )
    return result


@router.delete("/charge-points/{id}", response_model=ChargePoint)
async def decommission_charge_point(
    state: State,
    principal: Admin,
    cp_id: CpId,
    force: Annotated[
        bool, Query(description="Also while connected (its connection is closed)")
    ] = False,
) -> dict[str, Any]:
    """Decommission a CP: refused at the handshake and left out of lists; its history stays.
    409 while it is connected, unless `?force=true`. `PUT /charge-points/{id}` brings it back."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "decommission_charge_point", id=cp_id, force=force
    )
    return result
