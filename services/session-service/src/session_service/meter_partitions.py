"""Month partitions of `sessions.meter_values`: created ahead, dropped whole past retention.

A row goes to the partition of its `received_at` month (UTC). There is no DEFAULT partition: it
would keep whatever missed a month for good (no month to drop it with), and a month could no
longer be created once the default held rows of it. So a write for a month without a partition
fails loudly instead, its transaction rolled back and logged with its traceback: a MeterValues
goes back to its queue (`csms_messages_handled_total{outcome="requeued"}`) and is dead-lettered
if it keeps failing (command-api can replay it); a StopTransaction carrying meter values is
answered InternalError. In normal operation that never happens: this month and
SESSION_METER_VALUES_PARTITIONS_AHEAD more exist from start-up on and are checked every
SESSION_PARTITION_INTERVAL seconds, and only months wholly older than the retention are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.partitions import PartitionedTable, Period

from .db import SCHEMA, meter_values
from .settings import Settings

log = logging.getLogger(__name__)

METER_VALUES = PartitionedTable(SCHEMA, meter_values.name, Period.MONTH)
FAILED = Counter(
    "csms_session_partition_maintenance_failures_total",
    "Meter value partition maintenance runs that failed (tried again the next interval)",
)


async def maintain(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, today: date | None = None
) -> tuple[list[date], list[date]]:
    """Create this month and the months ahead, drop the expired ones: (created, dropped)."""
    today = today or datetime.now(UTC).date()
    async with sessions() as session, session.begin():
        created, dropped = await METER_VALUES.maintain(
            await session.connection(),
            today,
            settings.meter_values_partitions_ahead,
            settings.meter_values_retention_days,
        )
    if created or dropped:
        log.info(
            "meter value partitions: created %s, dropped %s",
            [METER_VALUES.partition_name(start) for start in created],
            [METER_VALUES.partition_name(start) for start in dropped],
        )
    return created, dropped


async def keep_meter_partitions(runtime: ServiceRuntime) -> None:
    """Maintain at start and every `partition_interval` seconds; replicas take turns (an
    advisory lock), and a failed run is logged and tried again the next interval."""
    settings: Settings = runtime.settings
    while True:
        try:
            await maintain(runtime.sessions, settings)
        except Exception:
            FAILED.inc()
            log.exception("meter value partition maintenance failed")
        await asyncio.sleep(settings.partition_interval)
