"""What roaming (OCPI, the roaming service) costs, read against the 100,000-station peak of
docs/SCALING.md. An eMSP (the tests' OCPI platform, served on loopback) registers, pushes one
token per station and receives what the suite pushes; the fleet's stations are published in
locations of 50 EVSEs. Then:

- status changes: every station flips its connector between Charging and Available, one change
  at a time, waiting until the eMSP has the EVSE's PATCH: the changes per second carried end to
  end, the lag from the station's answer to the PATCH at the eMSP (p50/p99), and the roaming
  service's CPU per change;
- roaming sessions: every station charges once with its eMSP token (StartTransaction, a
  MeterValues, StopTransaction): the sessions per second until the eMSP has each one's Session
  at the start and at the end and its CDR, and the roaming service's CPU per session.

The peak (SCALING.md: a station's 16 Authorize/Start/Stop/StatusNotification a day, 2-3 sessions,
three times the day's average in the evening) is 100,000 x 2.5 / 86,400 x 3 = 8.7 sessions/s
and, counting a session's two status changes and as many again at other times, about 35 status
changes/s, every one of them a roaming one at most: the cores the roaming service needs then
are read from the CPU per change and per session.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.integration.ocpi_platform import PlatformDouble

from .context import Bench
from .fleet import SimFleet, ocpp_now
from .procs import CpuWatch
from .report import Row, num
from .stats import Summary
from .suite import BenchSuite

SCENARIO = "Roaming (OCPI)"
STATIONS = {"quick": 200, "full": 1000}
PER_LOCATION = 50
ROUNDS = 4  # status changes per station
PEAK_SESSIONS = 100_000 * 2.5 / 86_400 * 3
PEAK_STATUS = 4 * PEAK_SESSIONS
TIMEOUT = 120.0


def _evse(cp_id: str) -> dict[str, Any]:
    return {
        "chargePointId": cp_id,
        "evseId": 1,
        "connectors": [
            {
                "connectorId": 1,
                "standard": "IEC_62196_T2",
                "format": "SOCKET",
                "powerType": "AC_3_PHASE",
                "maxVoltage": 230,
                "maxAmperage": 32,
            }
        ],
    }


class Arrivals:
    """When the eMSP got what: the latest PATCH status per path, sessions and CDRs by id."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], asyncio.Future[float]] = {}
        self.sessions: dict[str, list[str]] = {}
        self.cdrs: set[str] = set()
        self.changed = asyncio.Event()

    def __call__(self, method: str, path: str, body: Any) -> None:
        now = time.monotonic()
        if method == "PATCH" and path.startswith("/locations/"):
            waiter = self.waiting.pop((path, str(body.get("status"))), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)
        elif path.startswith("/sessions/") and "status" in body:
            self.sessions.setdefault(path.rsplit("/", 1)[1], []).append(body["status"])
        elif path == "/cdrs":
            self.cdrs.add(str(body["id"]))
        self.changed.set()

    def expect(self, path: str, status: str) -> asyncio.Future[float]:
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[(path, status)] = waiter
        return waiter


async def _cpu(suite: BenchSuite) -> CpuWatch:
    groups = await suite.cpu_groups()
    return CpuWatch({"roaming": groups["roaming"]})


async def roaming(bench: Bench, suite: BenchSuite) -> None:
    count = STATIONS.get(bench.profile.name, 200)
    fleet = SimFleet(suite.gateway_urls, count, prefix="RM", per_address=32)
    arrivals = Arrivals()
    headers = {"Authorization": f"Bearer {suite.admin_key}"}
    api = httpx.AsyncClient(base_url=suite.api_url, headers=headers, timeout=60)
    roaming_url = suite.suite.roaming_url
    try:
        _, failed = await fleet.connect_all(concurrency=100)
        if failed:
            raise RuntimeError(f"{failed} of the roaming fleet's stations did not connect")
        invitation = (await api.post("/roaming/platforms/invitations", json={"name": "B"})).json()
        async with PlatformDouble.served() as emsp, emsp.client() as client:
            emsp.on_receive = arrivals
            ours = await emsp.register_invited(client, roaming_url, invitation["token"])
            uids = {cp.cp_id: f"B{n:07d}" for n, cp in enumerate(fleet.cps)}
            for uid in uids.values():
                await emsp.push(client, roaming_url, ours, uid)
            location_ids = []
            for start in range(0, count, PER_LOCATION):
                members = fleet.cps[start : start + PER_LOCATION]
                location_id = f"BENCH-{start // PER_LOCATION}"
                site = {
                    "address": "Benchstrasse 1",
                    "city": "Berlin",
                    "country": "DEU",
                    "coordinates": {"latitude": 52.52, "longitude": 13.405},
                    "timeZone": "Europe/Berlin",
                    "evses": [_evse(cp.cp_id) for cp in members],
                }
                put = await api.put(f"/roaming/locations/{location_id}", json=site)
                put.raise_for_status()
                location_ids.append(location_id)
            await suite.settle(bench.profile.drain_timeout)
            bench.log(f"roaming: {count} stations in {len(location_ids)} locations, tokens pushed")
            await _status_changes(bench, suite, fleet, arrivals, location_ids)
            await _sessions(bench, suite, fleet, arrivals, uids)
            await api.delete(f"/roaming/platforms/{invitation['platform']['id']}")
    finally:
        await api.aclose()
        await fleet.close()


async def _status_changes(
    bench: Bench,
    suite: BenchSuite,
    fleet: SimFleet,
    arrivals: Arrivals,
    location_ids: list[str],
) -> None:
    lags: list[float] = []

    async def flip(n: int, cp: Any) -> None:
        location = location_ids[n // PER_LOCATION]
        path = f"/locations/DE/CSM/{location}/{cp.cp_id}-1"
        for r in range(ROUNDS):
            status, ocpi = ("Charging", "CHARGING") if r % 2 == 0 else ("Available", "AVAILABLE")
            waiter = arrivals.expect(path, ocpi)
            await cp.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": status},
            )
            answered = time.monotonic()
            arrived = await asyncio.wait_for(waiter, TIMEOUT)
            lags.append(max(0.0, arrived - answered))

    cpu = await _cpu(suite)
    started = time.monotonic()
    spying = asyncio.create_task(
        bench.spy("Roaming-status", {"roaming": cpu.groups["roaming"][0]}, 8.0)
    )
    await asyncio.gather(*(flip(n, cp) for n, cp in enumerate(fleet.cps)))
    took = time.monotonic() - started
    await spying
    cpu.stop()
    changes = len(lags)
    per_change = cpu.used.get("roaming", 0.0) / max(changes, 1) * 1e6
    lag = Summary.of(lags)
    bench.log(
        f"  {changes} status changes in {took:.1f} s; lag p50 {lag.p50:.0f} p99 {lag.p99:.0f} ms;"
        f" roaming {per_change:.0f} us CPU each; other load {cpu.other:.0%}"
    )
    bench.add(
        Row(
            SCENARIO,
            f"status change -> EVSE PATCH at the eMSP, {len(fleet.cps)} stations one change at"
            " a time: changes/s, lag p50 / p99 (ms)",
            f"{num(changes / took)}/s, {lag.p50:.0f} / {lag.p99:.0f}",
            f"roaming {per_change:,.0f} us CPU per change",
            target=f"peak {PEAK_STATUS:.0f}/s at 100,000 stations",
            met=f"{PEAK_STATUS * per_change / 1e6:.2f} cores then",
        )
    )


async def _sessions(
    bench: Bench,
    suite: BenchSuite,
    fleet: SimFleet,
    arrivals: Arrivals,
    uids: dict[str, str],
) -> None:
    started_ids: list[str] = []

    async def charge(cp: Any) -> None:
        uid = uids[cp.cp_id]
        start = await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": uid, "meterStart": 0, "timestamp": ocpp_now()},
        )
        tx = start["transactionId"]
        started_ids.append(str(tx))
        await cp.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [{"timestamp": ocpp_now(), "sampledValue": [{"value": "5000"}]}],
            },
        )
        await cp.call(
            "StopTransaction",
            {"transactionId": tx, "meterStop": 7500, "timestamp": ocpp_now()},
        )

    cpu = await _cpu(suite)
    began = time.monotonic()
    await asyncio.gather(*(charge(cp) for cp in fleet.cps))
    answered = time.monotonic() - began
    deadline = time.monotonic() + TIMEOUT

    def done() -> bool:
        return all(
            "COMPLETED" in arrivals.sessions.get(tx, []) and tx in arrivals.cdrs
            for tx in started_ids
        )

    while not done() and time.monotonic() < deadline:
        arrivals.changed.clear()
        try:
            await asyncio.wait_for(arrivals.changed.wait(), 1.0)
        except TimeoutError:
            pass
    took = time.monotonic() - began
    cpu.stop()
    billed = sum(1 for tx in started_ids if tx in arrivals.cdrs)
    per_session = cpu.used.get("roaming", 0.0) / max(billed, 1) * 1e3
    bench.log(
        f"  {len(started_ids)} roaming sessions answered in {answered:.1f} s; {billed} Sessions"
        f" and CDRs at the eMSP after {took:.1f} s; roaming {per_session:.1f} ms CPU each"
    )
    if billed < len(started_ids):
        bench.notes.append(
            f"roaming: {len(started_ids) - billed} of {len(started_ids)} sessions had no CDR at"
            f" the eMSP within {TIMEOUT:.0f} s"
        )
    bench.add(
        Row(
            SCENARIO,
            f"roaming session (Start, MeterValues, Stop) -> Session PUT x2 and CDR POST at the"
            f" eMSP, {len(started_ids)} at once: sessions/s, all there after (s)",
            f"{num(billed / took, 1)}/s, {took:.1f}",
            f"roaming {per_session:,.1f} ms CPU per session",
            target=f"peak {PEAK_SESSIONS:.1f}/s at 100,000 stations",
            met=f"{PEAK_SESSIONS * per_session / 1e3:.2f} cores then",
        )
    )
