"""What a transaction's start, signs of life and end do besides writing its row, for both
versions: the 1.6 adapters (`action_start.py`, `action_stop.py`, MeterValues in
`action_authorize_meter_values.py`) and the 2.0.1 one (`action_transaction_event.py`) prepare
their data and call these; none of them branches on the version.

- a start: `transaction.started`, then every older transaction left open on its connector is
  superseded (`supersede`), and the reservation an accepted start consumed is used
  (`use_reservation`);
- a sign of life (1.6 MeterValues, any 2.0.1 TransactionEvent that does not end it) wakes a
  transaction the stale monitor flagged (`wakes`, `alive_again`); the monitor itself is
  `flag_stale`, run by the sweep;
- an end told by the station (`ended`): `transaction.stopped`, and when an operator had closed
  the transaction, the audit that the station's own figures replaced the operator's estimate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import emit_many
from csms_shared.contracts.events import SessionWarning, TransactionStarted, TransactionStopped
from csms_shared.ocpp._base import format_datetime
from csms_shared.vocabulary import AuthorizationDecision

from . import reservations
from .db import outbox, transactions
from .resources import transaction_of
from .router import CallCtx
from .transactions import CHARGE_POINT, OPERATOR, audit

log = logging.getLogger(__name__)
tx = transactions.c

# Open transactions on the connectors asked, locked: a new start supersedes what is open there.
_OPEN_ON_CONNECTORS = text(
    f"SELECT t.id, t.charge_point_id, t.connector_id, t.start_time FROM {transactions.fullname} t"
    " JOIN unnest(CAST(:cps AS varchar[]), CAST(:connectors AS integer[])) AS v(cp, connector)"
    " ON t.charge_point_id = v.cp AND t.connector_id = v.connector"
    " WHERE t.stop_time IS NULL AND t.superseded_by IS NULL"
    " ORDER BY t.id FOR UPDATE OF t"
)


class _Flagged(Protocol):
    """The columns of a stored transaction `wakes` reads."""

    @property
    def stop_time(self) -> datetime | None: ...
    @property
    def stale_since(self) -> datetime | None: ...


async def started(call: CallCtx, row: Row[Any]) -> None:
    """A new transaction: `transaction.started` (its Ended may have come first: it is stopped)."""
    await call.emit(transaction_of(row, TransactionStarted, at=row.start_time))


async def supersede(session: AsyncSession, connectors: Sequence[tuple[str, int]]) -> None:
    """On each (CP, connector) a transaction opened on, flag every open transaction but the
    newest as superseded: the connector holds one at a time, so its station never told its end,
    or its stop was taken and waits behind bulk data (docs/ARCHITECTURE.md, "Decisions first";
    it is stored when it lands, the flag kept)."""
    if not connectors:
        return
    rows = await session.execute(
        _OPEN_ON_CONNECTORS,
        {"cps": [cp for cp, _ in connectors], "connectors": [c for _, c in connectors]},
    )
    open_by_connector: dict[tuple[str, int], list[Row[Any]]] = {}
    for row in rows:
        open_by_connector.setdefault((row.charge_point_id, row.connector_id), []).append(row)
    for found in open_by_connector.values():
        if len(found) < 2:
            continue
        newest, *older = sorted(found, key=lambda row: (row.start_time, row.id), reverse=True)
        older_ids = [row.id for row in older]
        await session.execute(
            update(transactions).where(tx.id.in_(older_ids)).values(superseded_by=newest.id)
        )
        for old in older_ids:
            await audit(
                session,
                old,
                "superseded",
                reason="a newer transaction started on its connector while it was open (its"
                " station never told its end, or its stop is still queued behind bulk data)",
                details={"supersededBy": newest.id},
            )
            log.info("transaction %d was still open; %d superseded it", old, newest.id)


async def use_reservation(
    session: AsyncSession,
    cp_id: str,
    reservation_id: int | None,
    transaction_id: int,
    decision: AuthorizationDecision | None,
    at: datetime,
) -> None:
    """The reservation a start consumed is used, when its token was accepted (a refused start
    leaves it in force for the token it is held for)."""
    if reservation_id is not None and decision is not None and decision.accepted:
        await reservations.use(session, cp_id, reservation_id, transaction_id, at)


def wakes(row: _Flagged) -> bool:
    """Whether a sign of life wakes the transaction: it is open and the stale monitor flagged it."""
    return row.stop_time is None and row.stale_since is not None


async def alive_again(session: AsyncSession, transaction_id: int, sign: str) -> None:
    """Audit that a flagged transaction showed a sign of life (`sign`: what arrived); the
    caller's write clears its `stale_since`."""
    await audit(session, transaction_id, "alive_again", reason=f"{sign} arrived")


async def ended(
    session: AsyncSession, call: CallCtx, before: Row[Any], new: Row[Any], message: str
) -> None:
    """The station told the transaction's end (`before` and `new`: its row before and after the
    write; `message`: the station's message that told it): `transaction.stopped` once, the first
    time the station stops it, and the audit of an operator's close it replaces."""
    if new.stopped_by != CHARGE_POINT or before.stopped_by == CHARGE_POINT:
        return
    if before.stopped_by == OPERATOR:
        # The station's own figures replace the operator's estimate; the close stays audited.
        await audit(
            session,
            before.id,
            "stopped_after_operator_close",
            reason=f"the charge point's {message} arrived after an operator closed it",
            details={"operatorMeterStop": before.meter_stop, "meterStop": new.meter_stop},
        )
    await call.emit(transaction_of(new, TransactionStopped, at=new.stop_time))


async def flag_stale(session: AsyncSession, now: datetime, stale_after: float) -> list[int]:
    """The stale monitor: flag open transactions with no sign of life for `stale_after`
    seconds, audit and warn of each; their ids."""
    cutoff = now - timedelta(seconds=stale_after)
    result = await session.execute(
        update(transactions)
        .where(tx.stop_time.is_(None), tx.stale_since.is_(None), tx.last_seen_at < cutoff)
        .values(stale_since=now)
        .returning(tx.id, tx.charge_point_id, tx.last_seen_at)
    )
    flagged = result.all()
    reason = f"no sign of life for {int(stale_after)} s"
    for row in flagged:
        await audit(
            session,
            row.id,
            "flagged_stale",
            reason=reason,
            details={"lastSeen": row.last_seen_at.isoformat()},
        )
    warnings = [
        SessionWarning(
            at=now,
            charge_point_id=row.charge_point_id,
            subject=f"Transaction {row.id}",
            message=f"flagged stale: {reason} (last seen {format_datetime(row.last_seen_at)})",
            transaction_id=row.id,
        )
        for row in flagged
    ]
    await emit_many(session, outbox, warnings)
    return [row.id for row in flagged]
