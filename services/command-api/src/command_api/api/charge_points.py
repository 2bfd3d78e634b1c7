"""Charge points and the suite's status, answered by station-registry over RPC."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from csms_shared.ocpp.framing import find_nul
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.v16.enums import MessageTrigger
from csms_shared.ocpp.v16.messages import TriggerMessageRequest

from .commands import send_command
from .deps import MAX_OFFSET, Admin, Session, State, Viewer, rpc

router = APIRouter(tags=["charge points"])

REGISTRY = "station-registry"
CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


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


class ChargePointSettings(BaseModel):
    """What an admin sets for a CP: its security profile and its AuthorizationKey (write-only)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    security_profile: int | None = Field(default=None, ge=0, le=3)
    authorization_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="The CP's HTTP Basic password (profiles 1 and 2); never echoed",
    )


@router.put("/charge-points/{id}")
async def put_charge_point(
    state: State, principal: Admin, cp_id: CpId, body: ChargePointSettings
) -> dict[str, Any]:
    """Register a CP or change its security settings (registering a CP accepts it)."""
    key = body.authorization_key.get_secret_value() if body.authorization_key else None
    if key is not None and find_nul(key):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "authorizationKey has U+0000")
    result: dict[str, Any] = await rpc(
        state,
        REGISTRY,
        "update_charge_point_settings",
        id=cp_id,
        securityProfile=body.security_profile,
        authorizationKey=key,
    )
    return result


@router.post("/charge-points/{id}/approve")
async def approve_charge_point(
    state: State, session: Session, principal: Admin, cp_id: CpId
) -> dict[str, Any]:
    """Accept a Pending CP; if it is connected it is asked to boot again (TriggerMessage)."""
    result: dict[str, Any] = await rpc(state, REGISTRY, "approve_charge_point", id=cp_id)
    if result.get("online"):
        trigger = await send_command(
            state,
            session,
            principal,
            cp_id,
            "TriggerMessage",
            TriggerMessageRequest(requested_message=MessageTrigger.BOOT_NOTIFICATION),
            timeout=None,
            wait=False,
        )
        result["triggerCommandId"] = orjson.loads(bytes(trigger.body))["commandId"]
    return result


@router.get("/charge-points/{id}/security-events")
async def security_events(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """Security events of the CP (its own reports and what the central system saw), newest first."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "security_events", id=cp_id, limit=limit, offset=offset
    )
    return result


@router.get("/charge-points/{id}/operations")
async def operations(
    state: State,
    principal: Viewer,
    cp_id: CpId,
    kind: Annotated[
        str | None, Query(pattern="^(diagnostics|firmware|signed_firmware|log)$")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Firmware updates, diagnostics and log uploads with the statuses the CP reported."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "operations", id=cp_id, kind=kind, limit=limit, offset=offset
    )
    return result


@router.get("/charge-points/{id}/data-transfers")
async def data_transfers(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """DataTransfer requests the CP sent, with the answer each got."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "data_transfers", id=cp_id, limit=limit, offset=offset
    )
    return result


@router.get("/charge-points/{id}/certificate-requests")
async def certificate_requests(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """CSRs the CP sent with SignCertificate."""
    result: dict[str, Any] = await rpc(
        state, REGISTRY, "certificate_requests", id=cp_id, limit=limit, offset=offset
    )
    return result


@router.get("/charge-points/{id}/local-list")
async def local_list_version(state: State, principal: Viewer, cp_id: CpId) -> dict[str, Any]:
    """The CP's Local Authorization List version, as its last answer about it said."""
    result: dict[str, Any] = await rpc(
        state, "session-service", "get_local_list_version", chargePointId=cp_id
    )
    return result
