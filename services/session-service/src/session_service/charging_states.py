"""What a car on a transaction did and when (its charging states), and the parking time read
from them: one store for both versions.

A state comes with a 2.0.1 TransactionEvent (its chargingState) or, for 1.6, with a
StatusNotification the station-registry announces as `connector.status` (Preparing, Charging,
SuspendedEV, SuspendedEVSE and Finishing say one; docs/vocabulary.md). Each is kept once, at the
station's time capped at ours (a clock ahead of ours must not win); the parking time is read
from the times, so a copy adds nothing and the order reports arrive in does not matter. A 1.6
report that makes its transaction's newest state (by those times) another one is what the
service announces as `transaction.charging_state_changed` (`record_reports`), as 2.0.1's
newest TransactionEvent is.

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
# The transactions open on the reports' connectors, each opened in its report's version, locked
# in id order as every statement that locks transactions takes them: two groups judging reports
# of one transaction take turns, so each sees the states the other kept.
_OPEN = text(
    f"SELECT t.id, t.charge_point_id, t.connector_id, t.ocpp_version FROM {transactions.fullname} t"
    " JOIN unnest(CAST(:cps AS varchar[]), CAST(:connectors AS integer[]),"
    " CAST(:versions AS varchar[])) AS v(cp, connector, version)"
    " ON t.charge_point_id = v.cp AND t.connector_id = v.connector AND t.ocpp_version = v.version"
    " WHERE t.stop_time IS NULL AND t.superseded_by IS NULL"
    " ORDER BY t.id FOR UPDATE OF t"
)
# Each transaction's newest states: those at its latest time (two at one instant: both).
_NEWEST = text(
    f"SELECT s.transaction_id, s.at, s.state FROM {charging_states.fullname} s"
    " WHERE s.transaction_id = ANY(CAST(:ids AS integer[])) AND s.at = (SELECT max(n.at)"
    f" FROM {charging_states.fullname} n WHERE n.transaction_id = s.transaction_id)"
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


@dataclass(frozen=True, slots=True)
class Changed:
    """A report that made its open transaction's newest charging state another one."""

    transaction_id: int
    report: ConnectorReport


def changes(
    newest: dict[int, StateAt], reports: Sequence[tuple[int, ConnectorReport]]
) -> list[Changed]:
    """Of (transaction id, report) pairs in the order they came, those that change their
    transaction's newest state (`newest`: each one's before them, none known: absent): later
    than it by the station's time (two at one instant: as `parking_seconds` orders them) and
    another state. One as old or older, arriving late, changes nothing; nor does a copy."""
    known = dict(newest)
    changed: list[Changed] = []
    for transaction_id, report in reports:
        state = StateAt(report.at, report.state)
        before = known.get(transaction_id)
        if before is not None and _order(state) <= _order(before):
            continue
        known[transaction_id] = state
        if before is None or before.state is not state.state:
            changed.append(Changed(transaction_id, report))
    return changed


async def record_reports(
    session: AsyncSession, reports: Sequence[ConnectorReport]
) -> list[Changed]:
    """Keep each report against the transaction open on its connector, opened in its version
    (none open: nothing is kept); the reports that changed their transaction's newest state,
    in order (`changes`)."""
    if not reports:
        return []
    keys = sorted({(r.charge_point_id, r.connector_id, r.ocpp_version) for r in reports})
    rows = await session.execute(
        _OPEN,
        {
            "cps": [cp for cp, _, _ in keys],
            "connectors": [connector for _, connector, _ in keys],
            "versions": [version for _, _, version in keys],
        },
    )
    open_on: dict[tuple[str, int, str], list[int]] = {}
    for row in rows:
        key = (row.charge_point_id, row.connector_id, row.ocpp_version)
        open_on.setdefault(key, []).append(row.id)
    kept = [
        (transaction_id, r)
        for r in reports
        for transaction_id in open_on.get((r.charge_point_id, r.connector_id, r.ocpp_version), [])
    ]
    if not kept:
        return []
    newest: dict[int, StateAt] = {}
    ids = sorted({transaction_id for transaction_id, _ in kept})
    for row in await session.execute(_NEWEST, {"ids": ids}):
        state = StateAt(row.at, ChargingState(row.state))
        if row.transaction_id not in newest or _order(state) > _order(newest[row.transaction_id]):
            newest[row.transaction_id] = state
    await record(session, [(transaction_id, StateAt(r.at, r.state)) for transaction_id, r in kept])
    return changes(newest, kept)


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
