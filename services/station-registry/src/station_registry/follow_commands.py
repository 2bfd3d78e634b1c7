"""Reactions to operators' commands the CP accepted: configuration snapshot (1.6), device model
(2.0.1 GetVariables / SetVariables), availability (both versions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Text, bindparam, cast, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp import v201
from csms_shared.ocpp.redaction import redact_request, redact_response, secret_keys
from csms_shared.ocpp.v16.enums import AvailabilityStatus, AvailabilityType, ConfigurationStatus
from csms_shared.ocpp.v16.messages import (
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    GetConfigurationRequest,
    GetConfigurationResponse,
)
from csms_shared.ocpp.version import OcppVersion

from .db import charge_points, configuration, connectors
from .device_model import VariableRow, device_model_full, read_rows, set_rows, store
from .reports import STARTED_BY, start_operation
from .router import Ctx, router
from .store import ensure_charge_point

log = logging.getLogger(__name__)


# A configuration key as stored: its name, its value, whether it is read-only (None: unknown).
Key = tuple[str, str | None, bool | None]


def _snapshot_statement() -> Any:
    """The statement storing a snapshot: the station's row made if this is the first the
    registry hears of it (a CTE), then every key from three arrays. Built once: one statement
    whatever the count, compiled once (a `.values()` of N rows was compiled anew for each N,
    a quarter of the registry's CPU per GetConfiguration in the commands bench)."""
    c = configuration.c
    station = bindparam("cp_id", type_=c.charge_point_id.type)
    known = insert(charge_points).values(id=station).on_conflict_do_nothing().cte("known")
    listed = (
        func.unnest(
            # Text, not the columns' VARCHAR(n): such a cast would cut what an insert refuses.
            cast(bindparam("keys"), ARRAY(Text)),
            cast(bindparam("values"), ARRAY(Text)),
            cast(bindparam("readonly"), ARRAY(c.readonly.type)),
        )
        .table_valued("key", "value", "readonly")
        .render_derived(name="listed")
    )
    at = cast(bindparam("at"), c.updated_at.type)
    stmt = insert(configuration).from_select(
        ["charge_point_id", "key", "value", "readonly", "updated_at"],
        select(station, listed.c.key, listed.c.value, listed.c.readonly, at),
    )
    return stmt.on_conflict_do_update(
        index_elements=[c.charge_point_id, c.key],
        set_={
            "value": stmt.excluded.value,
            "readonly": stmt.excluded.readonly,
            "updated_at": stmt.excluded.updated_at,
        },
        where=c.updated_at <= stmt.excluded.updated_at,
    ).add_cte(known)


_STORE_SNAPSHOT = _snapshot_statement()


async def _store_keys(ctx: Ctx, cp_id: str, keys: Sequence[Key], at: datetime) -> None:
    """Keys as a command completed at `at` saw them, the station's row made if this is the
    first the registry hears of it, in one statement (a firmware lists dozens to hundreds of
    keys); a key set by a later one stays, a key listed twice is as its last listing."""
    listed = {key: (value, readonly) for key, value, readonly in keys}
    if not listed:
        await ensure_charge_point(ctx.session, cp_id)
        return
    await ctx.session.execute(
        _STORE_SNAPSHOT,
        {
            "cp_id": cp_id,
            "keys": list(listed),
            "values": [value for value, _ in listed.values()],
            "readonly": [readonly for _, readonly in listed.values()],
            "at": at,
        },
    )


# The outcomes of these actions alone reach the queue (bus/stations.py).
FOLLOWED = (
    *STARTED_BY,
    "GetConfiguration",
    "ChangeConfiguration",
    "ChangeAvailability",
    "GetVariables",
    "SetVariables",
)


@router.event("command.completed", actions=FOLLOWED)
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    """Keep what the CP confirmed: its configuration and its connectors' availability.

    Events of commands completed close together are followed concurrently and may commit in
    any order: each change applies only over what an earlier-completed command stored.
    """
    cp_id, action = event.charge_point_id, event.action
    if event.status != "result" or cp_id is None or action is None:
        return  # only a request refused before it became a command lacks them
    # command-api publishes secrets redacted already; the snapshot never holds one regardless.
    secrets = secret_keys(ctx.settings.secret_configuration_keys)
    event = event.model_copy(
        update={
            "request": redact_request(action, event.request or {}, secrets),
            "response": redact_response(event.response or {}, secrets),
        }
    )
    try:
        if action in STARTED_BY:
            await start_operation(ctx, event)
        elif action == "GetConfiguration":
            _, read = event.read(GetConfigurationRequest, GetConfigurationResponse)
            await _configuration_read(ctx, cp_id, read, event.at)
        elif action == "ChangeConfiguration":
            change, changed = event.read(ChangeConfigurationRequest, ChangeConfigurationResponse)
            await _configuration_changed(ctx, cp_id, change, changed, event.at)
        elif action == "ChangeAvailability":
            request, answer = _availability(event)
            await _availability_changed(ctx, cp_id, request, answer, event.at)
        elif action in ("GetVariables", "SetVariables"):
            await ensure_charge_point(ctx.session, cp_id)
            rows = _variable_rows(event, cp_id, action, secrets)
            refused = await store(ctx.session, rows, cap=ctx.settings.device_model_max_attributes)
            await device_model_full(ctx, cp_id, refused, action)
    except ValidationError as exc:
        # Never requeue a malformed event: it would fail the same way every time.
        log.warning("command.completed %s for %s is malformed; ignored: %s", action, cp_id, exc)


def _variable_rows(
    event: CommandCompleted, cp_id: str, action: str, secrets: frozenset[str]
) -> list[VariableRow]:
    """The device model rows a GetVariables or SetVariables answer changes."""
    if action == "GetVariables":
        _, values = event.read(v201.GetVariablesRequest, v201.GetVariablesResponse)
        return read_rows(cp_id, values.get_variable_result, event.at, secrets)
    asked, taken = event.read(v201.SetVariablesRequest, v201.SetVariablesResponse)
    return set_rows(cp_id, asked.set_variable_data, taken.set_variable_result, event.at, secrets)


def _availability(
    event: CommandCompleted,
) -> tuple[ChangeAvailabilityRequest, ChangeAvailabilityResponse]:
    """A ChangeAvailability of either version, in 1.6 terms: a 2.0.1 EVSE is what 1.6 calls a
    connector (no EVSE: the whole station, connector 0; action_status.py stores statuses the
    same way), its operationalStatus 1.6's type. An event that does not say its version is
    read as the version whose model it fits."""
    if event.ocpp_version is not OcppVersion.V201:
        try:
            return event.read(ChangeAvailabilityRequest, ChangeAvailabilityResponse)
        except ValidationError:
            if event.ocpp_version is OcppVersion.V16:
                raise
    request, answer = event.read(v201.ChangeAvailabilityRequest, v201.ChangeAvailabilityResponse)
    return (
        ChangeAvailabilityRequest(
            connector_id=request.evse.id if request.evse is not None else 0,
            type=AvailabilityType(request.operational_status.value),
        ),
        ChangeAvailabilityResponse(status=AvailabilityStatus(answer.status.value)),
    )


async def _configuration_read(
    ctx: Ctx, cp_id: str, read: GetConfigurationResponse, at: datetime
) -> None:
    keys = [(k.key, k.value, k.readonly) for k in read.configuration_key or []]
    await _store_keys(ctx, cp_id, keys, at)
    if read.unknown_key:
        c = configuration.c
        await ctx.session.execute(
            delete(configuration).where(
                c.charge_point_id == cp_id, c.key.in_(read.unknown_key), c.updated_at <= at
            )
        )


async def _configuration_changed(
    ctx: Ctx,
    cp_id: str,
    change: ChangeConfigurationRequest,
    changed: ChangeConfigurationResponse,
    at: datetime,
) -> None:
    if changed.status not in (ConfigurationStatus.ACCEPTED, ConfigurationStatus.REBOOT_REQUIRED):
        return
    # Accepted: not read-only, though the key's flag is left unknown until the next read.
    await _store_keys(ctx, cp_id, [(change.key, change.value, None)], at)


async def _availability_changed(
    ctx: Ctx,
    cp_id: str,
    request: ChangeAvailabilityRequest,
    answer: ChangeAvailabilityResponse,
    at: datetime,
) -> None:
    if answer.status not in (AvailabilityStatus.ACCEPTED, AvailabilityStatus.SCHEDULED):
        return
    await ensure_charge_point(ctx.session, cp_id)
    connector_id = request.connector_id
    values = {"availability": request.type.value, "availability_at": at}
    c = connectors.c
    newer = or_(c.availability_at.is_(None), c.availability_at <= at)
    first = values
    if connector_id != 0:
        # A connector not seen yet takes the whole CP's availability if that was set later.
        whole = (
            await ctx.session.execute(
                select(c.availability, c.availability_at).where(
                    c.charge_point_id == cp_id, c.connector_id == 0, c.availability_at > at
                )
            )
        ).first()
        if whole is not None:
            first = {
                "availability": whole.availability,
                "availability_at": whole.availability_at,
            }
    await ctx.session.execute(
        insert(connectors)
        .values(charge_point_id=cp_id, connector_id=connector_id, **first)
        .on_conflict_do_update(
            index_elements=[c.charge_point_id, c.connector_id], set_=values, where=newer
        )
    )
    if connector_id == 0:
        # Connector 0 means the whole charge point: every connector follows it.
        await ctx.session.execute(
            update(connectors).where(c.charge_point_id == cp_id, newer).values(**values)
        )
