"""Webhooks behind a dead receiver (issue 45): one webhook's receiver accepts connections and
never answers while its backlog grows to 50,000 pending deliveries; another webhook, whose
receiver answers at once, must still get each event within 2 s.

A probe station sends BootNotifications one at a time (`station.booted`, the live webhook's
only event); the time from the station's answer to the live receiver's arrival is the latency,
measured first without the backlog (the same run's baseline) and then with the dead webhook's
backlog pending. The backlog is made the way a busy minute makes it: stations' StatusNotifications
(`connector.status`, the dead webhook's event) through the whole path, the follower writing them
as deliveries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from .context import Bench
from .fleet import SimFleet
from .report import Row, num
from .stats import Summary
from .suite import BenchSuite

SCENARIO = "Webhooks"
BACKLOG = 50_000
STATIONS = 500
PROBES = 20
TARGET_S = 2.0
TIMEOUT = 120.0


class _Receivers:
    """Two HTTP receivers on loopback: `live` answers 204 and notes when each event came,
    `dead` reads the request and never answers (the suite's timeout ends each attempt)."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.dead_attempts = 0
        self._hung: list[asyncio.StreamWriter] = []

    async def start(self) -> tuple[str, str]:
        self._live = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self._dead = await asyncio.start_server(self._hang, "127.0.0.1", 0)
        live = self._live.sockets[0].getsockname()[1]
        dead = self._dead.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{live}/live", f"http://127.0.0.1:{dead}/dead"

    async def close(self) -> None:
        for writer in self._hung:
            writer.close()
        self._live.close()
        self._dead.close()

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return await reader.readexactly(length)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            body = await self._read(reader)
            self.arrived.put_nowait((time.monotonic(), orjson.loads(body)))
            writer.write(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        finally:
            writer.close()

    async def _hang(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.dead_attempts += 1
        self._hung.append(writer)
        try:
            await self._read(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass


async def _probe(fleet: SimFleet, receivers: _Receivers, count: int) -> list[float]:
    """`count` BootNotifications of the probe station, one at a time: seconds from each answer
    to its `station.booted` at the live receiver."""
    probe = fleet.cps[0]
    lags: list[float] = []
    while not receivers.arrived.empty():
        receivers.arrived.get_nowait()
    for n in range(count):
        serial = f"probe-{n}-{time.monotonic_ns()}"
        boot = {"chargePointVendor": "BenchCo", "chargePointModel": "Probe"}
        await probe.call("BootNotification", boot | {"chargePointSerialNumber": serial[:25]})
        answered = time.monotonic()
        while True:
            arrived, event = await asyncio.wait_for(receivers.arrived.get(), TIMEOUT)
            if event.get("chargePointId") == probe.cp_id:
                lags.append(max(0.0, arrived - answered))
                break
    return lags


async def _pending(api: httpx.AsyncClient, webhook_id: str) -> int:
    page = await api.get(
        f"/webhooks/{webhook_id}/deliveries", params={"status": "pending", "limit": 1}
    )
    page.raise_for_status()
    return int(page.json()["total"])


async def webhooks(bench: Bench, suite: BenchSuite) -> None:
    fleet = SimFleet(suite.gateway_urls, STATIONS + 1, prefix="WH", per_address=32)
    headers = {"Authorization": f"Bearer {suite.admin_key}"}
    api = httpx.AsyncClient(base_url=suite.api_url, headers=headers, timeout=60)
    receivers = _Receivers()
    live_url, dead_url = await receivers.start()
    made: list[str] = []
    try:
        _, failed = await fleet.connect_all(concurrency=100)
        if failed:
            raise RuntimeError(f"{failed} of the webhook fleet's stations did not connect")
        secret = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQ="
        live = await api.post(
            "/webhooks", json={"url": live_url, "events": ["station.booted"], "secret": secret}
        )
        live.raise_for_status()
        made.append(live.json()["id"])
        baseline = Summary.of(await _probe(fleet, receivers, PROBES))
        bench.log(f"webhooks: live receiver alone, p50 {baseline.p50:.0f} ms")

        dead = await api.post(
            "/webhooks", json={"url": dead_url, "events": ["connector.status"], "secret": secret}
        )
        dead.raise_for_status()
        dead_id = dead.json()["id"]
        made.append(dead_id)
        per_station = BACKLOG // STATIONS + 1
        started = time.monotonic()

        async def statuses(cp: Any) -> None:
            for n in range(per_station):
                status = "Charging" if n % 2 == 0 else "Available"
                await cp.call(
                    "StatusNotification",
                    {"connectorId": 1, "errorCode": "NoError", "status": status},
                )

        await asyncio.gather(*(statuses(cp) for cp in fleet.cps[1:]))
        sent = time.monotonic() - started
        deadline = time.monotonic() + TIMEOUT
        pending = await _pending(api, dead_id)
        while pending < BACKLOG and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            pending = await _pending(api, dead_id)
        queued = time.monotonic() - started
        bench.log(
            f"  {per_station * STATIONS:,} StatusNotifications in {sent:.1f} s; {pending:,}"
            f" deliveries pending for the dead receiver after {queued:.1f} s"
        )
        behind = Summary.of(await _probe(fleet, receivers, PROBES))
        still = await _pending(api, dead_id)
        bench.log(
            f"  live receiver with {still:,} pending for the dead one: p50 {behind.p50:.0f}"
            f" p99 {behind.p99:.0f} max {behind.max:.0f} ms; dead receiver tried"
            f" {receivers.dead_attempts} times"
        )
        bench.add(
            Row(
                SCENARIO,
                f"another webhook's event, {still:,} deliveries pending for a dead receiver:"
                " station's answer -> its receiver, p50 / p99 / max (ms)",
                f"{behind.p50:.0f} / {behind.p99:.0f} / {behind.max:.0f}",
                f"{baseline.p50:.0f} / {baseline.p99:.0f} / {baseline.max:.0f} without the backlog",
                target=f"< {TARGET_S:g} s",
                met="met" if behind.max < TARGET_S * 1000 else "NOT met",
            )
        )
        bench.add(
            Row(
                SCENARIO,
                f"{per_station * STATIONS:,} StatusNotifications -> deliveries queued for the dead"
                " webhook: rows/s",
                f"{num(pending / max(queued, 1e-9))}/s",
                f"the dead receiver tried {receivers.dead_attempts} times (paused, then probed)",
            )
        )
    finally:
        for webhook_id in made:
            await api.delete(f"/webhooks/{webhook_id}")
        await api.aclose()
        await receivers.close()
        await fleet.close()
