"""What a car on a connector is doing, as its transaction tells it
(`transaction.charging_state_changed`, one event for both versions), kept on the connector in
`evse_connectors` beside the status the station's StatusNotification gave.

A 1.6 StatusNotification says the car's state itself, and `action_status.py` keeps it with the
status: the registry hears it first-hand, and also the states no transaction has (Preparing
before the StartTransaction, Finishing after the StopTransaction). The event the session-service
announces from that very StatusNotification then finds its state kept at its time, and writes
nothing: the state is stored once. A 2.0.1 StatusNotification says none, so its car's state
comes by the event alone.

A charging state is kept only on an Occupied connector, and never over a newer one: a car
state other than Idle makes a connector Occupied unless a newer status said otherwise (the
TransactionEvent and the StatusNotification travel by different services and may arrive in
either order); Idle (no car, or not ready) changes nothing on a connector that is not Occupied.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.events import TransactionChargingStateChanged
from csms_shared.vocabulary.connectors import ChargingState, ErrorCode
from csms_shared.vocabulary.connectors import ConnectorState as Status

from .db import charge_points, evse_connectors
from .router import Ctx, router

_OCCUPIED = Status.OCCUPIED.value


@router.event("transaction.charging_state_changed")
async def charging_state_changed(event: TransactionChargingStateChanged, ctx: Ctx) -> None:
    """Keep a running transaction's charging state on its connector, whichever the version."""
    state = ChargingState(event.charging_state.value)
    await keep(
        ctx.session,
        event.charge_point_id,
        event.connector_id,
        event.evse_connector_id,
        state,
        event.at,
    )


async def keep(
    session: AsyncSession,
    cp_id: str,
    evse_id: int,
    connector_id: int | None,
    state: ChargingState,
    at: datetime,
) -> None:
    """Set `state` on the connector (None: the EVSE's Occupied one, or its only one) as the
    module's docstring says."""
    c = evse_connectors.c
    which = [c.charge_point_id == cp_id, c.evse_id == evse_id]
    if connector_id is not None:
        which.append(c.connector_id == connector_id)
    rows = (
        await session.execute(
            select(evse_connectors).where(*which).order_by(c.connector_id).with_for_update()
        )
    ).all()
    if connector_id is None and rows:
        occupied = [row for row in rows if row.status == _OCCUPIED]
        rows = occupied or (rows if len(rows) == 1 else [])
    if rows:
        for row in rows:
            await _update(session, row, state, at)
        return
    if state is ChargingState.IDLE or evse_id <= 0:
        return
    known = await session.scalar(select(charge_points.c.id).where(charge_points.c.id == cp_id))
    if known is None:
        return  # a station deleted since: nothing to keep
    await session.execute(
        insert(evse_connectors)
        .values(
            charge_point_id=cp_id,
            evse_id=evse_id,
            connector_id=connector_id if connector_id is not None else 1,
            status=_OCCUPIED,
            charging_state=state.value,
            error_code=ErrorCode.NO_ERROR.value,
            status_at=at,
            charging_state_at=at,
        )
        .on_conflict_do_nothing()
    )


async def _update(
    session: AsyncSession, row: Row[object], state: ChargingState, at: datetime
) -> None:
    if row.charging_state_at is not None and row.charging_state_at > at:
        return  # a newer charging state is kept already
    if row.charging_state == state.value and row.charging_state_at == at:
        return  # this one is (1.6: from the StatusNotification the event came from)
    occupied = row.status == _OCCUPIED
    if not occupied and (row.status_at > at or state is ChargingState.IDLE):
        return  # the connector said it is free since, or no car is there
    values: dict[str, object] = {"charging_state": state.value, "charging_state_at": at}
    if not occupied:
        values |= {"status": _OCCUPIED, "status_at": at}
    c = evse_connectors.c
    await session.execute(
        update(evse_connectors)
        .where(
            c.charge_point_id == row.charge_point_id,
            c.evse_id == row.evse_id,
            c.connector_id == row.connector_id,
        )
        .values(**values)
    )
