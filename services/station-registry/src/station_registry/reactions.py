"""Reactions to operators' commands the CP accepted: configuration snapshot, availability."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp.redaction import redact_request, redact_response, secret_keys

from .cp_reports import STARTED_BY, start_operation
from .db import configuration, connectors
from .queries import ensure_charge_point
from .router import Ctx, router


async def _store_keys(ctx: Ctx, cp_id: str, keys: list[dict[str, Any]], at: datetime) -> None:
    """Keys as a command completed at `at` saw them; a key set by a later one stays."""
    c = configuration.c
    for item in keys:
        values = {"value": item.get("value"), "readonly": item.get("readonly"), "updated_at": at}
        await ctx.session.execute(
            insert(configuration)
            .values(charge_point_id=cp_id, key=item["key"], **values)
            .on_conflict_do_update(
                index_elements=[c.charge_point_id, c.key], set_=values, where=c.updated_at <= at
            )
        )


@router.event("command.completed")
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    """Keep what the CP confirmed: its configuration and its connectors' availability.

    Events of commands completed close together are followed concurrently and may commit in
    any order: each change applies only over what an earlier-completed command stored.
    """
    cp_id, action = event.charge_point_id, event.action
    if event.status != "result" or cp_id is None or action is None:
        return  # only a request refused before it became a command lacks them
    if action in STARTED_BY:
        await start_operation(ctx, event)
        return
    # command-api publishes secrets redacted already; the snapshot never holds one regardless.
    secrets = secret_keys(ctx.settings.secret_configuration_keys)
    request = redact_request(action, event.request or {}, secrets)
    response = redact_response(event.response or {}, secrets)
    at = event.at
    await ensure_charge_point(ctx.session, cp_id)
    if action == "GetConfiguration":
        await _store_keys(ctx, cp_id, response.get("configurationKey") or [], at)
        unknown = response.get("unknownKey") or []
        if unknown:
            c = configuration.c
            await ctx.session.execute(
                delete(configuration).where(
                    c.charge_point_id == cp_id, c.key.in_(unknown), c.updated_at <= at
                )
            )
    elif action == "ChangeConfiguration" and response.get("status") in (
        "Accepted",
        "RebootRequired",
    ):
        await _store_keys(ctx, cp_id, [{"key": request["key"], "value": request["value"]}], at)
    elif action == "ChangeAvailability" and response.get("status") in ("Accepted", "Scheduled"):
        connector_id = int(request["connectorId"])
        values = {"availability": request["type"], "availability_at": at}
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
