"""What a car on a transaction did and when (its charging states), and the parking time read
from them: one store for both versions.

A state comes with a 2.0.1 TransactionEvent (its chargingState) or, for 1.6, with a
StatusNotification the station-registry announces as `connector.status` (Preparing, Charging,
SuspendedEV, SuspendedEVSE and Finishing say one; docs/vocabulary.md). Each is kept once, at the
station's time capped at ours (a clock ahead of ours must not win); the parking time is read
from the times, so a copy adds nothing and the order reports arrive in does not matter.

Parking is the time between the start and the stop spent in EVConnected, SuspendedEV or Idle:
a car that is plugged in and not charging of its own accord. SuspendedEVSE is never parking (a
pause the operator's site causes is not billed to the driver), and before the first state known
nothing is: a station that never says its state is never billed parking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.vocabulary import ChargingState

from .db import charging_states, transactions
from .energy import duration_seconds

PARKING = frozenset({ChargingState.EV_CONNECTED, ChargingState.SUSPENDED_EV, ChargingState.IDLE})

_RECORD = text(
    f"INSERT INTO {charging_states.fullname} (transaction_id, at, state)"
    " SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamptz[]),"
    " CAST(:states AS varchar[]))"
    " ON CONFLICT DO NOTHING"
)
# A report on a connector goes to the transaction open there, opened in the report's version.
_RECORD_ON_OPEN = text(
    f"INSERT INTO {charging_states.fullname} (transaction_id, at, state)"
    " SELECT t.id, v.at, v.state FROM unnest(CAST(:cps AS varchar[]),"
    " CAST(:connectors AS integer[]), CAST(:versions AS varchar[]),"
    " CAST(:ats AS timestamptz[]), CAST(:states AS varchar[]))"
    " AS v(cp, connector, version, at, state)"
    f" JOIN {transactions.fullname} AS t ON t.charge_point_id = v.cp"
    " AND t.connector_id = v.connector AND t.ocpp_version = v.version"
    " AND t.stop_time IS NULL AND t.superseded_by IS NULL"
    " ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class StateAt:
    """A charging state and when it began."""

    at: datetime
    state: ChargingState


@dataclass(frozen=True, slots=True)
class ConnectorReport:
    """A station's report of the charging state on one of its connectors (1.6's numbering)."""

    charge_point_id: str
    connector_id: int
    ocpp_version: str
    at: datetime
    state: ChargingState


def reported_at(timestamp: datetime | None, received: datetime) -> datetime:
    """When a state began: the station's time, capped at ours (none given: ours)."""
    return received if timestamp is None else min(timestamp, received)


def _order(state: StateAt) -> tuple[datetime, bool]:
    # Two states at one instant: the one that is not parking wins (it is taken last), so a
    # tie never bills the driver.
    return state.at, state.state not in PARKING


def parking_seconds(states: Iterable[StateAt], start: datetime, stop: datetime) -> int:
    """Whole seconds from `start` to `stop` spent in a PARKING state, each state lasting until
    the next one (the last until the stop), in any order given, copies included."""
    ordered = sorted(set(states), key=_order)
    parked = timedelta()
    for n, each in enumerate(ordered):
        if each.state not in PARKING:
            continue
        until = ordered[n + 1].at if n + 1 < len(ordered) else stop
        since, until = max(each.at, start), min(until, stop)
        if until > since:
            parked += until - since
    return min(int(parked.total_seconds()), duration_seconds(start, stop))


async def record(session: AsyncSession, states: Sequence[tuple[int, StateAt]]) -> None:
    """Keep each (transaction id, state) once."""
    if not states:
        return
    await session.execute(
        _RECORD,
        {
            "ids": [transaction_id for transaction_id, _ in states],
            "ats": [state.at for _, state in states],
            "states": [state.state.value for _, state in states],
        },
    )


async def record_on_open(session: AsyncSession, reports: Sequence[ConnectorReport]) -> None:
    """Keep each report against the transaction open on its connector, opened in its version
    (none open: nothing is kept)."""
    if not reports:
        return
    await session.execute(
        _RECORD_ON_OPEN,
        {
            "cps": [r.charge_point_id for r in reports],
            "connectors": [r.connector_id for r in reports],
            "versions": [r.ocpp_version for r in reports],
            "ats": [r.at for r in reports],
            "states": [r.state.value for r in reports],
        },
    )


async def history(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[StateAt]]:
    """The states kept of each transaction (none: an empty list)."""
    found: dict[int, list[StateAt]] = {transaction_id: [] for transaction_id in ids}
    if not ids:
        return found
    c = charging_states.c
    rows = await session.execute(
        select(c.transaction_id, c.at, c.state).where(c.transaction_id.in_(set(ids)))
    )
    for row in rows:
        found[row.transaction_id].append(StateAt(row.at, ChargingState(row.state)))
    return found


async def parking_of(
    session: AsyncSession, spans: Sequence[tuple[int, datetime, datetime]]
) -> dict[int, int]:
    """The parking seconds of each (transaction id, start, stop): one read for them all."""
    kept = await history(session, [transaction_id for transaction_id, _, _ in spans])
    return {
        transaction_id: parking_seconds(kept[transaction_id], start, stop)
        for transaction_id, start, stop in spans
    }
