"""The writer: log bundles from `ocpp.log`, stored by COPY in batches, acked once stored."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, FieldValue
from prometheus_client import Counter, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import MESSAGE_LOG, quorum_arguments, service_queue

from .db import COPY_COLUMNS, SCHEMA
from .partitions import existing, maintain
from .records import BadRecord, Row, decode_bundle, fast_rows, to_row
from .settings import Settings

log = logging.getLogger(__name__)

STORED = Counter("csms_message_log_records_stored_total", "Records stored")
REJECTED = Counter("csms_message_log_records_rejected_total", "Records not stored", ["reason"])
REDELIVERED = Counter(
    "csms_message_log_bundles_redelivered_total", "Bundles delivered again and not stored twice"
)
BATCH_SECONDS = Histogram(
    "csms_message_log_batch_seconds",
    "Time to store one batch (COPY)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
QUEUE = service_queue("message-log", "records")
RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 30.0


def queue_arguments(max_bundles: int) -> dict[str, FieldValue]:
    """The records queue: quorum, bounded; when full the broker refuses what gateways send."""
    return {
        **quorum_arguments(QUEUE),
        "x-max-length": max_bundles,
        "x-overflow": "reject-publish",
    }


class Writer:
    """Gathers delivered bundles and stores their records with one COPY per batch."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._pending: list[tuple[AbstractIncomingMessage, list[Row]]] = []
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._days: set[date] = set()

    async def start(self, channel: AbstractChannel) -> None:
        """Declare the records queue, bind it to `ocpp.log`, start consuming."""
        await channel.set_qos(prefetch_count=self._settings.records_prefetch)
        exchange = await channel.declare_exchange(MESSAGE_LOG.name, MESSAGE_LOG.type, durable=True)
        await channel.declare_queue(
            f"{QUEUE}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )
        queue = await channel.declare_queue(
            QUEUE, durable=True, arguments=queue_arguments(self._settings.queue_max_bundles)
        )
        await queue.bind(exchange)
        await queue.consume(self._on_bundle)

    async def _on_bundle(self, message: AbstractIncomingMessage) -> None:
        rows = fast_rows(message.body)
        if rows is None:
            # Something in it to mend or to refuse: a record at a time, each problem named.
            try:
                gateway, records = decode_bundle(message.body)
            except ValueError as exc:
                # Not a bundle at all: nothing in it can be stored, and redelivery will not help.
                log.warning("dropped a malformed message log bundle: %s", exc)
                REJECTED.labels("malformed_bundle").inc()
                await message.ack()
                return
            rows = []
            for record in records:
                try:
                    rows.append(to_row(record, gateway))
                except BadRecord as exc:
                    REJECTED.labels("malformed").inc()
                    log.warning("dropped a malformed record from %s: %s", gateway, exc)
        self._pending.append((message, rows))
        self._pending_rows += len(rows)
        self._wake.set()

    async def run(self) -> None:
        """Store what arrives, a batch at a time, until cancelled."""
        while True:
            await self._wake.wait()
            if self._pending_rows < self._settings.batch_max_records:
                # Gather: one COPY and one commit for the bundles of many gateways.
                await asyncio.sleep(self._settings.batch_wait_ms / 1000)
            self._wake.clear()
            batch, self._pending, self._pending_rows = self._pending, [], 0
            if batch:
                await self._store_batch(batch)

    async def _store_batch(self, batch: list[tuple[AbstractIncomingMessage, list[Row]]]) -> None:
        """Store the batch, then ack its bundles. While the database is away the batch is
        retried (unacked: the prefetch holds further bundles in the broker, and no requeue
        spends their delivery limit); a record the database refuses is dropped and counted."""
        delay = RETRY_AFTER
        bundles = [(_bundle_id(message), rows) for message, rows in batch]
        while True:
            try:
                bundles = await self._in_partitions(bundles)
                with BATCH_SECONDS.time():
                    stored = await self.store(bundles)
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
                log.warning(
                    "a batch of %d bundles was refused; storing it record by record", len(bundles)
                )
                await self._one_by_one(bundles)
                break
            except Exception as exc:
                log.warning(
                    "could not store %d bundles (%s); again in %.0f s", len(bundles), exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_AFTER)
            else:
                STORED.inc(stored)
                break
        try:
            for message, _ in batch:
                await message.ack()
        except Exception as exc:
            # The broker connection went: the bundles come again, and are acked as stored.
            log.warning("could not ack %d bundles (%s)", len(batch), exc)

    async def _one_by_one(self, bundles: list[Bundle]) -> None:
        # The bundles count as stored first: a writer that dies on the way loses the rest of
        # them rather than storing their first part twice.
        async with self._sessions() as session:
            fresh = await _claim(session, bundles)
            await session.commit()
        for _, rows in fresh:
            for row in rows:
                try:
                    await self.store([(None, [row])])
                except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                    REJECTED.labels("refused_by_database").inc()
                    log.warning("a record of %s was not stored: %s", row[1], exc)
                else:
                    STORED.inc()

    async def _in_partitions(self, bundles: list[Bundle]) -> list[Bundle]:
        """The bundles with the rows whose day has a partition (created now if within the kept
        window)."""
        today = datetime.now(UTC).date()
        oldest = today - timedelta(days=self._settings.retention_days)
        newest = today + timedelta(days=self._settings.partitions_ahead)
        kept: list[Bundle] = []
        days: set[date] = set()
        for bundle_id, rows in bundles:
            within: list[Row] = []
            for row in rows:
                day = row[0].date()
                if not oldest <= day <= newest:
                    REJECTED.labels("out_of_retention").inc()
                    continue
                within.append(row)
                days.add(day)
            kept.append((bundle_id, within))
        if days - self._days:
            await self.maintain()
        return kept

    async def maintain(self, today: date | None = None) -> None:
        """Create the partitions ahead, drop the expired ones, learn which days exist."""
        today = today or datetime.now(UTC).date()
        async with self._sessions() as session:
            conn = await session.connection()
            created, dropped = await maintain(
                conn, today, self._settings.partitions_ahead, self._settings.retention_days
            )
            self._days = set(await existing(conn))
            # Bundle ids as long as their records are kept (one row per bundle, a day at a time).
            forgotten = datetime.now(UTC) - timedelta(days=self._settings.retention_days + 1)
            await conn.execute(
                text("DELETE FROM messages.bundles WHERE stored_at < :before"),
                {"before": forgotten},
            )
            await session.commit()
        if created or dropped:
            log.info(
                "message log partitions: created %s, dropped %s",
                [str(d) for d in created],
                [str(d) for d in dropped],
            )

    async def store(self, bundles: list[Bundle]) -> int:
        """COPY the rows of the bundles not stored before in one round trip, committed with
        their ids (a bundle without one is always stored): how many rows."""
        async with self._sessions() as session:
            rows = [row for _, items in await _claim(session, bundles) for row in items]
            if rows:
                conn = await session.connection()
                raw = await conn.get_raw_connection()
                # asyncpg's binary COPY: one round trip for the whole batch.
                await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                    "records", schema_name=SCHEMA, columns=list(COPY_COLUMNS), records=rows
                )
            await session.commit()
        return len(rows)

    async def store_rows(self, rows: list[Row]) -> None:
        """COPY `rows` (db.COPY_COLUMNS), committed."""
        await self.store([(None, rows)])


# A bundle's message id (None: none, or one too long to keep) and its rows.
Bundle = tuple[str | None, list[Row]]
_CLAIM = text(
    "INSERT INTO messages.bundles (id) SELECT DISTINCT unnest(CAST(:ids AS text[]))"
    " ON CONFLICT DO NOTHING RETURNING id"
)


def _bundle_id(message: AbstractIncomingMessage) -> str | None:
    bundle_id = message.message_id
    return bundle_id if bundle_id and len(bundle_id) <= 64 else None


async def _claim(session: AsyncSession, bundles: list[Bundle]) -> list[Bundle]:
    """Record the bundles' ids as stored (in the caller's transaction): the bundles not stored
    before, each once (a second copy in the same batch is left out too)."""
    ids = [bundle_id for bundle_id, _ in bundles if bundle_id is not None]
    fresh = set((await session.execute(_CLAIM, {"ids": ids})).scalars()) if ids else set()
    kept: list[Bundle] = []
    for bundle_id, rows in bundles:
        if bundle_id is None:
            kept.append((bundle_id, rows))
        elif bundle_id in fresh:
            fresh.discard(bundle_id)
            kept.append((bundle_id, rows))
        else:
            REDELIVERED.inc()
    return kept


async def run_writer(runtime: ServiceRuntime) -> None:
    """The background loop of the service: maintenance, then the writer, then maintenance on
    its interval."""
    settings: Settings = runtime.settings
    writer = Writer(runtime.sessions, settings)
    await writer.maintain()
    assert runtime.connection is not None
    channel = await runtime.connection.channel(publisher_confirms=False)
    await writer.start(channel)
    storing = asyncio.create_task(writer.run(), name="message-log-writer")
    try:
        while True:
            await asyncio.sleep(settings.maintenance_interval)
            try:
                await writer.maintain()
            except Exception:
                log.exception("message log partition maintenance failed")
    finally:
        storing.cancel()
        await asyncio.gather(storing, return_exceptions=True)
