"""The fleet simulator: N charge points over the gateways, booting, beating and charging.

Each CP boots, reports its connector, sends Heartbeat every H seconds and runs charging
sessions (Authorize, StartTransaction, MeterValues every M seconds, StopTransaction) at a
configured rate; it answers the central system's commands. Transaction messages are delivered
as a real CP delivers them: when the connection drops they wait, the CP reconnects (to the next
gateway, as a load balancer would send it) and re-sends them. At the end `verify` checks that
every transaction is in the database exactly once with the right energy.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from .cp import CallFailed, SimChargePoint, source_address
from .stats import Stats

SAMPLES_PER_METER_VALUES = 2  # energy register and power, one row each in sessions.meter_values


def ocpp_now() -> str:
    """The current UTC time as OCPP wants it: RFC 3339 with a Z, microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class Behaviour:
    """What a CP does while it lives: its rates, in seconds between messages (0: never)."""

    heartbeat: float = 0.0
    meter_interval: float = 0.0
    sessions_per_hour: float = 0.0
    session_seconds: float = 60.0


@dataclass(slots=True)
class Transaction:
    """A transaction the fleet started, as the CP knows it."""

    transaction_id: int
    cp_id: str
    id_tag: str
    meter_start: int
    meter_stop: int | None = None
    meter_values: int = 0  # MeterValues messages the central system acknowledged


@dataclass(slots=True)
class Verification:
    """What the database holds of the fleet's transactions and meter values."""

    started: int
    in_db: int
    missing: int
    duplicates: int
    wrong: int
    open: int
    meter_rows_acked: int
    meter_rows_in_db: int
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Transactions missing or wrong, plus acknowledged meter rows not in the DB."""
        return (
            self.missing
            + self.wrong
            + self.duplicates
            + max(0, self.meter_rows_acked - self.meter_rows_in_db)
        )

    def line(self) -> str:
        """One summary line."""
        return (
            f"transactions {self.in_db}/{self.started} in DB, missing {self.missing}, "
            f"duplicates {self.duplicates}, wrong energy {self.wrong}, still open {self.open}; "
            f"meter rows {self.meter_rows_in_db} in DB / {self.meter_rows_acked} acknowledged"
        )


class SimFleet:
    """The charge points of one simulation and everything they did."""

    def __init__(
        self,
        gateways: Sequence[str],
        count: int,
        *,
        prefix: str = "SIM",
        stats: Stats | None = None,
        per_address: int = 64,
        call_timeout: float = 30.0,
        answer_commands: bool = True,
        seed: int = 7,
    ) -> None:
        self.gateways = list(gateways)
        self.stats = stats or Stats()
        self.call_timeout = call_timeout
        self.cps = [
            SimChargePoint(f"{prefix}-{i:05d}", self.stats, source=source_address(i, per_address))
            for i in range(count)
        ]
        if not answer_commands:
            for cp in self.cps:
                cp.responder = None
        self.transactions: dict[int, Transaction] = {}
        self.resends = 0
        self.auto_reconnect = False
        self.reconnect_deadline = 0.0
        self.reconnect_failures = 0
        self.connect_retries = 0
        self._rng = random.Random(seed)
        for i, cp in enumerate(self.cps):
            cp.state.update(gateway=i % len(self.gateways), energy=1_000 * i, tx=None, booted=0.0)
            cp.on_close = self._lost

    # -- connecting ------------------------------------------------------------------------

    async def boot(self, cp: SimChargePoint) -> None:
        """BootNotification and the connector's status, as a CP does after connecting."""
        await cp.call(
            "BootNotification",
            {
                "chargePointVendor": "BenchCo",
                "chargePointModel": "Sim-1",
                "chargePointSerialNumber": cp.cp_id[-25:],
                "firmwareVersion": "1.0.0",
            },
            self.call_timeout,
        )
        status = "Charging" if cp.state["tx"] is not None else "Available"
        await cp.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": status},
            self.call_timeout,
        )
        cp.state["booted"] = time.monotonic()

    async def connect_one(self, cp: SimChargePoint, gateway: int | None = None) -> None:
        """Connect to its gateway (or `gateway`) and boot; raises CallFailed."""
        if gateway is not None:
            cp.state["gateway"] = gateway
        await cp.connect(self.gateways[cp.state["gateway"]])
        await self.boot(cp)

    async def connect_all(
        self,
        concurrency: int = 500,
        gateway: int | None = None,
        cps: Sequence[SimChargePoint] | None = None,
        attempts: int = 5,
    ) -> tuple[float, int]:
        """Connect and boot CPs, `concurrency` at a time, retrying with backoff as CPs do.

        Returns (seconds until the last CP booted, CPs that never made it).
        """
        gate = asyncio.Semaphore(concurrency)
        failed = 0

        async def one(cp: SimChargePoint) -> None:
            nonlocal failed
            for attempt in range(attempts):
                async with gate:
                    try:
                        await self.connect_one(cp, gateway)
                        return
                    except CallFailed:
                        self.connect_retries += 1
                        await cp.close()
                await asyncio.sleep(0.5 * 2**attempt * (0.5 + self._rng.random()))
            failed += 1

        started = time.monotonic()
        await asyncio.gather(*(one(cp) for cp in (cps or self.cps)))
        return time.monotonic() - started, failed

    def _lost(self, cp: SimChargePoint) -> None:
        cp.state["lost_at"] = time.monotonic()
        if self.auto_reconnect:
            self._reconnect_task(cp)

    def _reconnect_task(self, cp: SimChargePoint) -> asyncio.Task[None]:
        task: asyncio.Task[None] | None = cp.state.get("reconnect")
        if task is None or task.done():
            task = asyncio.create_task(self._reconnect(cp), name=f"reconnect-{cp.cp_id}")
            cp.state["reconnect"] = task
        return task

    async def _reconnect(self, cp: SimChargePoint, attempts: int = 200) -> None:
        """Reconnect as behind a load balancer: the next gateway, and the one after that only
        when this one refuses TCP; jittered backoff between attempts.

        Bounded by `attempts` and by `reconnect_deadline`; the backoff stops growing at 5 s.
        """
        gateway = (cp.state["gateway"] + 1) % len(self.gateways)
        for attempt in range(attempts):
            if time.monotonic() > self.reconnect_deadline:
                break
            try:
                await self.connect_one(cp, gateway)
                return
            except CallFailed as exc:
                await cp.close()
                if exc.code == "ConnectionRefusedError":
                    gateway = (gateway + 1) % len(self.gateways)
            except Exception as exc:  # a CP never gives up on an unexpected error
                self.stats.error("connect", type(exc).__name__)
                await cp.close()
                await asyncio.sleep(
                    min(5.0, 0.05 * 2 ** min(attempt, 7)) * (0.5 + self._rng.random())
                )
        self.reconnect_failures += 1

    @staticmethod
    def reconnecting(cp: SimChargePoint) -> bool:
        """A reconnection of this CP is under way (connected or not, not booted yet)."""
        task: asyncio.Task[None] | None = cp.state.get("reconnect")
        return task is not None and not task.done()

    async def ensure_connected(self, cp: SimChargePoint) -> None:
        """Wait for (or start) this CP's reconnection: also one under way whose WebSocket is
        open but whose BootNotification is not answered yet (a CP sends nothing else before)."""
        if not cp.connected or self.reconnecting(cp):
            await asyncio.shield(self._reconnect_task(cp))

    async def close(self, cps: Sequence[SimChargePoint] | None = None) -> None:
        """Close every connection, or those of `cps` (no reconnecting)."""
        self.auto_reconnect = False
        cps = list(self.cps if cps is None else cps)
        for start in range(0, len(cps), 1000):
            await asyncio.gather(*(cp.close() for cp in cps[start : start + 1000]))

    # -- messages --------------------------------------------------------------------------

    async def heartbeat(self, cp: SimChargePoint) -> None:
        """One Heartbeat."""
        await cp.call("Heartbeat", {}, self.call_timeout)

    async def _deliver(self, cp: SimChargePoint, action: str, payload: dict[str, Any]) -> Any:
        """A transaction message: re-sent after timeouts, InternalErrors and reconnects until
        answered (OCPP 1.6 section 4.7: TransactionMessageAttempts), at most 20 times."""
        for attempt in range(20):
            if attempt:
                self.resends += 1
            await self.ensure_connected(cp)
            try:
                return await cp.call(action, payload, self.call_timeout)
            except CallFailed as exc:
                if exc.kind == "error" and exc.code != "InternalError":
                    raise
                if not self.auto_reconnect and exc.kind == "disconnected":
                    raise
                if exc.kind == "error":
                    # After the central system's retryAfterSeconds (an overloaded gateway
                    # says when), spread; else the CP's own retry interval.
                    wait = exc.retry_after if exc.retry_after is not None else 1.0
                    await asyncio.sleep(wait * (0.5 + self._rng.random()))
        raise CallFailed("timeout", "gave up after 20 attempts")

    async def authorize(self, cp: SimChargePoint, id_tag: str) -> None:
        """Authorize an idTag."""
        await cp.call("Authorize", {"idTag": id_tag}, self.call_timeout)

    async def start_transaction(self, cp: SimChargePoint, authorize: bool = True) -> Transaction:
        """Authorize (optional) and StartTransaction on connector 1."""
        id_tag = f"TAG{int(cp.cp_id.rsplit('-', 1)[1]) % 500:05d}"
        if authorize:
            await self.authorize(cp, id_tag)
        meter_start = cp.state["energy"]
        answer = await self._deliver(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": id_tag,
                "meterStart": meter_start,
                "timestamp": ocpp_now(),
            },
        )
        tx = Transaction(int(answer["transactionId"]), cp.cp_id, id_tag, meter_start)
        self.transactions[tx.transaction_id] = tx
        cp.state["tx"] = tx
        return tx

    async def meter_values(self, cp: SimChargePoint, reliable: bool = False) -> None:
        """One MeterValues of the open transaction: the energy register and the power."""
        tx: Transaction = cp.state["tx"]
        cp.state["energy"] += 5 + tx.meter_values % 40
        payload = {
            "connectorId": 1,
            "transactionId": tx.transaction_id,
            "meterValue": [
                {
                    "timestamp": ocpp_now(),
                    "sampledValue": [
                        {
                            "value": str(cp.state["energy"]),
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
        if reliable:
            await self._deliver(cp, "MeterValues", payload)
        else:
            await cp.call("MeterValues", payload, self.call_timeout)
        tx.meter_values += 1

    async def stop_transaction(self, cp: SimChargePoint) -> Transaction:
        """StopTransaction with the register's reading."""
        tx: Transaction = cp.state["tx"]
        cp.state["energy"] += 1
        meter_stop = cp.state["energy"]
        await self._deliver(
            cp,
            "StopTransaction",
            {
                "transactionId": tx.transaction_id,
                "idTag": tx.id_tag,
                "meterStop": meter_stop,
                "timestamp": ocpp_now(),
                "reason": "Local",
            },
        )
        tx.meter_stop = meter_stop
        cp.state["tx"] = None
        return tx

    async def status(self, cp: SimChargePoint, status: str) -> None:
        """StatusNotification of connector 1."""
        await cp.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": status},
            self.call_timeout,
        )

    async def start_all(self, cps: Sequence[SimChargePoint], concurrency: int = 100) -> None:
        """A transaction on each of `cps`, `concurrency` at a time; failures are counted in
        Stats and the CP stays without one."""
        await _each(cps, concurrency, self.start_transaction)

    async def stop_all(self, cps: Sequence[SimChargePoint], concurrency: int = 100) -> None:
        """Stop the open transaction of each of `cps` that has one, `concurrency` at a time."""
        charging = [cp for cp in cps if cp.state["tx"] is not None]
        await _each(charging, concurrency, self.stop_transaction)

    # -- living ----------------------------------------------------------------------------

    async def live(self, cp: SimChargePoint, behaviour: Behaviour, seconds: float) -> None:
        """Run one CP's day for `seconds`: heartbeats, sessions, meter values; bounded."""
        loop = asyncio.get_running_loop()
        rng = random.Random(cp.cp_id)
        now = loop.time()
        end = now + seconds
        inf = math.inf
        hb_due = now + rng.uniform(0, behaviour.heartbeat) if behaviour.heartbeat else inf
        per_second = behaviour.sessions_per_hour / 3600
        session_due = now + rng.expovariate(per_second) if per_second else inf
        mv_due = stop_due = inf
        if cp.state["tx"] is not None:
            mv_due = now + (behaviour.meter_interval or inf)
            stop_due = now + behaviour.session_seconds
        steps = int(seconds * 50) + 100
        for _ in range(steps):
            now = loop.time()
            if now >= end:
                break
            try:
                if not cp.connected or self.reconnecting(cp):
                    await self.ensure_connected(cp)
                    continue
                if cp.state["tx"] is None and now >= session_due:
                    await self.start_transaction(cp)
                    await self.status(cp, "Charging")
                    session_due = inf
                    mv_due = now + (behaviour.meter_interval or inf)
                    stop_due = now + behaviour.session_seconds
                elif cp.state["tx"] is not None and now >= stop_due:
                    await self.stop_transaction(cp)
                    await self.status(cp, "Available")
                    mv_due = stop_due = inf
                    session_due = now + (rng.expovariate(per_second) if per_second else inf)
                elif cp.state["tx"] is not None and now >= mv_due:
                    await self.meter_values(cp, reliable=True)
                    mv_due = max(mv_due + behaviour.meter_interval, now)
                elif now >= hb_due:
                    await self.heartbeat(cp)
                    hb_due = max(hb_due + behaviour.heartbeat, now)
                else:
                    wake = min(hb_due, session_due, mv_due, stop_due, end)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(cp.closed.wait(), wake - now)
            except CallFailed:
                await asyncio.sleep(0.05)  # counted in Stats; a CP carries on

    # -- checking --------------------------------------------------------------------------

    async def verify(self, dsn: str, settle: float = 60.0) -> Verification:
        """Compare the DB with what the fleet did, waiting up to `settle` s for meter values
        and stops (a stop answered while its owner was behind is stored after its answer)."""
        ours = self.transactions
        cp_ids = sorted({cp.cp_id for cp in self.cps})
        acked_rows = sum(tx.meter_values for tx in ours.values()) * SAMPLES_PER_METER_VALUES
        stopped = [tid for tid, tx in ours.items() if tx.meter_stop is not None]
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + settle
            meter_rows = 0
            for _ in range(int(settle / 0.25) + 1):
                meter_rows = await conn.fetchval(
                    "SELECT count(*) FROM sessions.meter_values"
                    " WHERE transaction_id = ANY($1::int[]) AND source = 'MeterValues'",
                    list(ours),
                )
                stops = await conn.fetchval(
                    "SELECT count(*) FROM sessions.transactions"
                    " WHERE id = ANY($1::int[]) AND meter_stop IS NOT NULL",
                    stopped,
                )
                settled = meter_rows >= acked_rows and stops >= len(stopped)
                if settled or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            rows = await conn.fetch(
                "SELECT id, charge_point_id, meter_start, meter_stop, energy_wh"
                " FROM sessions.transactions WHERE charge_point_id = ANY($1::text[])",
                cp_ids,
            )
        finally:
            await conn.close()
        seen: dict[int, Any] = {r["id"]: r for r in rows}
        problems: list[str] = []
        missing = wrong = open_ = 0
        for tx in ours.values():
            row = seen.get(tx.transaction_id)
            if row is None:
                missing += 1
                problems.append(f"transaction {tx.transaction_id} of {tx.cp_id} is not in the DB")
                continue
            expected_energy = None if tx.meter_stop is None else tx.meter_stop - tx.meter_start
            if (
                row["charge_point_id"] != tx.cp_id
                or row["meter_start"] != tx.meter_start
                or row["meter_stop"] != tx.meter_stop
                or row["energy_wh"] != expected_energy
            ):
                wrong += 1
                problems.append(f"transaction {tx.transaction_id}: {dict(row)} vs {tx}")
            if tx.meter_stop is None:
                open_ += 1
        extra = [r for r in rows if r["id"] not in ours]
        problems += [f"unexpected transaction row {dict(r)}" for r in extra[:5]]
        return Verification(
            started=len(ours),
            in_db=len(ours) - missing,
            missing=missing,
            duplicates=len(extra),
            wrong=wrong,
            open=open_,
            meter_rows_acked=acked_rows,
            meter_rows_in_db=int(meter_rows),
            problems=problems[:10],
        )


async def _each(
    cps: Sequence[SimChargePoint],
    concurrency: int,
    send: Callable[[SimChargePoint], Awaitable[object]],
) -> None:
    """`send` for every CP, `concurrency` at a time; a CallFailed leaves that CP as it was."""
    gate = asyncio.Semaphore(concurrency)

    async def one(cp: SimChargePoint) -> None:
        async with gate:
            try:
                await send(cp)
            except CallFailed:
                pass

    await asyncio.gather(*(one(cp) for cp in cps))
