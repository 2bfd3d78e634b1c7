"""Presence: which gateway holds each CP, from the gateways' events and liveness beats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, and_, bindparam, column, func, or_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from csms_shared.bus.router import Context

from .db import charge_points, gateways
from .router import router


@router.event("station.connected")
async def station_connected(event: dict[str, Any], ctx: Context) -> None:
    """The CP holds a connection on `gateway`; the newest connection wins."""
    connected_at = datetime.fromisoformat(event["connectedAt"])
    cp = charge_points.c
    # One statement: a new CP's row is created connected (its other columns at their defaults);
    # an existing one is updated unless it already holds a newer connection.
    stmt = insert(charge_points).values(
        id=event["chargePointId"],
        online=True,
        gateway=event["gateway"],
        connection_id=event["connectionId"],
        connected_at=connected_at,
        last_seen_at=connected_at,
    )
    new = stmt.excluded
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[cp.id],
            set_={
                "online": new.online,
                "gateway": new.gateway,
                "connection_id": new.connection_id,
                "connected_at": new.connected_at,
                "last_seen_at": func.greatest(
                    func.coalesce(cp.last_seen_at, new.connected_at), new.connected_at
                ),
            },
            where=or_(cp.connected_at.is_(None), cp.connected_at <= new.connected_at),
        )
    )


@router.event("station.disconnected")
async def station_disconnected(event: dict[str, Any], ctx: Context) -> None:
    """Offline, unless a newer connection has already taken over."""
    cp = charge_points.c
    await ctx.session.execute(
        update(charge_points)
        .where(and_(cp.id == event["chargePointId"], cp.connection_id == event["connectionId"]))
        .values(online=False, disconnected_at=datetime.fromisoformat(event["at"]))
    )


# `station.seen`: a gateway's coalesced Heartbeats, {cpId: newest receive time} (up to ~1,000
# CPs a message), applied with one statement. Same effect as the Heartbeat route's `touch` per
# CP: last seen never moves backwards, a CP without a row is not created. The Heartbeat route
# (handlers.py) stays: a gateway of the previous version still publishes every Heartbeat during
# a rolling upgrade. Two batches locking overlapping rows in different orders (a CP that moved
# gateways between flushes) can deadlock; Postgres aborts one, the runtime requeues it.
_SEEN = func.unnest(
    bindparam("ids", type_=ARRAY(String)), bindparam("ats", type_=ARRAY(DateTime(timezone=True)))
).table_valued(column("id", String), column("at", DateTime(timezone=True)))
_SEEN_ROWS = _SEEN.render_derived(name="seen")
APPLY_SEEN = (
    update(charge_points)
    .where(charge_points.c.id == _SEEN_ROWS.c.id)
    .values(last_seen_at=func.greatest(charge_points.c.last_seen_at, _SEEN_ROWS.c.at))
)


@router.event("station.seen")
async def station_seen(event: dict[str, Any], ctx: Context) -> None:
    """Last seen of many CPs at once (Heartbeats a gateway answered itself)."""
    seen = event.get("seen") or {}
    if not isinstance(seen, dict) or not seen:
        return
    ids = sorted(seen)
    ats = [datetime.fromisoformat(str(seen[cp_id])) for cp_id in ids]
    await ctx.session.execute(APPLY_SEEN, {"ids": ids, "ats": ats})


@router.event("gateway.heartbeat")
async def gateway_heartbeat(event: dict[str, Any], ctx: Context) -> None:
    """A gateway is alive; its beat time is taken from the registry's clock (no skew)."""
    values = {
        "last_beat_at": func.now(),
        "beat_interval": float(event.get("interval", 5.0)),
        "connections": int(event.get("connections", 0)),
    }
    await ctx.session.execute(
        insert(gateways)
        .values(id=event["gateway"], **values)
        .on_conflict_do_update(index_elements=[gateways.c.id], set_=values)
    )


@router.event("gateway.stopped")
async def gateway_stopped(event: dict[str, Any], ctx: Context) -> None:
    """A gateway drained and stopped: none of its CPs is online through it."""
    await ctx.session.execute(
        insert(gateways)
        .values(id=event["gateway"], stopped_at=func.now())
        .on_conflict_do_update(index_elements=[gateways.c.id], set_={"stopped_at": func.now()})
    )
    await ctx.session.execute(
        update(charge_points)
        .where(and_(charge_points.c.gateway == event["gateway"], charge_points.c.online.is_(True)))
        .values(online=False, disconnected_at=func.now())
    )
