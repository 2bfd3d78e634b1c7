"""Events the roaming service follows from the stations: what each connector said and whether
the station is connected, from which its EVSEs' OCPI status is derived; an EVSE in a published
location whose status changes is pushed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Executable, and_, func, or_
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.rounds import rounds
from csms_shared.contracts.station_events import (
    ConnectorStatus,
    StationConnected,
    StationDisconnected,
)

from . import location_store
from .db import station_connectors, station_presence
from .location_documents import Publisher
from .router import Ctx, router

# The subprotocol a connection agreed on, as the version the suite names.
_VERSIONS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}


def _connector_statement(events: list[ConnectorStatus]) -> Executable | None:
    """Each report's connector status kept (the newest report wins) and its station marked
    present with its version, in one statement; None when none is an EVSE's (`events`: at most
    one per station)."""
    connectors, present = [], []
    for event in events:
        evse_id = event.evse_id if event.evse_id is not None else event.connector_id
        if evse_id == 0:  # the station as a whole: its EVSEs report for themselves
            continue
        # The station's time orders its reports, but never past ours: a clock far ahead would
        # otherwise keep its report the newest, whatever the station says after.
        at = event.at if event.timestamp is None else min(event.timestamp, event.at)
        connectors.append(
            {
                "charge_point_id": event.charge_point_id,
                "evse_id": evse_id,
                "connector_id": event.evse_connector_id
                if event.evse_connector_id is not None
                else 1,
                "status": event.report().status.value,
                "at": at,
            }
        )
        present.append(
            {
                "charge_point_id": event.charge_point_id,
                "online": True,
                "ocpp_version": event.ocpp_version.value,
                "at": at,
            }
        )
    if not connectors:
        return None
    stmt = insert(station_connectors).values(connectors)
    kept = (
        stmt.on_conflict_do_update(
            index_elements=[
                station_connectors.c.charge_point_id,
                station_connectors.c.evse_id,
                station_connectors.c.connector_id,
            ],
            set_={"status": stmt.excluded.status, "at": stmt.excluded.at},
            where=station_connectors.c.at <= stmt.excluded.at,
        )
        .returning(station_connectors.c.charge_point_id)
        .cte("kept")
    )
    # The version travels with the status too; a station that reports is connected (one that
    # connected before this service ran has no presence row yet). One statement for both.
    presence = insert(station_presence).values(present)
    return presence.on_conflict_do_update(
        index_elements=[station_presence.c.charge_point_id],
        set_={"ocpp_version": presence.excluded.ocpp_version},
        where=station_presence.c.ocpp_version.is_distinct_from(presence.excluded.ocpp_version),
    ).add_cte(kept)


def _connected_statement(events: list[StationConnected]) -> Executable:
    """The stations online on these connections (`events`: at most one per station)."""
    stmt = insert(station_presence).values(
        [
            {
                "charge_point_id": event.charge_point_id,
                "online": True,
                "connection_id": event.connection_id[:64],
                "ocpp_version": _VERSIONS.get(event.subprotocol or ""),
                "at": event.connected_at,
            }
            for event in events
        ]
    )
    return stmt.on_conflict_do_update(
        index_elements=[station_presence.c.charge_point_id],
        set_={
            "online": True,
            "connection_id": stmt.excluded.connection_id,
            "ocpp_version": func.coalesce(
                stmt.excluded.ocpp_version, station_presence.c.ocpp_version
            ),
            "at": stmt.excluded.at,
        },
        # A newer report wins; and the old connection's disconnect, which may come first,
        # does not keep the station offline.
        where=or_(
            station_presence.c.at <= stmt.excluded.at,
            and_(
                station_presence.c.online.is_(False),
                station_presence.c.connection_id.is_distinct_from(stmt.excluded.connection_id),
            ),
        ),
    )


def _disconnected_statement(events: list[StationDisconnected]) -> Executable:
    """The stations offline, unless a newer connection took over (its connected event may come
    first; `events`: at most one per station)."""
    stmt = insert(station_presence).values(
        [
            {
                "charge_point_id": event.charge_point_id,
                "online": False,
                "connection_id": event.connection_id[:64],
                "at": event.at,
            }
            for event in events
        ]
    )
    return stmt.on_conflict_do_update(
        index_elements=[station_presence.c.charge_point_id],
        set_={
            "online": False,
            "connection_id": stmt.excluded.connection_id,
            "at": stmt.excluded.at,
        },
        where=or_(
            station_presence.c.connection_id == stmt.excluded.connection_id,
            station_presence.c.connection_id.is_(None),
        ),
    )


@router.event("connector.status")
async def connector_status(event: ConnectorStatus, ctx: Ctx) -> None:
    """Keep the connector's status (the newest report wins) and move its EVSE's."""
    if (stmt := _connector_statement([event])) is None:
        return
    await ctx.session.execute(stmt)
    evse_id = event.evse_id if event.evse_id is not None else event.connector_id
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings), evse_id
    )


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    await ctx.session.execute(_connected_statement([event]))
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings)
    )


@router.event("station.disconnected")
async def station_disconnected(event: StationDisconnected, ctx: Ctx) -> None:
    """Offline, unless a newer connection took over (its connected event may come first)."""
    await ctx.session.execute(_disconnected_statement([event]))
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings)
    )


# -- many at once (a connect storm, a fleet's boot) ---------------------------------------------

E = TypeVar("E", ConnectorStatus, StationConnected, StationDisconnected)


async def _follow_many(
    events: list[E],
    ctx: Ctx,
    one: Callable[[E, Ctx], Awaitable[None]],
    statement: Callable[[list[E]], Executable | None],
) -> None:
    """Events that share a transaction: those of a station with an EVSE in a published location
    one by one (`one`: each change its EVSE's status takes is pushed, in order), in the order
    they came; the rest (most of a fleet, whose statuses nobody is sent) in one statement a
    round, a round holding at most one event of a station, so a station's events keep their
    order."""
    published = await location_store.stations_published(
        ctx.session, {event.charge_point_id for event in events}
    )
    for event in events:
        if event.charge_point_id in published:
            await one(event, ctx)
    rest = [event for event in events if event.charge_point_id not in published]
    for group in rounds(rest, lambda event: [event.charge_point_id]):
        if (stmt := statement(group)) is not None:
            await ctx.session.execute(stmt)


@router.on_event_group("connector.status")
async def connector_statuses(events: list[ConnectorStatus], ctx: Ctx) -> None:
    """`connector_status` of many."""
    await _follow_many(events, ctx, connector_status, _connector_statement)


@router.on_event_group("station.connected")
async def stations_connected(events: list[StationConnected], ctx: Ctx) -> None:
    """`station_connected` of many."""
    await _follow_many(events, ctx, station_connected, _connected_statement)


@router.on_event_group("station.disconnected")
async def stations_disconnected(events: list[StationDisconnected], ctx: Ctx) -> None:
    """`station_disconnected` of many."""
    await _follow_many(events, ctx, station_disconnected, _disconnected_statement)
