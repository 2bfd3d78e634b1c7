"""The writer: log bundles from `ocpp.log`, stored by COPY in batches, acked once stored."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from prometheus_client import Counter, Histogram
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
BATCH_SECONDS = Histogram(
    "csms_message_log_batch_seconds",
    "Time to store one batch (COPY)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
QUEUE = service_queue("message-log", "records")
RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 30.0


def queue_arguments(max_bundles: int) -> dict[str, Any]:
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
        rows = [row for _, items in batch for row in items]
        while True:
            try:
                rows = await self._in_partitions(rows)
                with BATCH_SECONDS.time():
                    await self.store_rows(rows)
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
                log.warning("a batch of %d records was refused; storing them one by one", len(rows))
                await self._one_by_one(rows)
                break
            except Exception as exc:
                log.warning(
                    "could not store %d records (%s); again in %.0f s", len(rows), exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_AFTER)
            else:
                STORED.inc(len(rows))
                break
        try:
            for message, _ in batch:
                await message.ack()
        except Exception as exc:
            # The broker connection went: the bundles come again, and are stored twice.
            log.warning("could not ack %d bundles (%s)", len(batch), exc)

    async def _one_by_one(self, rows: list[Row]) -> None:
        for row in rows:
            try:
                await self.store_rows([row])
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                REJECTED.labels("refused_by_database").inc()
                log.warning("a record of %s was not stored: %s", row[1], exc)
            else:
                STORED.inc()

    async def _in_partitions(self, rows: list[Row]) -> list[Row]:
        """The rows whose day has a partition (created now if within the kept window)."""
        today = datetime.now(UTC).date()
        oldest = today - timedelta(days=self._settings.retention_days)
        newest = today + timedelta(days=self._settings.partitions_ahead)
        kept: list[Row] = []
        for row in rows:
            day = row[0].date()
            if not oldest <= day <= newest:
                REJECTED.labels("out_of_retention").inc()
                continue
            kept.append(row)
        missing = {row[0].date() for row in kept} - self._days
        if missing:
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
            await session.commit()
        if created or dropped:
            log.info(
                "message log partitions: created %s, dropped %s",
                [str(d) for d in created],
                [str(d) for d in dropped],
            )

    async def store_rows(self, rows: list[Row]) -> None:
        """COPY `rows` (db.COPY_COLUMNS) in one round trip, committed."""
        if not rows:
            return
        async with self._sessions() as session:
            conn = await session.connection()
            raw = await conn.get_raw_connection()
            # asyncpg's binary COPY: one round trip for the whole batch.
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                "records", schema_name=SCHEMA, columns=list(COPY_COLUMNS), records=rows
            )
            await session.commit()


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
