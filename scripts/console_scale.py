"""How fast the first page of the charge point list and the transaction list answer with
100,000 CPs and 1,000,000 transactions: a suite of its own, seeded in SQL, timed over HTTP.

    .venv/bin/python scripts/console_scale.py [--charge-points N] [--transactions N]

Prints the median and worst of 20 requests per page (REST and console), after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.conftest import ADMIN_KEY, ADMIN_PASSWORD, Suite
from tests.integration.infra import (
    Infra,
    base_urls,
    isolated_database,
    isolated_vhost,
)

SEED_CHARGE_POINTS = """
INSERT INTO registry.charge_points (id, vendor, model, firmware_version, registration_status,
                                    online)
SELECT 'SCALE-' || lpad(n::text, 7, '0'), 'Vendor' || (n % 37), 'Model' || (n % 11),
       '1.0.' || (n % 5), 'Accepted', n % 3 = 0
FROM generate_series(1, $1) AS n
"""
SEED_CONNECTORS = """
INSERT INTO registry.connectors (charge_point_id, connector_id, status, error_code, availability)
SELECT 'SCALE-' || lpad(n::text, 7, '0'), c,
       (ARRAY['Available','Charging','Faulted','Unavailable'])[1 + (n + c) % 4], 'NoError',
       'Operative'
FROM generate_series(1, $1) AS n, generate_series(1, 2) AS c
"""
SEED_TRANSACTIONS = """
INSERT INTO sessions.transactions (charge_point_id, connector_id, id_tag, id_tag_status,
    meter_start, start_time, price_per_kwh, session_fee, currency, last_seen_at, meter_stop,
    stop_time, energy_wh, cost, ocpp_version)
SELECT 'SCALE-' || lpad((1 + n % $2)::text, 7, '0'), 1 + n % 2, 'TAG' || (n % 5000), 'Accepted',
       0, now() - make_interval(mins => n), 0.30, 0, 'EUR', now() - make_interval(mins => n),
       CASE WHEN n > 1000 THEN 10000 END,
       CASE WHEN n > 1000 THEN now() - make_interval(mins => n - 30) END,
       CASE WHEN n > 1000 THEN 10000 END, CASE WHEN n > 1000 THEN 3.00 END, '1.6'
FROM generate_series(1, $1) AS n
"""


async def seed(infra: Infra, charge_points: int, transactions: int) -> None:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    try:
        started = time.perf_counter()
        await conn.execute(SEED_CHARGE_POINTS, charge_points)
        await conn.execute(SEED_CONNECTORS, charge_points)
        await conn.execute(SEED_TRANSACTIONS, transactions, charge_points)
        await conn.execute("ANALYZE")
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await conn.close()


async def timed(client: httpx.AsyncClient, url: str, rounds: int = 20) -> tuple[float, float]:
    for _ in range(3):
        (await client.get(url)).raise_for_status()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        (await client.get(url)).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


async def measure(suite: Suite) -> None:
    base = suite.api_url.removesuffix("/api/v1")
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        login = await client.get("/login")
        await client.post(
            "/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "csrf_token": login.cookies["csms_login_csrf"],
            },
        )
        pages = [
            ("REST /api/v1/charge-points (first 50)", "/api/v1/charge-points?limit=50", headers),
            (
                "REST /api/v1/charge-points?online=true",
                "/api/v1/charge-points?online=true",
                headers,
            ),
            ("REST /api/v1/transactions (first 50)", "/api/v1/transactions?limit=50", headers),
            ("console /charge-points", "/charge-points", {}),
            ("console /charge-points?q=Vendor3", "/charge-points?q=Vendor3", {}),
            ("console /charge-points?q=0099999 (one CP)", "/charge-points?q=0099999", {}),
            ("console /transactions", "/transactions", {}),
        ]
        print(f"{'page':45} {'median ms':>10} {'worst ms':>10}")
        for name, url, extra in pages:
            client.headers.clear()
            client.headers.update(extra)
            median, worst = await timed(client, url)
            print(f"{name:45} {median:10.1f} {worst:10.1f}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--charge-points", type=int, default=100_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    args = parser.parse_args()
    with base_urls() as (broker, database), isolated_vhost(broker) as vhost:
        async with isolated_database(database) as db_url:
            infra = Infra(vhost, db_url)
            suite = Suite(infra, Path(tempfile.mkdtemp(prefix="console-scale-")))
            await seed(infra, args.charge_points, args.transactions)
            suite.start()
            try:
                await measure(suite)
            finally:
                suite.stop()


if __name__ == "__main__":
    asyncio.run(main())
