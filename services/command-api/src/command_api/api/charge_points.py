"""Charge points and the suite's status, answered by station-registry over RPC (what an admin
sets of a CP's credentials and admission: `charge_point_security.py`)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import HTTPException, Path, Query, status

from csms_shared.contracts.resources import OnSite
from csms_shared.contracts.rpc import (
    ListChargePoints,
    ListOperations,
    ListStationMessages,
    ListVariables,
    NoParams,
    OfChargePoint,
    OfChargePointId,
    Paged,
    PageOfChargePoint,
    RegistryRpc,
    SessionsRpc,
)
from csms_shared.contracts.rpc_loads import LoadsRpc, OfStation
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.v16.enums import ChargePointStatus
from csms_shared.ocpp.version import OcppVersion

from ..models import (
    CertificateRequest,
    ChargePoint,
    DataTransferRecord,
    DeviceVariable,
    LocalListVersion,
    NetworkSecurityEvent,
    Operation,
    Page,
    SecurityEvent,
    StationMessage,
    StatusRecord,
    SuiteStatus,
)
from .deps import MAX_OFFSET, State, Viewer, api_router, call

log = logging.getLogger(__name__)

router = api_router(404, 503, tags=["charge points"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.get("/charge-points", response_model=Page[ChargePoint])
async def list_charge_points(
    state: State,
    principal: Viewer,
    limit: Limit = 50,
    offset: Offset = 0,
    online: bool | None = None,
    search: Annotated[
        str | None,
        Query(
            max_length=48,
            description="As `q`: part of the id, name, description, vendor, model or address",
        ),
    ] = None,
    connector_status: Annotated[
        ChargePointStatus | None,
        Query(alias="status", description="A connector's last status is this"),
    ] = None,
    tag: Annotated[str | None, Query(max_length=64, description="CPs with this tag")] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Search id, name, description, address, vendor, model"),
    ] = None,
    decommissioned: Annotated[
        bool, Query(description="true: the decommissioned CPs instead")
    ] = False,
    registration_status: Annotated[
        Literal["Accepted", "Pending", "Rejected"] | None,
        Query(alias="registrationStatus", description="What the CP was last told at boot"),
    ] = None,
    ocpp_version: Annotated[
        OcppVersion | None,
        Query(alias="ocppVersion", description="The OCPP version the CP speaks"),
    ] = None,
) -> Page[ChargePoint]:
    """Charge points with their connectors, presence, boot info and metadata."""
    return await call(
        state,
        RegistryRpc.list_charge_points,
        ListChargePoints(
            limit=limit,
            offset=offset,
            online=online,
            search=search,
            status=connector_status.value if connector_status else None,
            tag=tag,
            q=q,
            decommissioned=decommissioned,
            registration_status=registration_status,
            ocpp_version=ocpp_version.value if ocpp_version else None,
        ),
    )


@router.get("/charge-points/{id}", response_model=ChargePoint)
async def get_charge_point(state: State, principal: Viewer, cp_id: CpId) -> ChargePoint:
    """One charge point: connectors, online, gateway, last seen, boot info, and the site it
    is on (the load-manager's; left out when it is on none or the load-manager is down: the
    charge point is still read)."""
    cp = await call(state, RegistryRpc.get_charge_point, OfChargePoint(id=cp_id))
    try:
        placed = await call(state, LoadsRpc.get_station, OfStation(charge_point_id=cp_id))
    except HTTPException as exc:
        if exc.status_code != status.HTTP_404_NOT_FOUND:
            log.warning("the site of %s is left out: %s", cp_id, exc.detail)
        return cp
    return cp.model_copy(update={"site": OnSite(site_id=placed.site_id, node_id=placed.node_id)})


@router.get("/charge-points/{id}/status-history", response_model=Page[StatusRecord])
async def list_status_history(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> Page[StatusRecord]:
    """The CP's StatusNotifications, newest first."""
    page = PageOfChargePoint(id=cp_id, limit=limit, offset=offset)
    return await call(state, RegistryRpc.status_history, page)


@router.get("/charge-points/{id}/variables", response_model=Page[DeviceVariable])
async def list_variables(
    state: State,
    principal: Viewer,
    cp_id: CpId,
    limit: Limit = 50,
    offset: Offset = 0,
    component: Annotated[
        str | None, Query(max_length=50, description="Part of the component's name, any case")
    ] = None,
    variable: Annotated[
        str | None, Query(max_length=50, description="Part of the variable's name, any case")
    ] = None,
) -> Page[DeviceVariable]:
    """An OCPP 2.0.1 station's device model: each component's variables and their attributes,
    as its NotifyReport (GetBaseReport at boot) described them and GetVariables/SetVariables
    last showed or changed them. Empty for a 1.6 CP (its keys: `configuration`)."""
    params = ListVariables(
        id=cp_id, limit=limit, offset=offset, component=component, variable=variable
    )
    return await call(state, RegistryRpc.list_variables, params)


@router.get("/status", response_model=SuiteStatus)
async def get_suite_status(state: State, principal: Viewer) -> SuiteStatus:
    """Charge points known and connected, in all and per gateway."""
    return await call(state, RegistryRpc.status_summary, NoParams())


@router.get("/charge-points/{id}/security-events", response_model=Page[SecurityEvent])
async def list_security_events(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> Page[SecurityEvent]:
    """Security events of the CP (its own reports and what the central system saw), newest first."""
    page = PageOfChargePoint(id=cp_id, limit=limit, offset=offset)
    return await call(state, RegistryRpc.security_events, page)


@router.get("/security-events", response_model=Page[NetworkSecurityEvent])
async def list_recent_security_events(
    state: State, principal: Viewer, limit: Limit = 50, offset: Offset = 0
) -> Page[NetworkSecurityEvent]:
    """Security events of every charge point, newest first."""
    page = Paged(limit=limit, offset=offset)
    return await call(state, RegistryRpc.recent_security_events, page)


@router.get("/charge-points/{id}/operations", response_model=Page[Operation])
async def list_operations(
    state: State,
    principal: Viewer,
    cp_id: CpId,
    kind: Annotated[
        str | None, Query(pattern="^(diagnostics|firmware|signed_firmware|log)$")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[Operation]:
    """Firmware updates, diagnostics and log uploads with the statuses the CP reported."""
    listing = ListOperations(id=cp_id, kind=kind, limit=limit, offset=offset)
    return await call(state, RegistryRpc.operations, listing)


@router.get("/charge-points/{id}/data-transfers", response_model=Page[DataTransferRecord])
async def list_data_transfers(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> Page[DataTransferRecord]:
    """DataTransfer requests the CP sent, with the answer each got."""
    page = PageOfChargePoint(id=cp_id, limit=limit, offset=offset)
    return await call(state, RegistryRpc.data_transfers, page)


@router.get("/charge-points/{id}/station-messages", response_model=Page[StationMessage])
async def list_station_messages(
    state: State,
    principal: Viewer,
    cp_id: CpId,
    action: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9]{1,40}$", description="One action, e.g. NotifyEvent"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[StationMessage]:
    """What a 2.0.1 station reported that has no resource of its own (NotifyEvent,
    NotifyMonitoringReport, NotifyChargingLimit, NotifyCustomerInformation, ...), newest first,
    kept for REGISTRY_STATION_MESSAGES_RETENTION_DAYS."""
    listing = ListStationMessages(id=cp_id, action=action, limit=limit, offset=offset)
    return await call(state, RegistryRpc.station_messages, listing)


@router.get("/charge-points/{id}/certificate-requests", response_model=Page[CertificateRequest])
async def list_certificate_requests(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> Page[CertificateRequest]:
    """CSRs the CP sent with SignCertificate."""
    page = PageOfChargePoint(id=cp_id, limit=limit, offset=offset)
    return await call(state, RegistryRpc.certificate_requests, page)


@router.get("/charge-points/{id}/local-list", response_model=LocalListVersion)
async def get_local_list_version(state: State, principal: Viewer, cp_id: CpId) -> LocalListVersion:
    """The CP's Local Authorization List version, as its last answer about it said."""
    of_cp = OfChargePointId(charge_point_id=cp_id)
    return await call(state, SessionsRpc.get_local_list_version, of_cp)
