"""The transactional outbox: events (or another outbox's rows, the load-manager's command
requests) written with the change, published after the commit by a relay that the commit wakes.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Any

import aiormq
from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import DeliveryError
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
from .stations import about, routing_headers

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


# Rows staged in a session's transaction, written just before it commits (see _write_staged),
# and the outbox tables a commit wrote to, whose relays it wakes (see _wake_relays).
_STAGED = "csms.outbox.staged"
_WRITTEN = "csms.outbox.written"

# The relays running in this process, by the table they relay.
_RELAYS: dict[Table, weakref.WeakSet[OutboxRelay]] = {}


def stage_rows(session: AsyncSession, table: Table, rows: Iterable[tuple[str, bytes]]) -> None:
    """Queue rows (routing key, body) of an outbox table in the caller's transaction: written
    just before it commits, in one INSERT per table, and relayed as soon as it has."""
    sync = session.sync_session
    if sync.in_nested_transaction():
        # A SAVEPOINT rolled back would leave its rows staged for the outer commit.
        raise RuntimeError("outbox rows cannot be queued inside a SAVEPOINT")
    staged: list[tuple[Table, str, bytes]] = sync.info.setdefault(_STAGED, [])
    staged += [(table, key, body) for key, body in rows]


def _stage(session: AsyncSession, table: Table, events: Iterable[Event]) -> None:
    stage_rows(session, table, ((e.key(), e.encode()) for e in events))


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
    session.info[_WRITTEN] = set(by_table)


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    """The rows are committed: the relays of their tables publish them now, not at a poll."""
    for table in session.info.pop(_WRITTEN, ()):
        for relay in list(_RELAYS.get(table, ())):
            relay.wake()


@event.listens_for(Session, "after_soft_rollback")
def _drop_staged(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back transaction's rows never leave."""
    session.info.pop(_STAGED, None)
    session.info.pop(_WRITTEN, None)


class OutboxRelay:
    """Publishes committed outbox rows with confirms, then deletes those the broker took.

    Woken by every commit that wrote to its table in this process (`_wake_relays`), and every
    `poll_interval` for rows another process committed or a publish left behind.

    Events (`mandatory=False`, the default) go to `ocpp.events` with their station's copy
    headers: an event nobody follows (meter.values) is dropped by the broker, as the outbox
    guarantees delivery to bound queues only. A `mandatory` outbox (the load-manager's command
    requests) keeps a row the broker returns unroutable (its consumer has not declared its
    queue yet) for the next poll instead of dropping it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        channel: AbstractChannel,
        exchange: str,
        poll_interval: float = 1.0,
        gather: float = GATHER,
        *,
        mandatory: bool = False,
        message_id_prefix: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._channel = channel
        self._exchange = exchange
        self._poll = poll_interval
        self._gather = gather
        self._mandatory = mandatory
        self._prefix = f"{table.schema}-" if message_id_prefix is None else message_id_prefix
        self._wakeup = asyncio.Event()
        self.unroutable = 0  # rows the broker returned, over the relay's life

    def wake(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Relay forever; a broker or DB fault is retried at the next poll."""
        _RELAYS.setdefault(self._table, weakref.WeakSet()).add(self)
        try:
            await self._run()
        finally:
            _RELAYS[self._table].discard(self)

    async def _run(self) -> None:
        while True:
            try:
                while await self.drain_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay of %s failed; retrying", self._table.fullname)
            try:
                # asyncio.timeout, not wait_for: on 3.11 a wait_for whose event is set as the
                # task is cancelled can swallow the cancellation, and the loop never stops.
                async with asyncio.timeout(self._poll):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            else:
                await asyncio.sleep(self._gather)
            # Cleared before the drain reads: a commit after this wakes the next round.
            self._wakeup.clear()

    def _headers(self, row: Any) -> dict[str, Any] | None:
        if self._mandatory:
            return None
        return routing_headers(row.routing_key, *about(row.body))

    async def drain_once(self) -> bool:
        """Publish one batch; True when there may be more (a full batch all taken)."""
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
            answers = await asyncio.gather(
                *(
                    publish(
                        self._channel,
                        row.body,
                        exchange=self._exchange,
                        routing_key=row.routing_key,
                        properties=message_properties(
                            persistent=True,
                            message_id=self._prefix + str(row.id),
                            headers=self._headers(row),
                        ),
                        mandatory=self._mandatory,
                    )
                    for row in rows
                ),
                return_exceptions=True,
            )
            taken = []
            for row, answer in zip(rows, answers, strict=True):
                if answer is None or isinstance(answer, aiormq.spec.Basic.Ack):
                    taken.append(row.id)  # confirmed (None: a channel without confirms)
                elif isinstance(answer, BaseException) and not isinstance(answer, DeliveryError):
                    raise answer  # the connection or channel failed: every row stays
                # Else returned unroutable or nacked: the row stays for the next poll.
            if taken:
                await session.execute(delete(t).where(t.c.id.in_(taken)))
        if left := len(rows) - len(taken):
            self.unroutable += left
            log.warning("%d rows of %s not taken by the broker; kept", left, t.fullname)
        return len(rows) == BATCH and not left
