"""Range partitions by UTC day or month: named for their period, created ahead, dropped whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CREATED = Counter("csms_partitions_created_total", "Partitions created by maintenance", ["table"])
DROPPED = Counter(
    "csms_partitions_dropped_total", "Partitions dropped whole past retention", ["table"]
)


class Period(StrEnum):
    """The time one partition holds, in UTC."""

    DAY = "day"
    MONTH = "month"


# How a partition's name spells its period's first day.
_SUFFIX = {
    Period.DAY: ("%Y%m%d", re.compile(r"[0-9]{8}")),
    Period.MONTH: ("%Y%m", re.compile(r"[0-9]{6}")),
}


def period_start(day: date, period: Period) -> date:
    """The first day of the period holding `day`."""
    return day if period is Period.DAY else day.replace(day=1)


def shift(start: date, n: int, period: Period) -> date:
    """The first day of the period `n` periods after the one starting on `start` (n < 0: before)."""
    if period is Period.DAY:
        return start + timedelta(days=n)
    months = start.year * 12 + start.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class PartitionedTable:
    """A table partitioned by RANGE on a timestamptz column, one partition per UTC period."""

    schema: str
    table: str
    period: Period
    # Periods before the current one that are wanted too (late rows of a clock that lags).
    behind: int = 0

    @property
    def qualified(self) -> str:
        """`schema.table`, as the metrics label it."""
        return f"{self.schema}.{self.table}"

    def partition_name(self, start: date) -> str:
        """`records_20261123`, `meter_values_202611`: the partition of the period from `start`."""
        return f"{self.table}_{start.strftime(_SUFFIX[self.period][0])}"

    def start_of(self, name: str) -> date | None:
        """The first day a partition's name says, or None for a table that is not one."""
        form, digits = _SUFFIX[self.period]
        suffix = name.removeprefix(f"{self.table}_")
        if suffix == name or not digits.fullmatch(suffix):
            return None
        try:
            return datetime.strptime(suffix, form).replace(tzinfo=UTC).date()
        except ValueError:
            return None

    def create_sql(self, start: date) -> str:
        """The DDL of the partition of the period from `start` (idempotent)."""
        end = shift(start, 1, self.period)
        lower = datetime(start.year, start.month, start.day, tzinfo=UTC)
        upper = datetime(end.year, end.month, end.day, tzinfo=UTC)
        return (
            f'CREATE TABLE IF NOT EXISTS "{self.schema}"."{self.partition_name(start)}" '
            f'PARTITION OF "{self.schema}".{self.table} '
            f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
        )

    def wanted(self, today: date, ahead: int) -> list[date]:
        """The periods `behind` before today's, today's and `ahead` more: their first days."""
        current = period_start(today, self.period)
        return [shift(current, n, self.period) for n in range(-self.behind, ahead + 1)]

    def expired(self, starts: list[date], today: date, retention_days: int) -> list[date]:
        """The periods whose every day lies more than `retention_days` days before `today`."""
        oldest_kept = today - timedelta(days=retention_days)
        return sorted(s for s in starts if shift(s, 1, self.period) <= oldest_kept)

    async def existing(self, conn: AsyncConnection) -> dict[date, str]:
        """The partitions there are, by their first day."""
        rows = await conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent "
                "JOIN pg_namespace n ON n.oid = p.relnamespace "
                "WHERE n.nspname = :schema AND p.relname = :table"
            ),
            {"schema": self.schema, "table": self.table},
        )
        found: dict[date, str] = {}
        for (name,) in rows:
            start = self.start_of(name)
            if start is not None:
                found[start] = name
        return found

    async def maintain(
        self, conn: AsyncConnection, today: date, ahead: int, retention_days: int | None
    ) -> tuple[list[date], list[date]]:
        """Create the partitions wanted, drop the expired ones (none when `retention_days` is
        None): (created, dropped), by first day, counted as run. The caller commits."""
        # Replicas maintain one at a time (CREATE ... IF NOT EXISTS alone still races).
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"{self.schema}.partitions"},
        )
        there = await self.existing(conn)
        created = [start for start in self.wanted(today, ahead) if start not in there]
        for start in created:
            await conn.execute(text(self.create_sql(start)))
        dropped = [] if retention_days is None else self.expired(list(there), today, retention_days)
        for start in dropped:
            # A whole table: no row-by-row DELETE, no vacuum debt.
            await conn.execute(text(f'DROP TABLE IF EXISTS "{self.schema}"."{there[start]}"'))
        CREATED.labels(self.qualified).inc(len(created))
        DROPPED.labels(self.qualified).inc(len(dropped))
        return created, dropped
