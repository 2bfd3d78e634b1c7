"""Gauges sampled in the background: build info, outbox backlog, DB pool use, queue depths.

Every metric of the suite starts with `csms_`, and none has a label named `service`, `job` or
`instance` (Prometheus sets those itself): the process is told apart by its scrape target.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata

from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import ChannelNotFoundEntity
from prometheus_client import Gauge
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# Seconds between two samples: cheap queries, and fresher than any alert needs.
INTERVAL = 5.0

BUILD_INFO = Gauge(
    "csms_build_info", "Always 1: the build this process runs", ["component", "version", "commit"]
)
OUTBOX_BACKLOG = Gauge(
    "csms_outbox_backlog", "Events written but not yet confirmed by the broker", ["schema"]
)
OUTBOX_OLDEST = Gauge(
    "csms_outbox_oldest_seconds", "Age of the oldest event still in the outbox", ["schema"]
)
POOL_CONNECTIONS = Gauge(
    "csms_db_pool_connections",
    "Database pool connections: checked_out (in use), idle, overflow (beyond the pool size)",
    ["state"],
)
POOL_SIZE = Gauge("csms_db_pool_size", "Database pool size (without overflow)")
QUEUE_MESSAGES = Gauge(
    "csms_queue_messages", "Messages ready in a service queue (sampled by its consumers)", ["queue"]
)
QUEUE_CONSUMERS = Gauge("csms_queue_consumers", "Consumers of a service queue", ["queue"])
DEAD_LETTERS = Gauge(
    "csms_dead_letters", "Messages in a service queue's dead-letter queue", ["queue"]
)

Sampler = Callable[[], Awaitable[None]]


def set_build_info(component: str) -> None:
    """`csms_build_info{component, version, commit} 1`; the commit from `CSMS_BUILD_COMMIT`."""
    try:
        version = metadata.version(component)
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = os.environ.get("CSMS_BUILD_COMMIT") or "unknown"
    BUILD_INFO.labels(component, version, commit).set(1)


def pool_sampler(engine: AsyncEngine) -> Sampler:
    """The pool's use: SQLAlchemy's QueuePool counters, read without a query."""

    async def sample() -> None:
        pool = engine.pool
        size, checked_out = pool.size(), pool.checkedout()  # type: ignore[attr-defined]
        POOL_SIZE.set(size)
        POOL_CONNECTIONS.labels("checked_out").set(checked_out)
        POOL_CONNECTIONS.labels("idle").set(pool.checkedin())  # type: ignore[attr-defined]
        POOL_CONNECTIONS.labels("overflow").set(max(pool.overflow(), 0))  # type: ignore[attr-defined]

    return sample


def outbox_sampler(engine: AsyncEngine, table: Table) -> Sampler:
    """The outbox's backlog and the age of its oldest row, in one query."""
    schema = table.schema or "public"
    query = select(
        func.count(),
        func.coalesce(func.extract("epoch", func.now() - func.min(table.c.created_at)), 0),
    ).select_from(table)

    async def sample() -> None:
        async with engine.connect() as connection:
            count, oldest = (await connection.execute(query)).one()
        OUTBOX_BACKLOG.labels(schema).set(count)
        OUTBOX_OLDEST.labels(schema).set(float(oldest))

    return sample


def queue_sampler(
    connection: Callable[[], AbstractConnection | None], queues: Sequence[str]
) -> Sampler:
    """Ready messages and consumers of each queue, and its `.dead` queue's depth (passive
    declarations: nothing created; RabbitMQ 4 wants `configure` on the queue for one, 3.x no
    permission, so a service samples its own queues)."""

    async def depth(conn: AbstractConnection, name: str) -> tuple[int, int] | None:
        channel = await conn.channel(publisher_confirms=False)
        try:
            declared = await channel.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return None  # not declared yet; the broker closed that channel
        result = declared.declaration_result
        await channel.close()
        return int(result.message_count or 0), int(result.consumer_count or 0)

    async def sample() -> None:
        conn = connection()
        if conn is None or conn.is_closed:
            return
        for queue in queues:
            found = await depth(conn, queue)
            if found is not None:
                QUEUE_MESSAGES.labels(queue).set(found[0])
                QUEUE_CONSUMERS.labels(queue).set(found[1])
            dead = await depth(conn, f"{queue}.dead")
            if dead is not None:
                DEAD_LETTERS.labels(queue).set(dead[0])

    return sample


async def sample_forever(samplers: Sequence[Sampler], interval: float = INTERVAL) -> None:
    """Run every sampler each `interval` seconds until cancelled; a failure skips one round."""
    while True:
        for sampler in samplers:
            try:
                await sampler()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sampling metrics failed: %r", exc)
        await asyncio.sleep(interval)
