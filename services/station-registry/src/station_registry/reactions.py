"""Reactions to operators' commands the CP accepted: configuration snapshot, availability."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, update
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.router import Context

from .cp_reports import STARTED_BY, start_operation
from .db import configuration, connectors
from .queries import ensure_charge_point
from .router import router


async def _store_keys(ctx: Context, cp_id: str, keys: list[dict[str, Any]]) -> None:
    for item in keys:
        values = {
            "value": item.get("value"),
            "readonly": item.get("readonly"),
            "updated_at": func.now(),
        }
        await ctx.session.execute(
            insert(configuration)
            .values(charge_point_id=cp_id, key=item["key"], **values)
            .on_conflict_do_update(
                index_elements=[configuration.c.charge_point_id, configuration.c.key], set_=values
            )
        )


@router.event("command.completed")
async def command_completed(event: dict[str, Any], ctx: Context) -> None:
    """Keep what the CP confirmed: its configuration and its connectors' availability."""
    if event.get("status") != "result":
        return
    if event.get("action") in STARTED_BY:
        await start_operation(ctx, event)
        return
    cp_id: str = event["chargePointId"]
    action, request = event.get("action"), event.get("request") or {}
    response = event.get("response") or {}
    await ensure_charge_point(ctx.session, cp_id)
    if action == "GetConfiguration":
        await _store_keys(ctx, cp_id, response.get("configurationKey") or [])
        unknown = response.get("unknownKey") or []
        if unknown:
            await ctx.session.execute(
                delete(configuration).where(
                    and_(configuration.c.charge_point_id == cp_id, configuration.c.key.in_(unknown))
                )
            )
    elif action == "ChangeConfiguration" and response.get("status") in (
        "Accepted",
        "RebootRequired",
    ):
        await _store_keys(ctx, cp_id, [{"key": request["key"], "value": request["value"]}])
    elif action == "ChangeAvailability" and response.get("status") in ("Accepted", "Scheduled"):
        connector_id = int(request["connectorId"])
        availability = request["type"]
        # Connector 0 means the whole charge point: every connector follows it.
        await ctx.session.execute(
            insert(connectors)
            .values(charge_point_id=cp_id, connector_id=connector_id, availability=availability)
            .on_conflict_do_update(
                index_elements=[connectors.c.charge_point_id, connectors.c.connector_id],
                set_={"availability": availability},
            )
        )
        if connector_id == 0:
            await ctx.session.execute(
                update(connectors)
                .where(connectors.c.charge_point_id == cp_id)
                .values(availability=availability)
            )
