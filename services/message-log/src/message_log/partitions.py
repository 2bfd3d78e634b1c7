"""Day partitions of `messages.records`: created ahead, dropped whole past retention."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import SCHEMA

_NAME = re.compile(r"^records_(\d{8})$")


def partition_name(day: date) -> str:
    """`records_20261123`: the partition holding that UTC day."""
    return f"records_{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition's name says, or None for a table that is not a day partition."""
    match = _NAME.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()


def create_sql(day: date) -> str:
    """The DDL of one day's partition (idempotent)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return (
        f'CREATE TABLE IF NOT EXISTS "{SCHEMA}"."{partition_name(day)}" '
        f'PARTITION OF "{SCHEMA}".records '
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def expired(days: list[date], today: date, retention_days: int) -> list[date]:
    """The days older than `retention_days` days before `today`."""
    oldest_kept = today - timedelta(days=retention_days)
    return sorted(day for day in days if day < oldest_kept)


def wanted(today: date, ahead: int) -> list[date]:
    """Yesterday (late records of a gateway whose clock lags), today and `ahead` days more."""
    return [today + timedelta(days=n) for n in range(-1, ahead + 1)]


async def existing(conn: AsyncConnection) -> dict[date, str]:
    """The day partitions there are, by day."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = :schema AND p.relname = 'records'"
        ),
        {"schema": SCHEMA},
    )
    found: dict[date, str] = {}
    for (name,) in rows:
        day = day_of(name)
        if day is not None:
            found[day] = name
    return found


async def maintain(
    conn: AsyncConnection, today: date, ahead: int, retention_days: int
) -> tuple[list[date], list[date]]:
    """Create the partitions wanted and drop the expired ones: (created, dropped)."""
    # Replicas maintain one at a time.
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('messages.partitions'))"))
    there = await existing(conn)
    created = [day for day in wanted(today, ahead) if day not in there]
    for day in created:
        await conn.execute(text(create_sql(day)))
    dropped = expired(list(there), today, retention_days)
    for day in dropped:
        # A whole table: no row-by-row DELETE, no vacuum debt.
        await conn.execute(text(f'DROP TABLE IF EXISTS "{SCHEMA}"."{there[day]}"'))
    return created, dropped
