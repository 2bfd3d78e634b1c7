"""RPCs of what an OCPP 2.0.1 station reports: `list_variables`, its device model
(`device_model.py` writes it), and `station_messages`, its reports with no table of their own
(`action_reports_v201.py` keeps them)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from csms_shared.contracts.resources import DeviceVariable, Page, StationMessage
from csms_shared.contracts.rpc import ListStationMessages, ListVariables, RegistryRpc
from csms_shared.ocpp.redaction import redact_request, secret_keys, secret_variable

from .db import station_messages, variables
from .router import Ctx, router


@router.rpc(RegistryRpc.list_variables, callers={"command-api"})
async def list_variables(params: ListVariables, ctx: Ctx) -> Page[DeviceVariable]:
    """A page of a station's device model, by component, EVSE, connector, variable, attribute."""
    v = variables.c
    where: list[ColumnElement[bool]] = [v.charge_point_id == params.id]
    if params.component:
        where.append(v.component.icontains(params.component, autoescape=True))
    if params.variable:
        where.append(v.variable.icontains(params.variable, autoescape=True))
    total = await ctx.session.scalar(select(func.count()).select_from(variables).where(*where))
    rows = await ctx.session.execute(
        select(variables)
        .where(*where)
        .order_by(
            v.component,
            v.component_instance,
            v.evse_id,
            v.connector_id,
            v.variable,
            v.variable_instance,
            v.attribute_type,
        )
        .limit(params.limit)
        .offset(params.offset)
    )
    # Rows kept before a key was configured secret are shown without their value too.
    secrets = secret_keys(ctx.settings.secret_configuration_keys)
    return Page[DeviceVariable](
        items=[
            DeviceVariable(
                component=r.component,
                component_instance=r.component_instance or None,
                evse_id=r.evse_id or None,
                connector_id=r.connector_id or None,
                variable=r.variable,
                variable_instance=r.variable_instance or None,
                attribute_type=r.attribute_type,
                value=None if secret_variable(r.component, r.variable, secrets) else r.value,
                mutability=r.mutability,
                persistent=r.persistent,
                constant=r.constant,
                data_type=r.data_type,
                unit=r.unit,
                min_limit=r.min_limit,
                max_limit=r.max_limit,
                values_list=r.values_list,
                supports_monitoring=r.supports_monitoring,
                updated_at=r.updated_at,
            )
            for r in rows
        ],
        total=int(total or 0),
        limit=params.limit,
        offset=params.offset,
    )


@router.rpc(RegistryRpc.station_messages, callers={"command-api"})
async def list_station_messages(params: ListStationMessages, ctx: Ctx) -> Page[StationMessage]:
    """A page of a station's reports, newest first by when the gateway received them (the
    station's order: notifications of different actions travel in different bundles, so the
    rows' ids need not follow it); of one action (`NotifyEvent`) or all."""
    m = station_messages.c
    where: list[ColumnElement[bool]] = [m.charge_point_id == params.id]
    if params.action:
        where.append(m.action == params.action)
    total = await ctx.session.scalar(
        select(func.count()).select_from(station_messages).where(*where)
    )
    rows = await ctx.session.execute(
        select(station_messages)
        .where(*where)
        .order_by(m.received_at.desc(), m.id.desc())
        .limit(params.limit)
        .offset(params.offset)
    )
    secrets = secret_keys(ctx.settings.secret_configuration_keys)
    items = [
        StationMessage(
            action=r.action,
            received_at=r.received_at,
            request_id=r.request_id,
            seq_no=r.seq_no,
            tbc=r.tbc,
            payload=redact_request(r.action, r.payload, secrets),
        )
        for r in rows
    ]
    return Page[StationMessage](
        items=items, total=int(total or 0), limit=params.limit, offset=params.offset
    )
