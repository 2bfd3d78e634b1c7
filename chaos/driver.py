"""The fleet's day under faults: charging sessions, meter values, heartbeats, commands.

Each CP runs sessions (Authorize, StartTransaction, MeterValues, StopTransaction) and
heartbeats; transaction messages are re-sent as a real CP re-sends them (SimFleet._deliver's
rules: after a timeout, an InternalError or a reconnect). An operator sends commands over REST
to connected CPs all along. `stop` ends every open session cleanly before the checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.cp import CallFailed, SimChargePoint
from bench.fleet import SimFleet


@dataclass(slots=True)
class Pace:
    """Seconds between a CP's messages and how long a session lasts, in meter values."""

    interval: float = 5.0
    meter_values_per_session: int = 4
    session_chance: float = 0.5  # per idle tick
    heartbeat_every: int = 6  # idle ticks


@dataclass(slots=True)
class Seen:
    """What the CPs and the operator saw: failures by kind, re-sends, command outcomes."""

    errors: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)

    def snapshot(self, fleet: SimFleet) -> dict[str, int]:
        """Totals so far, to subtract from a later snapshot."""
        stats = fleet.stats
        return {
            "errors": sum(stats.errors.values()),
            "timeouts": sum(stats.timeouts.values()),
            "resends": fleet.resends,
            "commands": sum(self.commands.values()),
            "commands_ok": self.commands["200"],
        }


class Driver:
    """Runs the fleet and the operator until `stop`."""

    def __init__(self, fleet: SimFleet, api_url: str, admin_key: str, pace: Pace) -> None:
        self.fleet = fleet
        self.api_url = api_url
        self.admin_key = admin_key
        self.pace = pace
        self.seen = Seen()
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, command_rate: float) -> None:
        """Start every CP's loop and the operator."""
        for cp in self.fleet.cps:
            self._tasks.append(asyncio.create_task(self._cp(cp), name=f"drive-{cp.cp_id}"))
        self._tasks.append(asyncio.create_task(self._operator(command_rate), name="operator"))

    async def stop(self, timeout: float) -> int:
        """Stop starting sessions, close the open ones; CPs still busy after `timeout`."""
        self.stopping.set()
        done, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                self.seen.errors[f"driver:{type(task.exception()).__name__}"] += 1
        return len(pending)

    async def _tick(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _cp(self, cp: SimChargePoint) -> None:
        fleet, pace = self.fleet, self.pace
        rng = random.Random(cp.cp_id)
        await self._tick(rng.uniform(0, pace.interval))
        idle_ticks = 0
        while not self.stopping.is_set():
            try:
                if not cp.connected:
                    await fleet.ensure_connected(cp)
                    continue
                tx = cp.state["tx"]
                if tx is None and rng.random() < pace.session_chance:
                    await fleet.start_transaction(cp)
                    await fleet.status(cp, "Charging")
                elif tx is not None and tx.meter_values >= pace.meter_values_per_session:
                    await fleet.stop_transaction(cp)
                    await fleet.status(cp, "Available")
                elif tx is not None:
                    await fleet.meter_values(cp, reliable=True)
                else:
                    idle_ticks += 1
                    if idle_ticks % pace.heartbeat_every == 0:
                        await fleet.heartbeat(cp)
            except CallFailed as exc:
                self.seen.errors[f"{exc.kind}:{exc.code}"] += 1
            await self._tick(pace.interval * rng.uniform(0.8, 1.2))
        # Stopping: a session still open ends as the driver would end it.
        for _ in range(5):
            if cp.state["tx"] is None:
                return
            try:
                await fleet.stop_transaction(cp)
            except CallFailed as exc:
                self.seen.errors[f"{exc.kind}:{exc.code}"] += 1

    async def _operator(self, rate: float) -> None:
        """GetConfiguration to a random connected CP, `rate` a second, all run long."""
        if rate <= 0:
            return
        rng = random.Random(1)
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            in_flight: set[asyncio.Task[None]] = set()
            while not self.stopping.is_set():
                connected = [cp for cp in self.fleet.cps if cp.connected]
                if connected and len(in_flight) < 32:
                    cp = rng.choice(connected)
                    task = asyncio.create_task(self._command(client, cp.cp_id))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                await self._tick(1 / rate)
            if in_flight:
                await asyncio.wait(in_flight, timeout=60)

    async def _command(self, client: httpx.AsyncClient, cp_id: str) -> None:
        url = f"{self.api_url}/charge-points/{cp_id}/commands/GetConfiguration"
        try:
            response = await client.post(url, json={"key": ["HeartbeatInterval"]})
            self.seen.commands[str(response.status_code)] += 1
        except httpx.HTTPError as exc:
            self.seen.commands[type(exc).__name__] += 1
