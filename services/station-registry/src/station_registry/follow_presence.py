"""Presence: which gateway holds each CP, from the gateways' events and liveness beats."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    case,
    column,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert

from csms_shared.contracts.events import (
    GatewayHeartbeat,
    GatewayStopped,
    StationConnected,
    StationDisconnected,
    StationSeen,
)
from csms_shared.ocpp.version import OcppVersion

from .db import TIMESTAMP, charge_points, gateways
from .router import Ctx, router
from .settings import UnknownChargePointPolicy
from .store import locked_in_id_order, restore_swept

log = logging.getLogger(__name__)


# station.connected of a group of CPs in one statement, built once: a new CP's row is created
# connected (its other columns at their defaults); an existing one is updated unless it already
# holds a newer connection.
_CONNECTED = (
    func.unnest(
        bindparam("ids", type_=ARRAY(String)),
        bindparam("gateways", type_=ARRAY(String)),
        bindparam("connections", type_=ARRAY(String)),
        bindparam("ats", type_=ARRAY(TIMESTAMP)),
        bindparam("versions", type_=ARRAY(String)),
    )
    .table_valued(
        column("id", String),
        column("gateway", String),
        column("connection", String),
        column("at", TIMESTAMP),
        column("version", String),
    )
    .render_derived(name="connected")
)
_CONNECT_COLUMNS = [
    "id",
    "online",
    "offline_by_sweep",
    "gateway",
    "connection_id",
    "connected_at",
    "last_seen_at",
    "ocpp_version",
]
_CONNECT_VALUES = select(
    _CONNECTED.c.id,
    true(),
    false(),
    _CONNECTED.c.gateway,
    _CONNECTED.c.connection,
    _CONNECTED.c.at,
    _CONNECTED.c.at,
    _CONNECTED.c.version,
)
_known = charge_points.alias("known")


def _connect_many(values: Any) -> Any:
    stmt = insert(charge_points).from_select(_CONNECT_COLUMNS, values)
    return stmt.on_conflict_do_update(
        index_elements=[charge_points.c.id],
        set_={
            "online": stmt.excluded.online,
            "offline_by_sweep": stmt.excluded.offline_by_sweep,
            "gateway": stmt.excluded.gateway,
            "connection_id": stmt.excluded.connection_id,
            "connected_at": stmt.excluded.connected_at,
            "ocpp_version": stmt.excluded.ocpp_version,
            "last_seen_at": func.greatest(
                func.coalesce(charge_points.c.last_seen_at, stmt.excluded.connected_at),
                stmt.excluded.connected_at,
            ),
        },
        where=or_(
            charge_points.c.connected_at.is_(None),
            charge_points.c.connected_at <= stmt.excluded.connected_at,
        ),
    )


CONNECT_MANY = _connect_many(_CONNECT_VALUES)
# Policies `pending` and `reject`: a connection makes no row; an unregistered CP gets one at
# its BootNotification (so made-up ids cannot fill the table with handshakes alone).
CONNECT_KNOWN = _connect_many(
    _CONNECT_VALUES.where(select(_known.c.id).where(_known.c.id == _CONNECTED.c.id).exists())
)


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    """The CP holds a connection on `gateway`; the newest connection wins."""
    await stations_connected([event], ctx)


@router.on_event_group("station.connected")
async def stations_connected(events: list[StationConnected], ctx: Ctx) -> None:
    """`station_connected` of many CPs (a reconnect storm) in one statement, in id order."""
    newest: dict[str, tuple[datetime, StationConnected]] = {}
    for event in events:
        at = event.connected_at
        cp_id = event.charge_point_id
        if cp_id not in newest or newest[cp_id][0] <= at:
            newest[cp_id] = (at, event)  # ON CONFLICT touches a row once a statement
    ids = sorted(newest)
    settings = ctx.settings
    creates = settings.unknown_charge_points is UnknownChargePointPolicy.ACCEPT
    await ctx.session.execute(
        CONNECT_MANY if creates else CONNECT_KNOWN,
        {
            "ids": ids,
            "gateways": [newest[i][1].gateway for i in ids],
            "connections": [newest[i][1].connection_id for i in ids],
            "ats": [newest[i][0] for i in ids],
            "versions": [OcppVersion.of_subprotocol(newest[i][1].subprotocol) for i in ids],
        },
    )


# station.disconnected of a group of CPs: offline, unless a newer connection has taken over.
_DISCONNECTED = (
    func.unnest(
        bindparam("ids", type_=ARRAY(String)),
        bindparam("connections", type_=ARRAY(String)),
        bindparam("gateways", type_=ARRAY(String)),
        bindparam("ats", type_=ARRAY(TIMESTAMP)),
    )
    .table_valued(
        column("id", String),
        column("connection", String),
        column("gateway", String),
        column("at", TIMESTAMP),
    )
    .render_derived(name="disconnected")
)
DISCONNECT_MANY = (
    update(charge_points)
    .where(
        charge_points.c.id == _DISCONNECTED.c.id,
        or_(
            charge_points.c.connection_id == _DISCONNECTED.c.connection,
            # A row its BootNotification created (policy `pending`) knows only the gateway.
            and_(
                charge_points.c.connection_id.is_(None),
                charge_points.c.gateway == _DISCONNECTED.c.gateway,
            ),
        ),
        charge_points.c.id.in_(
            locked_in_id_order(charge_points.c.id == any_(bindparam("ids", type_=ARRAY(String))))
        ),
    )
    .values(online=False, offline_by_sweep=False, disconnected_at=_DISCONNECTED.c.at)
)


@router.event("station.disconnected")
async def station_disconnected(event: StationDisconnected, ctx: Ctx) -> None:
    """Offline, unless a newer connection has already taken over."""
    await stations_disconnected([event], ctx)


@router.on_event_group("station.disconnected")
async def stations_disconnected(events: list[StationDisconnected], ctx: Ctx) -> None:
    """`station_disconnected` of many CPs (a drain) in one statement."""
    await ctx.session.execute(
        DISCONNECT_MANY,
        {
            "ids": [e.charge_point_id for e in events],
            "connections": [e.connection_id for e in events],
            "gateways": [e.gateway for e in events],
            "ats": [e.at for e in events],
        },
    )


# `station.seen`: a gateway's coalesced Heartbeats, {cpId: newest receive time} (up to ~1,000
# CPs a message), applied with one statement: last seen never moves backwards, a CP without a
# row is not created. (Gateways answer Heartbeat themselves: no service owns `v16.Heartbeat`.)
# The rows are locked in id order (`locked_in_id_order`), as every writer of many charge point
# rows locks them.
_SEEN = func.unnest(
    bindparam("ids", type_=ARRAY(String)), bindparam("ats", type_=ARRAY(TIMESTAMP))
).table_valued(column("id", String), column("at", TIMESTAMP))
_SEEN_ROWS = _SEEN.render_derived(name="seen")
APPLY_SEEN = (
    update(charge_points)
    .where(
        charge_points.c.id == _SEEN_ROWS.c.id,
        charge_points.c.id.in_(
            locked_in_id_order(charge_points.c.id == any_(bindparam("ids", type_=ARRAY(String))))
        ),
    )
    .values(last_seen_at=func.greatest(charge_points.c.last_seen_at, _SEEN_ROWS.c.at))
)


@router.event("station.seen")
async def station_seen(event: StationSeen, ctx: Ctx) -> None:
    """Last seen of many CPs at once (Heartbeats a gateway answered itself)."""
    seen = event.seen
    if not seen:
        return
    ids = sorted(seen)
    ats = [seen[cp_id] for cp_id in ids]
    await ctx.session.execute(APPLY_SEEN, {"ids": ids, "ats": ats})


# A gateways row's value in an upsert: a number, a time taken in SQL, or nothing.
_Value = ColumnElement[datetime] | ColumnElement[datetime | None] | float | None


@router.event("gateway.heartbeat")
async def gateway_heartbeat(event: GatewayHeartbeat, ctx: Ctx) -> None:
    """A gateway is alive; its beat time is taken from the registry's clock (no skew).

    A gateway restarted under the same id (a pod's container restarted, a host's unit) beats
    with a newer `startedAt`: that clears a stop recorded for the process before it, and takes
    offline the CPs that process held (it crashed: its sockets went with it, and its queue came
    back with the new process, so the sweep would not see it gone). A late beat of the process
    that stopped (same `startedAt`) does neither.
    """
    gw = gateways.c
    values: dict[str, _Value] = {
        "last_beat_at": func.now(),
        "beat_interval": event.interval,
        "connections": event.connections,
        # On time: should its beats fall behind again, the sweep asks the broker afresh.
        "connection_seen_at": None,
    }
    # When the gateway process started (absent from older gateways).
    started = event.started_at
    if started is not None:
        before = await ctx.session.scalar(
            select(gw.started_at).where(gw.id == event.gateway).with_for_update()
        )
        if before is None or started > before:
            await _forget_earlier_process(ctx, event.gateway, started)
    stmt = insert(gateways).values(id=event.gateway, **values)
    set_: dict[str, _Value] = dict(values)
    if started is not None:
        stmt = stmt.values(started_at=started)
        newer = stmt.excluded.started_at > gw.started_at
        set_["started_at"] = func.greatest(gw.started_at, stmt.excluded.started_at)
        set_["stopped_at"] = case((newer, None), else_=gw.stopped_at)
    await ctx.session.execute(stmt.on_conflict_do_update(index_elements=[gw.id], set_=set_))
    if started is not None:
        restored = await restore_swept(ctx.session, event.gateway, started)
        if restored:
            log.warning(
                "gateway %s beat again: %d charge points it still holds are online again",
                event.gateway,
                restored,
            )


async def _forget_earlier_process(ctx: Ctx, gateway: str, started: datetime) -> None:
    """Offline: the CPs `gateway` held through a process that started before `started` (the
    clock of both is the gateway's)."""
    cp = charge_points.c
    held = and_(
        cp.gateway == gateway,
        cp.connected_at < started,
        or_(cp.online.is_(True), cp.offline_by_sweep.is_(True)),
    )
    result = await ctx.session.execute(
        update(charge_points)
        .where(held, cp.id.in_(locked_in_id_order(held)))
        .values(online=False, offline_by_sweep=False, disconnected_at=started)
    )
    gone = int(result.rowcount)  # type: ignore[attr-defined]
    if gone:
        log.warning(
            "gateway %s restarted: %d charge points the process before it held are offline",
            gateway,
            gone,
        )


@router.event("gateway.stopped")
async def gateway_stopped(event: GatewayStopped, ctx: Ctx) -> None:
    """A gateway drained and stopped: none of the CPs it held is online through it.

    The stop is recorded at the gateway's own clock (`at`), the clock of its CPs' `connectedAt`:
    a CP that connected after it (to the same id restarted) is not taken offline, and a stop of
    a process older than the one now beating under that id is not recorded.
    """
    gw = gateways.c
    at = event.at
    started = event.started_at
    stmt = insert(gateways).values(id=event.gateway, stopped_at=at)
    if started is not None:
        stmt = stmt.values(started_at=started)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[gw.id],
            set_={"stopped_at": at},
            where=None if started is None else gw.started_at <= stmt.excluded.started_at,
        )
    )
    cp = charge_points.c
    held = and_(
        cp.gateway == event.gateway,
        cp.connected_at <= at,
        or_(cp.online.is_(True), cp.offline_by_sweep.is_(True)),
    )
    await ctx.session.execute(
        update(charge_points)
        .where(held, cp.id.in_(locked_in_id_order(held)))
        .values(online=False, offline_by_sweep=False, disconnected_at=at)
    )
