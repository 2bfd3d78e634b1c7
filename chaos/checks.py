"""What must hold after every fault, read from the database, the broker and the fleet."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field

import aio_pika
import asyncpg

from bench.fleet import SAMPLES_PER_METER_VALUES, SimFleet
from tests.integration.conftest import Suite

from .servers import PrivateRabbit

SERVICE_SCHEMAS = ("registry", "sessions", "commands", "messages", "loads")


@dataclass(slots=True)
class Losses:
    """What the DB lacks of what the CPs were told was stored (all must be zero)."""

    transactions_missing: int = 0
    transactions_wrong: int = 0
    meter_rows_missing: int = 0
    duplicates: int = 0
    commands_stuck: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Everything lost or wrong, one number."""
        return (
            self.transactions_missing
            + self.transactions_wrong
            + self.meter_rows_missing
            + self.duplicates
            + self.commands_stuck
        )

    def line(self) -> str:
        """One cell of the table."""
        if not self.total:
            return "nothing"
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.transactions_missing, "tx missing"),
                (self.transactions_wrong, "tx wrong"),
                (self.meter_rows_missing, "meter rows missing"),
                (self.duplicates, "duplicate tx"),
                (self.commands_stuck, "commands pending forever"),
            )
            if n
        ]
        return ", ".join(parts)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def processes_ready(suite: Suite) -> list[str]:
    """Suite processes that are not running or not ready."""
    down = []
    for name, process in suite.services.items():
        port = suite.internal_ports[name]
        alive = process.proc is not None and process.proc.poll() is None
        if not alive or not _ready(f"http://127.0.0.1:{port}/readyz"):
            down.append(name)
    for index, gateway in enumerate(suite.gateways):
        port = suite.gateway_internal_ports[index]
        alive = gateway.proc is not None and gateway.proc.poll() is None
        if not alive or not _ready(f"http://127.0.0.1:{port}/readyz"):
            down.append(f"gateway-{index}")
    return down


async def presence_wrong(conn: asyncpg.Connection, suite: Suite, fleet: SimFleet) -> int:
    """CPs the fleet holds open whose registry row is not online at that very gateway."""
    ids = {suite.gateway_url(i): g.env["GATEWAY_INSTANCE_ID"] for i, g in enumerate(suite.gateways)}
    expected = {cp.cp_id: ids.get(cp.url) for cp in fleet.cps if cp.connected}
    if len(expected) < len(fleet.cps):
        return len(fleet.cps) - len(expected)
    rows = await conn.fetch(
        "SELECT id, online, gateway FROM registry.charge_points WHERE id = ANY($1::text[])",
        list(expected),
    )
    right = sum(1 for r in rows if r["online"] and r["gateway"] == expected[r["id"]])
    return len(fleet.cps) - right


async def wait_recovered(
    dsn: str, suite: Suite, fleet: SimFleet, completed_before: int, timeout: float
) -> tuple[float, str]:
    """Wait until every process is ready, every CP is connected and shown online at the
    gateway that holds it, and a session has ended since the fault; (seconds, what was still
    wrong at the timeout, or "")."""
    started = time.monotonic()
    still = ""
    while time.monotonic() - started < timeout:
        down = await asyncio.to_thread(processes_ready, suite)
        completed = sum(1 for tx in fleet.transactions.values() if tx.meter_stop is not None)
        if down:
            still = "not ready: " + ", ".join(down)
        elif (wrong := await _presence(dsn, suite, fleet)) is None or wrong:
            still = f"{wrong if wrong is not None else '?'} CPs not connected or shown elsewhere"
        elif completed <= completed_before:
            still = "no session has ended since the fault"
        else:
            return time.monotonic() - started, ""
        await asyncio.sleep(0.25)
    return time.monotonic() - started, still


async def _presence(dsn: str, suite: Suite, fleet: SimFleet) -> int | None:
    # A connection per look: the database may be the thing that was restarted.
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        return await presence_wrong(conn, suite, fleet)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None
    finally:
        await conn.close()


async def losses(dsn: str, fleet: SimFleet, settle: float) -> Losses:
    """Compare what the CPs were told with the DB, while the fleet still runs: every ended
    transaction stored with its energy, every acknowledged meter row stored (waiting up to
    `settle` s for the bulk queues, where the stops wait too), no command pending long past its
    timeout."""
    ended = {tid: tx for tid, tx in fleet.transactions.items() if tx.meter_stop is not None}
    acked = {
        tid: tx.meter_values * SAMPLES_PER_METER_VALUES for tid, tx in fleet.transactions.items()
    }
    result = Losses()
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + settle
        while True:
            rows = await conn.fetch(
                "SELECT transaction_id, count(*) AS n FROM sessions.meter_values"
                " WHERE transaction_id = ANY($1::int[]) AND source = 'MeterValues'"
                " GROUP BY transaction_id",
                list(acked),
            )
            stored = {r["transaction_id"]: r["n"] for r in rows}
            short = {t: n - stored.get(t, 0) for t, n in acked.items() if stored.get(t, 0) < n}
            # A stop answered while its owner was behind is stored once the owner gets to it
            # (docs/ARCHITECTURE.md, "Decisions first"): it settles like the meter rows.
            rows = await conn.fetch(
                "SELECT id, charge_point_id, meter_start, meter_stop, energy_wh"
                " FROM sessions.transactions WHERE id = ANY($1::int[])",
                list(ended),
            )
            seen = {r["id"]: r for r in rows}
            unsettled = [t for t in ended if t not in seen or seen[t]["meter_stop"] is None]
            if (not short and not unsettled) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        result.meter_rows_missing = sum(short.values())
        result.problems += [
            f"transaction {t}: {n} acknowledged meter rows not stored"
            for t, n in list(short.items())[:3]
        ]
        for tid, tx in ended.items():
            row = seen.get(tid)
            if row is None:
                result.transactions_missing += 1
                result.problems.append(f"transaction {tid} of {tx.cp_id} is not stored")
            elif (row["charge_point_id"], row["meter_start"], row["meter_stop"]) != (
                tx.cp_id,
                tx.meter_start,
                tx.meter_stop,
            ) or row["energy_wh"] != tx.meter_stop - tx.meter_start:  # type: ignore[operator]
                result.transactions_wrong += 1
                result.problems.append(f"transaction {tid}: stored {dict(row)}, CP says {tx}")
        result.commands_stuck = int(
            await conn.fetchval(
                "SELECT count(*) FROM commands.commands WHERE status = 'pending'"
                " AND created_at < now() - make_interval(secs => timeout_seconds + 90)"
            )
        )
    finally:
        await conn.close()
    return result


async def drained(dsn: str, rabbit: PrivateRabbit, timeout: float) -> tuple[float, list[str]]:
    """Wait until every outbox is empty and no queue but the dead-letter queues holds a
    message; (seconds, what still holds messages). Dead letters: `dead_letters`."""
    started = time.monotonic()
    left: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() - started < timeout:
            left = []
            for schema in SERVICE_SCHEMAS:
                n = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox")
                if n:
                    left.append(f"{schema}.outbox {n}")
            left += [
                f"queue {name} {n}"
                for name, n in (await queue_depths(rabbit)).items()
                if n and not name.endswith(".dead")
            ]
            if not left:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return time.monotonic() - started, left


async def queue_depths(rabbit: PrivateRabbit) -> dict[str, int]:
    """Messages in every queue of the node's default vhost."""
    listing = await asyncio.to_thread(
        rabbit.ctl, "list_queues", "-q", "--no-table-headers", "name", "messages"
    )
    depths = {}
    for line in listing.splitlines():
        name, _, count = line.rpartition("\t")
        if name and count.strip().isdigit():
            depths[name] = int(count)
    return depths


async def dead_letters(rabbit: PrivateRabbit, limit: int = 20) -> list[str]:
    """What the dead-letter queues hold, each message in a line: queue, routing key, CP,
    why and how often it died (x-death), the start of its body. Read and put back."""
    found: list[str] = []
    dead = [
        name for name, n in (await queue_depths(rabbit)).items() if n and name.endswith(".dead")
    ]
    if not dead:
        return found
    connection = await aio_pika.connect(rabbit.url)
    try:
        channel = await connection.channel()
        for name in dead:
            queue = await channel.get_queue(name, ensure=False)
            taken = []
            for _ in range(limit):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                taken.append(message)
                deaths = message.headers.get("x-death") or []
                why = "; ".join(
                    f"{d.get('reason')} from {d.get('queue')} x{d.get('count')}"
                    for d in deaths
                    if isinstance(d, dict)
                )
                found.append(
                    f"{name}: {message.routing_key} cp={message.headers.get('x-charge-point-id')}"
                    f" bundle={message.headers.get('x-ocpp-bundle')}"
                    f" delivery-count={message.headers.get('x-delivery-count')} ({why})"
                    f" {message.body[:160]!r}"
                )
            for message in taken:
                await message.nack(requeue=True)
    finally:
        await connection.close()
    return found
