"""Events the roaming service follows from the stations: what each connector said and whether
the station is connected, from which its EVSEs' OCPI status is derived; an EVSE in a published
location whose status changes is pushed."""

from __future__ import annotations

from sqlalchemy import and_, func, or_
from sqlalchemy.dialects.postgresql import insert

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


@router.event("connector.status")
async def connector_status(event: ConnectorStatus, ctx: Ctx) -> None:
    """Keep the connector's status (the newest report wins) and move its EVSE's."""
    evse_id = event.evse_id if event.evse_id is not None else event.connector_id
    connector_id = event.evse_connector_id if event.evse_connector_id is not None else 1
    if evse_id == 0:  # the station as a whole: its EVSEs report for themselves
        return
    # The station's time orders its reports, but never past ours: a clock far ahead would
    # otherwise keep its report the newest, whatever the station says after.
    at = event.at if event.timestamp is None else min(event.timestamp, event.at)
    values = {
        "charge_point_id": event.charge_point_id,
        "evse_id": evse_id,
        "connector_id": connector_id,
        "status": event.report().status.value,
        "at": at,
    }
    stmt = insert(station_connectors).values(values)
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
    presence = insert(station_presence).values(
        charge_point_id=event.charge_point_id,
        online=True,
        ocpp_version=event.ocpp_version.value,
        at=at,
    )
    await ctx.session.execute(
        presence.on_conflict_do_update(
            index_elements=[station_presence.c.charge_point_id],
            set_={"ocpp_version": presence.excluded.ocpp_version},
            where=station_presence.c.ocpp_version.is_distinct_from(presence.excluded.ocpp_version),
        ).add_cte(kept)
    )
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings), evse_id
    )


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    stmt = insert(station_presence).values(
        charge_point_id=event.charge_point_id,
        online=True,
        connection_id=event.connection_id[:64],
        ocpp_version=_VERSIONS.get(event.subprotocol or ""),
        at=event.connected_at,
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
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
    )
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings)
    )


@router.event("station.disconnected")
async def station_disconnected(event: StationDisconnected, ctx: Ctx) -> None:
    """Offline, unless a newer connection took over (its connected event may come first)."""
    stmt = insert(station_presence).values(
        charge_point_id=event.charge_point_id,
        online=False,
        connection_id=event.connection_id[:64],
        at=event.at,
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
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
    )
    await location_store.follow_status(
        ctx.session, event.charge_point_id, Publisher.of(ctx.settings)
    )
