"""Events the roaming service follows from the stations: what each connector said and whether
the station is connected, from which its EVSEs' OCPI status is derived; an EVSE in a published
location whose status changes is pushed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import TextClause, text

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


# Fixed statements over arrays (one prepared statement whatever the count; a multi-row VALUES
# is compiled again for each count): each station at most once per statement. The one-event
# handlers use them with one event.
_CONNECTORS = text(
    f"WITH kept AS (INSERT INTO {station_connectors.fullname}"
    " (charge_point_id, evse_id, connector_id, status, at)"
    " SELECT * FROM unnest(CAST(:cps AS varchar[]), CAST(:evses AS integer[]),"
    " CAST(:connectors AS integer[]), CAST(:statuses AS varchar[]), CAST(:ats AS timestamptz[]))"
    " ON CONFLICT (charge_point_id, evse_id, connector_id)"
    " DO UPDATE SET status = excluded.status, at = excluded.at"
    f" WHERE {station_connectors.name}.at <= excluded.at"
    f" RETURNING {station_connectors.name}.charge_point_id)"
    # The version travels with the status too; a station that reports is connected (one that
    # connected before this service ran has no presence row yet). One statement for both.
    f" INSERT INTO {station_presence.fullname} (charge_point_id, online, ocpp_version, at)"
    " SELECT cp, TRUE, version, at FROM unnest(CAST(:cps AS varchar[]),"
    " CAST(:versions AS varchar[]), CAST(:ats AS timestamptz[])) AS u(cp, version, at)"
    " ON CONFLICT (charge_point_id) DO UPDATE SET ocpp_version = excluded.ocpp_version"
    f" WHERE {station_presence.name}.ocpp_version IS DISTINCT FROM excluded.ocpp_version"
)
_CONNECTED = text(
    f"INSERT INTO {station_presence.fullname}"
    " (charge_point_id, online, connection_id, ocpp_version, at)"
    " SELECT cp, TRUE, connection, version, at FROM unnest(CAST(:cps AS varchar[]),"
    " CAST(:connections AS varchar[]), CAST(:versions AS varchar[]),"
    " CAST(:ats AS timestamptz[])) AS u(cp, connection, version, at)"
    " ON CONFLICT (charge_point_id) DO UPDATE SET online = TRUE,"
    " connection_id = excluded.connection_id,"
    f" ocpp_version = coalesce(excluded.ocpp_version, {station_presence.name}.ocpp_version),"
    " at = excluded.at"
    # A newer report wins; and the old connection's disconnect, which may come first, does
    # not keep the station offline.
    f" WHERE {station_presence.name}.at <= excluded.at"
    f" OR ({station_presence.name}.online IS FALSE"
    f" AND {station_presence.name}.connection_id IS DISTINCT FROM excluded.connection_id)"
)
_DISCONNECTED = text(
    f"INSERT INTO {station_presence.fullname} (charge_point_id, online, connection_id, at)"
    " SELECT cp, FALSE, connection, at FROM unnest(CAST(:cps AS varchar[]),"
    " CAST(:connections AS varchar[]), CAST(:ats AS timestamptz[])) AS u(cp, connection, at)"
    " ON CONFLICT (charge_point_id) DO UPDATE SET online = FALSE,"
    " connection_id = excluded.connection_id, at = excluded.at"
    # Unless a newer connection took over (its connected event may come first).
    f" WHERE {station_presence.name}.connection_id = excluded.connection_id"
    f" OR {station_presence.name}.connection_id IS NULL"
)


def _evse_of(event: ConnectorStatus) -> int:
    """The EVSE a report is about (1.6's connector; 0: the station as a whole)."""
    return event.evse_id if event.evse_id is not None else event.connector_id


@dataclass(frozen=True, slots=True)
class _Statement:
    """A statement and its parameters."""

    sql: TextClause
    params: dict[str, list[Any]]


def _connector_statement(events: list[ConnectorStatus]) -> _Statement | None:
    """Each report's connector status kept (the newest report wins) and its station marked
    present with its version; None when none is an EVSE's (`events`: at most one per
    station)."""
    params: dict[str, list[Any]] = {
        "cps": [],
        "evses": [],
        "connectors": [],
        "statuses": [],
        "ats": [],
        "versions": [],
    }
    for event in events:
        evse_id = _evse_of(event)
        if evse_id == 0:  # the station as a whole: its EVSEs report for themselves
            continue
        params["cps"].append(event.charge_point_id)
        params["evses"].append(evse_id)
        connector = event.evse_connector_id
        params["connectors"].append(connector if connector is not None else 1)
        params["statuses"].append(event.report().status.value)
        # The station's time orders its reports, but never past ours: a clock far ahead would
        # otherwise keep its report the newest, whatever the station says after.
        at = event.at if event.timestamp is None else min(event.timestamp, event.at)
        params["ats"].append(at)
        params["versions"].append(event.ocpp_version.value)
    return _Statement(_CONNECTORS, params) if params["cps"] else None


def _connected_statement(events: list[StationConnected]) -> _Statement:
    """The stations online on these connections (`events`: at most one per station)."""
    return _Statement(
        _CONNECTED,
        {
            "cps": [event.charge_point_id for event in events],
            "connections": [event.connection_id[:64] for event in events],
            "versions": [_VERSIONS.get(event.subprotocol or "") for event in events],
            "ats": [event.connected_at for event in events],
        },
    )


def _disconnected_statement(events: list[StationDisconnected]) -> _Statement:
    """The stations offline, unless a newer connection took over (`events`: at most one per
    station)."""
    return _Statement(
        _DISCONNECTED,
        {
            "cps": [event.charge_point_id for event in events],
            "connections": [event.connection_id[:64] for event in events],
            "ats": [event.at for event in events],
        },
    )


@router.event("connector.status")
async def connector_status(event: ConnectorStatus, ctx: Ctx) -> None:
    """Keep the connector's status (the newest report wins) and move its EVSE's."""
    if (stmt := _connector_statement([event])) is None:
        return
    await ctx.session.execute(stmt.sql, stmt.params)
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings), _evse_of(event)
    )


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    stmt = _connected_statement([event])
    await ctx.session.execute(stmt.sql, stmt.params)
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings)
    )


@router.event("station.disconnected")
async def station_disconnected(event: StationDisconnected, ctx: Ctx) -> None:
    """Offline, unless a newer connection took over (its connected event may come first)."""
    stmt = _disconnected_statement([event])
    await ctx.session.execute(stmt.sql, stmt.params)
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings)
    )


# -- many at once (a connect storm, a fleet's boot) ---------------------------------------------

E = TypeVar("E", ConnectorStatus, StationConnected, StationDisconnected)


async def _follow_many(
    events: list[E],
    ctx: Ctx,
    one: Callable[[E, Ctx], Awaitable[None]],
    statement: Callable[[list[E]], _Statement | None],
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
        # In station order, as other groups take their rows: none waits for another in a cycle.
        group.sort(key=lambda event: event.charge_point_id)
        if (stmt := statement(group)) is not None:
            await ctx.session.execute(stmt.sql, stmt.params)


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
