"""The transactional outbox: events written with the change, published after the commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aio_pika.abc import AbstractChannel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from ..contracts.event_base import Event
from .client import message_properties
from .publish import publish
from .stations import station_headers, station_of

log = logging.getLogger(__name__)

BATCH = 500
# After a wake-up, wait this long for more commits, so that under load one relay transaction
# carries many events instead of one each.
GATHER = 0.015


def outbox_table(metadata: MetaData) -> Table:
    """`<schema>.outbox`: one row per event not yet confirmed by the broker."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("routing_key", String(200), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


_INSERTS: dict[Table, Any] = {}


def _insert(table: Table) -> Any:
    # One statement object per outbox: SQLAlchemy then finds its compiled form at once.
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = insert(table)
    return stmt


# Events staged in a session's transaction, written just before it commits (see _write_staged).
_STAGED = "csms.outbox.staged"


def _stage(session: AsyncSession, table: Table, events: Iterable[Event]) -> None:
    sync = session.sync_session
    if sync.in_nested_transaction():
        # A SAVEPOINT rolled back would leave its events staged for the outer commit.
        raise RuntimeError("outbox events cannot be emitted inside a SAVEPOINT")
    staged: list[tuple[Table, str, bytes]] = sync.info.setdefault(_STAGED, [])
    staged += [(table, e.key(), e.encode()) for e in events]


async def emit(session: AsyncSession, table: Table, event: Event) -> None:
    """Queue an event in the caller's transaction; it leaves only if that commits.

    The row is written when the transaction commits, with every other event it emitted, in
    one multi-row INSERT: a group of calls answered from one transaction pays one statement
    for all their events.
    """
    _stage(session, table, [event])


async def emit_many(session: AsyncSession, table: Table, events: Iterable[Event]) -> None:
    """`emit` for several events."""
    _stage(session, table, events)


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    """Write the staged events in the transaction that is about to commit."""
    staged: list[tuple[Table, str, bytes]] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    by_table: dict[Table, list[dict[str, str | bytes]]] = {}
    for table, key, body in staged:
        by_table.setdefault(table, []).append({"routing_key": key, "body": body})
    for table, rows in by_table.items():
        session.execute(_insert(table), rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop_staged(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back transaction's events never leave."""
    session.info.pop(_STAGED, None)


class OutboxRelay:
    """Publishes committed outbox rows to `ocpp.events` with confirms, then deletes them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        channel: AbstractChannel,
        exchange: str,
        poll_interval: float = 1.0,
        gather: float = GATHER,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._channel = channel
        self._exchange = exchange
        self._poll = poll_interval
        self._gather = gather
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Relay forever; a broker or DB fault is retried at the next poll."""
        while True:
            try:
                while await self.drain_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._poll)
            except TimeoutError:
                pass
            else:
                await asyncio.sleep(self._gather)
            # Cleared before the drain reads: a commit after this wakes the next round.
            self._wakeup.clear()

    async def drain_once(self) -> bool:
        """Publish one batch; True when there may be more."""
        t = self._table
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(t.c.id, t.c.routing_key, t.c.body)
                    .order_by(t.c.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return False
            prefix = f"{self._table.schema}-"
            await asyncio.gather(
                *(
                    publish(
                        self._channel,
                        row.body,
                        exchange=self._exchange,
                        routing_key=row.routing_key,
                        properties=message_properties(
                            persistent=True,
                            message_id=prefix + str(row.id),
                            headers=station_headers(row.routing_key, station_of(row.body)),
                        ),
                        # Events nobody follows (meter.values) are dropped by the broker, not
                        # returned to us: the outbox guarantees delivery to bound queues only.
                        mandatory=False,
                    )
                    for row in rows
                )
            )
            await session.execute(delete(t).where(t.c.id.in_([row.id for row in rows])))
        return len(rows) == BATCH
