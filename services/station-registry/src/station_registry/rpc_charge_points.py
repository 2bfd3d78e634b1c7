"""RPC reads for command-api: charge points, status history, the suite's status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import func, select

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import (
    CertificateRequest,
    ChargePoint,
    ConfigurationEntry,
    ConnectorOfChargePoint,
    DataTransferRecord,
    GatewayStatus,
    Operation,
    OperationReport,
    Page,
    StatusRecord,
    SuiteStatus,
)
from csms_shared.contracts.rpc import (
    FeatureProfiles,
    ListChargePoints,
    ListConnectors,
    ListOperations,
    NoParams,
    OfChargePoint,
    PageOfChargePoint,
    RegistryRpc,
    StationVersion,
)
from csms_shared.ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.connectors import StatusReport

from .db import (
    certificate_requests,
    charge_points,
    configuration,
    connectors,
    data_transfers,
    gateways,
    operation_statuses,
    operations,
    status_history,
)
from .router import Ctx, router
from .store import charge_point_page, charge_point_read, connector_of, load_charge_points


@router.rpc(RegistryRpc.list_charge_points, callers={"command-api"})
async def list_charge_points(params: ListChargePoints, ctx: Ctx) -> Page[ChargePoint]:
    """A page of charge points with their connectors."""
    limit, offset = params.limit, params.offset
    items, total = await load_charge_points(
        ctx.session,
        limit=limit,
        offset=offset,
        online=params.online,
        search=params.search or None,
        status=params.status or None,
        tag=params.tag,
        q=params.q,
        decommissioned=params.decommissioned,
        registration_status=params.registration_status or None,
        ocpp_version=params.ocpp_version or None,
    )
    return Page[ChargePoint](items=items, total=total, limit=limit, offset=offset)


@router.rpc(RegistryRpc.get_charge_point, callers={"command-api"})
async def get_charge_point(params: OfChargePoint, ctx: Ctx) -> ChargePoint:
    """One charge point with its connectors."""
    cp_id = params.id
    row = (
        await ctx.session.execute(select(charge_points).where(charge_points.c.id == cp_id))
    ).first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    config_rows = (
        await ctx.session.execute(
            select(configuration)
            .where(configuration.c.charge_point_id == cp_id)
            .order_by(configuration.c.key)
        )
    ).all()
    found = await charge_point_read(ctx.session, row)
    found.configuration = [
        ConfigurationEntry(key=c.key, value=c.value, readonly=c.readonly, updated_at=c.updated_at)
        for c in config_rows
    ]
    return found


def status_record(row: Any) -> StatusRecord:
    """A history row as the API shows it. A row kept without our terms (written before they
    were, or by the release before during an upgrade) is read from its 1.6 spelling, as the
    notification was then: a 2.0.1 row's (it names a connector within its EVSE) says no
    charging state, its Preparing being 2.0.1's Occupied."""
    if row.connector_status is not None:
        ours = (row.connector_status, row.charging_state, row.connector_error_code)
    else:
        report = StatusReport.from_v16(
            ChargePointStatus(row.status), ChargePointErrorCode(row.error_code)
        )
        state = None if row.evse_connector_id is not None else report.charging_state
        ours = (report.status.value, state and state.value, report.error_code.value)
    status, charging, error = ours
    return StatusRecord(
        connector_id=row.connector_id,
        evse_connector_id=row.evse_connector_id,
        connector_status=status,
        charging_state=charging,
        connector_error_code=error,
        status=row.status,
        error_code=row.error_code,
        timestamp=row.timestamp,
        info=row.info or None,
    )


@router.rpc(RegistryRpc.status_history, callers={"command-api"})
async def get_status_history(params: PageOfChargePoint, ctx: Ctx) -> Page[StatusRecord]:
    """A CP's status notifications, newest first."""
    h = status_history.c
    return await charge_point_page(
        ctx.session,
        status_history,
        params,
        [h.timestamp.desc(), h.id.desc()],
        status_record,
        Page[StatusRecord],
    )


@router.rpc(RegistryRpc.list_connectors, callers={"command-api"})
async def list_connectors(params: ListConnectors, ctx: Ctx) -> Page[ConnectorOfChargePoint]:
    """Connectors with their status, by CP then connector id; `chargePointId` filters."""
    limit, offset = params.limit, params.offset
    c = connectors.c
    where = []
    if params.charge_point_id is not None:
        where.append(c.charge_point_id == params.charge_point_id)
    total = await ctx.session.scalar(select(func.count()).select_from(connectors).where(*where))
    rows = await ctx.session.execute(
        select(connectors)
        .where(*where)
        .order_by(c.charge_point_id, c.connector_id)
        .limit(limit)
        .offset(offset)
    )
    return Page[ConnectorOfChargePoint](
        items=[
            ConnectorOfChargePoint(charge_point_id=r.charge_point_id, **dict(connector_of(r)))
            for r in rows
        ],
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )


# A gateway that stopped or went silent is listed as such for this long, then no more.
FORGET_GATEWAYS_AFTER = timedelta(hours=1)
# A connector no StatusNotification has reached yet (made by an operator or a command).
UNKNOWN_STATUS = "unknown"


@router.rpc(RegistryRpc.status_summary, callers={"command-api"})
async def status_summary(params: NoParams, ctx: Ctx) -> SuiteStatus:
    """Charge points known and connected, in all and per gateway: `up`, `late` (beats overdue,
    but the broker still holds its connection: its CPs stay online), `silent` (beats overdue and
    its connection gone, or not yet asked after: its CPs shown offline) or `stopped`; gone
    gateways are dropped after an hour. Connectors by status, every status listed (0 when
    none)."""
    settings = ctx.settings
    cp, gw = charge_points.c, gateways.c
    known = await ctx.session.scalar(select(func.count()).select_from(charge_points))
    rows = (
        await ctx.session.execute(
            select(cp.gateway, func.count())
            .where(cp.online.is_(True))
            .group_by(cp.gateway)
            .order_by(cp.gateway)
        )
    ).all()
    now = await ctx.session.scalar(select(func.now()))
    assert now is not None  # SELECT now() always returns its row
    recent = (
        await ctx.session.execute(
            select(gateways)
            .where(func.greatest(gw.last_beat_at, gw.stopped_at) > now - FORGET_GATEWAYS_AFTER)
            .order_by(gw.id)
        )
    ).all()
    online_by_gateway: dict[str, int] = dict(rows)
    by_status = {s.value: 0 for s in ChargePointStatus} | {UNKNOWN_STATUS: 0}
    by_status |= await connectors_by_status(ctx)

    def state(g: Any) -> Literal["up", "late", "silent", "stopped"]:
        if g.stopped_at is not None:
            return "stopped"
        overdue = timedelta(seconds=g.beat_interval * settings.gateway_timeout_factor)
        if g.last_beat_at >= now - overdue:
            return "up"
        return "late" if g.connection_seen_at is not None else "silent"

    return SuiteStatus(
        charge_points_known=int(known or 0),
        charge_points_connected=sum(online_by_gateway.values()),
        gateways=[
            GatewayStatus(
                id=g.id,
                state=state(g),
                connected=online_by_gateway.get(g.id, 0),
                started_at=g.started_at,
                last_beat=g.last_beat_at,
                stopped_at=g.stopped_at,
            )
            for g in recent
        ],
        connectors_by_status=by_status,
    )


async def connectors_by_status(ctx: Ctx) -> dict[str, int]:
    """Connectors (1 and up: 0 is the CP itself) of CPs in service, by their last status."""
    c = connectors.c
    rows = await ctx.session.execute(
        select(c.status, func.count())
        .select_from(connectors.join(charge_points, charge_points.c.id == c.charge_point_id))
        .where(c.connector_id > 0, charge_points.c.decommissioned_at.is_(None))
        .group_by(c.status)
    )
    return {status or UNKNOWN_STATUS: int(n) for status, n in rows.all()}


@router.rpc(RegistryRpc.operations, callers={"command-api"})
async def list_operations(params: ListOperations, ctx: Ctx) -> Page[Operation]:
    """A CP's firmware updates, diagnostics and log uploads, newest first, with their reports."""
    limit, offset = params.limit, params.offset
    op = operations.c
    where = [op.charge_point_id == params.id]
    if params.kind:
        where.append(op.kind == params.kind)
    total = await ctx.session.scalar(select(func.count()).select_from(operations).where(*where))
    rows = (
        await ctx.session.execute(
            select(operations).where(*where).order_by(op.id.desc()).limit(limit).offset(offset)
        )
    ).all()
    reports: dict[int, list[OperationReport]] = {row.id: [] for row in rows}
    if reports:
        s = operation_statuses.c
        for r in await ctx.session.execute(
            select(operation_statuses)
            .where(s.operation_id.in_(list(reports)))
            .order_by(s.received_at, s.id)
        ):
            reports[r.operation_id].append(OperationReport(status=r.status, at=r.received_at))
    items = [
        Operation(
            operation_id=row.id,
            kind=row.kind,
            status=row.status,
            requested_at=row.requested_at,
            status_at=row.status_at,
            reports=reports[row.id],
            command_id=row.command_id or None,
            request_id=row.request_id,
            detail=row.detail or None,
        )
        for row in rows
    ]
    return Page[Operation](items=items, total=int(total or 0), limit=limit, offset=offset)


@router.rpc(RegistryRpc.data_transfers, callers={"command-api"})
async def list_data_transfers(params: PageOfChargePoint, ctx: Ctx) -> Page[DataTransferRecord]:
    """DataTransfer requests a CP sent, newest first."""
    return await charge_point_page(
        ctx.session,
        data_transfers,
        params,
        [data_transfers.c.id.desc()],
        lambda r: DataTransferRecord(
            vendor_id=r.vendor_id,
            status=r.status,
            received_at=r.received_at,
            message_id=r.message_id,
            data=r.data,
        ),
        Page[DataTransferRecord],
    )


@router.rpc(RegistryRpc.certificate_requests, callers={"command-api"})
async def list_certificate_requests(
    params: PageOfChargePoint, ctx: Ctx
) -> Page[CertificateRequest]:
    """CSRs a CP sent with SignCertificate, newest first."""
    return await charge_point_page(
        ctx.session,
        certificate_requests,
        params,
        [certificate_requests.c.id.desc()],
        lambda r: CertificateRequest(request_id=r.id, csr=r.csr, received_at=r.received_at),
        Page[CertificateRequest],
    )


@router.rpc(RegistryRpc.station_version, callers={"command-api"})
async def station_version(params: OfChargePoint, ctx: Ctx) -> StationVersion:
    """The version the CP's connection last agreed on: one indexed read, for every command sent
    (an unknown station is `known: false`, not `not_found`, which means a registry too old to
    have this method)."""
    row = (
        await ctx.session.execute(
            select(charge_points.c.ocpp_version).where(charge_points.c.id == params.id)
        )
    ).first()
    if row is None:
        return StationVersion(known=False)
    version = row.ocpp_version
    return StationVersion(known=True, ocpp_version=OcppVersion(version) if version else None)


@router.rpc(RegistryRpc.feature_profiles, callers={"command-api"})
async def feature_profiles(params: OfChargePoint, ctx: Ctx) -> FeatureProfiles:
    """The CP's SupportedFeatureProfiles as its configuration snapshot has them (null: not read
    yet)."""
    value = await ctx.session.scalar(
        select(configuration.c.value).where(
            configuration.c.charge_point_id == params.id,
            configuration.c.key == "SupportedFeatureProfiles",
        )
    )
    if value is None:
        return FeatureProfiles(supported_feature_profiles=None)
    listed = [p.strip() for p in value.split(",") if p.strip()]
    return FeatureProfiles(supported_feature_profiles=listed)
