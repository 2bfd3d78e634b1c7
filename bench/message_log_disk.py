"""How much disk the OCPP message log takes per day, and how fast one CP's last frames come back.

    .venv/bin/python -m bench.message_log_disk                       # 1,000 CPs, one hour, scaled
    .venv/bin/python -m bench.message_log_disk --seed-records 10000000   # and the query timing

Writes one hour of a fleet's traffic into a fresh database through the writer's own path
(records shaped as the gateway records them, encoded as a bundle, decoded and checked by the
writer, stored by its COPY into a day partition), then reads the partition's size: table,
TOAST and indexes (`pg_total_relation_size`). Traffic per CP, the suite's defaults: a
Heartbeat every 300 s (REGISTRY_HEARTBEAT_INTERVAL), a MeterValues every `--meter-interval`
seconds while charging (energy register and power, as bench/fleet.py sends), each CALL and
its CALLRESULT one record. With `--seed-records`, also times the REST read's query (one CP's
newest 100) over that many records spread over 5,000 CPs (seeded by Postgres, see SEED_SQL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from csms_shared.bus.message_log import Record, RecordKind, encode_records
from csms_shared.db import create_engine, session_factory
from message_log.app import migrate
from message_log.partitions import partition_name
from message_log.records import decode_bundle, to_row
from message_log.settings import Settings
from message_log.writer import Writer
from tests.integration.infra import base_urls, isolated_database

BATCH = 5000


def meter_values(energy: int) -> dict[str, Any]:
    """A MeterValues payload as bench/fleet.py sends it."""
    return {
        "connectorId": 1,
        "transactionId": 123456,
        "meterValue": [
            {
                "timestamp": "2026-11-23T10:00:00Z",
                "sampledValue": [
                    {
                        "value": str(energy),
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "location": "Outlet",
                        "unit": "Wh",
                    },
                    {
                        "value": "7200",
                        "context": "Sample.Periodic",
                        "measurand": "Power.Active.Import",
                        "unit": "W",
                    },
                ],
            }
        ],
    }


def exchange(cp: str, conn: str, at: float, n: int, action: str, payload: Any) -> list[Record]:
    """A CALL from the CP and the gateway's CALLRESULT, as the gateway records them."""
    message_id = f"{cp}-{n}"
    answer: dict[str, Any] = (
        {"currentTime": "2026-11-23T10:00:00.000Z"} if action == "Heartbeat" else {}
    )
    size_in = len(str(payload)) + 40
    return [
        (cp, at, RecordKind.FRAME, "in", 2, message_id, action, payload, None, size_in, conn),
        (cp, at + 0.002, RecordKind.FRAME, "out", 3, message_id, action, answer, None, 60, conn),
    ]


def traffic(
    cps: int, start: datetime, seconds: float, heartbeat: float, meter: float, charging: bool
) -> list[Record]:
    """Every record of `cps` CPs over `seconds` from `start`."""
    records: list[Record] = []
    t0 = start.timestamp()
    for i in range(cps):
        cp, conn = f"CP-{i:05d}", uuid.uuid4().hex
        offset = i * heartbeat / cps  # CPs spread over the interval, as a real fleet is
        n = 0
        t = offset
        while t < seconds:
            records += exchange(cp, conn, t0 + t, n, "Heartbeat", {})
            t, n = t + heartbeat, n + 1
        if charging:
            t = offset
            while t < seconds:
                records += exchange(cp, conn, t0 + t, n, "MeterValues", meter_values(1000 + n))
                t, n = t + meter, n + 1
    records.sort(key=lambda r: r[1])
    return records


async def store(writer: Writer, records: list[Record]) -> None:
    """Through the writer's path: a bundle encoded, decoded, each record checked, COPY."""
    for i in range(0, len(records), BATCH):
        gateway, items = decode_bundle(encode_records("gw-bench", records[i : i + BATCH]))
        await writer.store_rows([to_row(item, gateway) for item in items])


async def partition_bytes(dsn: str, day: Any) -> tuple[int, int, int]:
    """(total, heap, indexes) bytes of one day's partition."""
    conn = await asyncpg.connect(dsn)
    try:
        name = f"messages.{partition_name(day)}"
        await conn.execute(f"VACUUM ANALYZE {name}")
        total = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name)
        heap = await conn.fetchval("SELECT pg_table_size($1::regclass)", name)
        indexes = await conn.fetchval("SELECT pg_indexes_size($1::regclass)", name)
        return int(total), int(heap), int(indexes)
    finally:
        await conn.close()


async def measure(
    writer: Writer, dsn: str, cps: int, heartbeat: float, meter: float, hours: float, day: Any
) -> dict[str, float]:
    """Bytes per CP-day idle (Heartbeats only) and charging (Heartbeats and MeterValues)."""
    results: dict[str, float] = {}
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    conn = await asyncpg.connect(dsn)
    try:
        for charging in (False, True):
            await conn.execute("TRUNCATE messages.records")
            records = traffic(cps, start, hours * 3600, heartbeat, meter, charging)
            await store(writer, records)
            total, heap, indexes = await partition_bytes(dsn, day)
            label = "charging" if charging else "idle"
            per_day = total * 24 / hours
            results[f"{label}_records_per_cp_day"] = len(records) * 24 / hours / cps
            results[f"{label}_bytes_per_record"] = total / len(records)
            results[f"{label}_bytes_per_day"] = per_day
            print(
                f"{label:>8}: {len(records):,} records in {hours:g} h -> table {heap / 1e6:.1f} MB"
                f" + indexes {indexes / 1e6:.1f} MB = {total / len(records):.0f} B/record;"
                f" {cps:,} CPs x 24 h = {per_day / 1e9:.2f} GB/day"
            )
    finally:
        await conn.close()
    return results


# Seeding 10 million records through Python takes the better part of an hour on a shared
# machine; the query's cost depends on how the rows lie, not on how they came, so Postgres makes
# them: Heartbeat pairs of 5,000 CPs spread over one day, as the writer would have stored them.
SEED_SQL = """
INSERT INTO messages.records
    (at, charge_point_id, kind, direction, message_type, message_id, action, payload, size,
     gateway, connection_id)
SELECT $1::timestamptz + (n * 86000.0 / $2) * interval '1 second',
       'CP-' || lpad(((n / 2) % 5000)::text, 5, '0'), 'frame',
       CASE WHEN n % 2 = 0 THEN 'in' ELSE 'out' END, 2 + n % 2, 'm' || (n / 2), 'Heartbeat',
       CASE WHEN n % 2 = 0 THEN '{}'::jsonb
            ELSE '{"currentTime": "2026-11-23T10:00:00.000Z"}'::jsonb END,
       60, 'gw-bench', 'c'
FROM generate_series($3::bigint, $2 - 1) AS n
"""


async def query_time(dsn: str, records: int, day: Any) -> None:
    """Seed `records` over 5,000 CPs and time one CP's newest 100, as the REST read asks."""
    conn = await asyncpg.connect(dsn, command_timeout=None)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    there = int(await conn.fetchval("SELECT count(*) FROM messages.records"))
    began = time.monotonic()
    for low in range(there, records, 1_000_000):
        await conn.execute(SEED_SQL, start, min(records, low + 1_000_000), low)
    stored = await conn.fetchval("SELECT count(*) FROM messages.records")
    print(f"seeded {stored:,} records in {time.monotonic() - began:.0f} s")
    await conn.execute("VACUUM ANALYZE messages.records")
    statement = await conn.prepare(
        "SELECT * FROM messages.records WHERE charge_point_id = $1"
        " ORDER BY at DESC, id DESC LIMIT 101"
    )
    timings = []
    for i in range(50):
        t = time.perf_counter()
        rows = await statement.fetch(f"CP-{(i * 97) % 5000:05d}")
        timings.append((time.perf_counter() - t) * 1000)
        assert len(rows) == 101
    print(
        f"one CP's newest 100 of {stored:,}: median {statistics.median(timings):.2f} ms,"
        f" max {max(timings):.2f} ms (50 CPs, round trip included)"
    )
    await conn.close()


async def conn_truncate(dsn: str) -> None:
    """Empty the records (the disk measurement's) before seeding."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("TRUNCATE messages.records")
    await conn.close()


async def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cps", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0, help="simulated, then scaled to 24")
    parser.add_argument("--heartbeat", type=float, default=300.0)
    parser.add_argument("--meter-interval", type=float, default=60.0)
    parser.add_argument("--seed-records", type=int, default=0)
    args = parser.parse_args()
    day = datetime.now(UTC).date() + timedelta(days=1)
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            settings = Settings(database_url=url)
            await asyncio.to_thread(migrate, settings)
            engine = create_engine(url, pool_size=2)
            writer = Writer(session_factory(engine), settings)
            await writer.maintain()
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            await measure(
                writer, dsn, args.cps, args.heartbeat, args.meter_interval, args.hours, day
            )
            if args.seed_records:
                await conn_truncate(dsn)
                await query_time(dsn, args.seed_records, day)
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
