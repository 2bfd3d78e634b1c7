"""Issue 35's allocation latency: stations on sites, and the time from an event (a session's
start, a site's new limit) until every station of its site that gets a new limit because of
it has answered it.

Half the stations speak 1.6, half 2.0.1 (every site has both); each site has one connection
limit (three-phase) and its stations at 32 A max, 6 A min, one EVSE each. The stations answer
every SetChargingProfile Accepted at once and keep its arrival time
(`allocation_watch.ProfileLog`). Placed site by site over REST (`PUT
/charge-points/{id}/site`), the stations first get their failsafe shares; once every EVSE has
acknowledged one and nothing is in flight, the events are measured, at `SITE_AMPS` (idle EVSEs
hold 0 A) and then at `WIDE_AMPS` (idle EVSEs hold a standby limit, lowered at every start):

- sessions started one at a time (StartTransaction, or TransactionEvent Started, then the
  connector's status), round robin over the sites;
- one start on every site at the same moment (the rounds of different sites at once);
- each site's limit lowered by `PATCH /sites/{id}` to 4/5, one site at a time, then raised
  back (and, between the two, raised from `SITE_AMPS` to `WIDE_AMPS`).

An event's latency ends at the last profile its site received before it settled (the
load-manager has no limit in flight to any of its EVSEs: the last answer handled; a raise
that waited for reductions is in flight from the round that handled the last of them).
The load-manager's CPU per round is its CPU over the events divided by its rounds: the
events it handled (each a round of a site: starts, statuses, answers) plus the timer's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.support import metric

from .allocation_watch import Figures, Outcome, ProfileLog, SiteWatch, measure
from .context import Bench, own_pid
from .cp import CallFailed, SimChargePoint
from .fleet import SimFleet
from .fleet201 import SimFleet201
from .procs import CpuWatch, cpu_seconds
from .report import Row, num
from .stats import Summary
from .suite import BenchSuite

MAX_CURRENT, MIN_CURRENT = 32, 6
# Each site's connection, A per phase: at 100 A the 50 idle EVSEs' standby share (2 A) is under
# their minimum, so they hold 0 A and a start sends one raise; at 600 A they hold 12 A, and a
# start lowers every idle EVSE of the site before the session's raise leaves. Each limit is
# lowered to 4/5 and raised back.
SITE_AMPS = 100
WIDE_AMPS = 600
SETTLE_TIMEOUT = 900.0  # the failsafe shares' settling after placement, at most
PLACE_ATTEMPTS = 5
TIMER_INTERVAL = 10.0  # LOADS_ALLOCATION_INTERVAL, shipped
SCENARIO = "Allocation"


class Sites:
    """The bench's sites and their stations (1.6 and 2.0.1 alternating within each site)."""

    def __init__(self, v16: SimFleet, v201: SimFleet201, sites: int, per_site: int) -> None:
        self.fleets = (v16, v201)
        self.ids: list[int] = []
        mixed = [cp for pair in zip(v16.cps, v201.cps, strict=True) for cp in pair]
        self.members = [mixed[i * per_site : (i + 1) * per_site] for i in range(sites)]
        self.fleet_of = {cp.cp_id: v16 for cp in v16.cps} | {cp.cp_id: v201 for cp in v201.cps}

    def fleet(self, cp: SimChargePoint) -> SimFleet:
        """The fleet (1.6 or 2.0.1) a station is of."""
        return self.fleet_of[cp.cp_id]


async def _api_call(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    answer = await api.request(method, path, json=body)
    if answer.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
    result: dict[str, Any] = answer.json()
    return result


@dataclass(slots=True)
class Placement:
    """How the placements went: each PUT's time, and the 503s retried."""

    seconds: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)


async def _place(api: httpx.AsyncClient, sites: Sites, amps: int) -> Placement:
    """Create the sites, then put each site's stations on it one after the other (the sites
    side by side). A 503 (the load-manager's RPC did not answer in time) is retried: the
    placement is an upsert."""
    for n in range(len(sites.members)):
        site = await _api_call(
            api, "POST", "/sites", {"name": f"bench-site-{n:02d}", "limitAmps": [amps] * 3}
        )
        sites.ids.append(int(site["id"]))
    placement = Placement()
    body = {"maxCurrent": MAX_CURRENT, "minCurrent": MIN_CURRENT}

    async def fill(site_id: int, members: list[SimChargePoint]) -> None:
        for cp in members:
            path = f"/charge-points/{cp.cp_id}/site"
            for _ in range(PLACE_ATTEMPTS):
                started = time.monotonic()
                answer = await api.put(path, json=body | {"nodeId": site_id})
                placement.seconds.append(time.monotonic() - started)
                if answer.status_code != 503:
                    break
                placement.refused[answer.json().get("detail", "")[:80]] += 1
            if answer.status_code != 200:
                raise RuntimeError(f"PUT {path}: {answer.status_code} {answer.text[:300]}")

    await asyncio.gather(*(fill(i, m) for i, m in zip(sites.ids, sites.members, strict=True)))
    return placement


async def _settle(
    log: ProfileLog, watch: SiteWatch, sites: Sites, timeout: float, quiet: float = 3.0
) -> float:
    """Wait until every station has a limit acknowledged, none is in flight and no profile
    came for `quiet` s; seconds taken, -1 if not within `timeout`."""
    started = time.monotonic()
    stations = sum(len(m) for m in sites.members)
    while time.monotonic() - started < timeout:
        await asyncio.sleep(0.25)
        counts = (await watch.counts(sites.ids)).values()
        in_flight = sum(c[0] for c in counts)
        applied = sum(c[1] for c in counts)
        if in_flight or applied < stations or time.monotonic() - log.last() < quiet:
            continue
        return max(log.last(), started) - started
    return -1.0


class LoadManagerCpu:
    """The load-manager's CPU seconds and the events it handled, between two readings."""

    def __init__(self, suite: BenchSuite) -> None:
        self.pid = suite.pid(suite.suite.services["load-manager"])
        self.port = suite.suite.internal_ports["load-manager"]

    async def read(self) -> tuple[float, float, float, float, float]:
        """(monotonic now, CPU s, events handled, answers handled in groups, such groups)."""
        group = "csms_group_calls"
        return (
            time.monotonic(),
            cpu_seconds(self.pid),
            await metric(self.port, "csms_messages_handled_total", kind="event"),
            await metric(self.port, f"{group}_sum", action="command.completed"),
            await metric(self.port, f"{group}_count", action="command.completed"),
        )


async def _start(sites: Sites, cp: SimChargePoint) -> None:
    """A session on the station's EVSE 1, and the connector's status after it."""
    fleet = sites.fleet(cp)
    await fleet.start_transaction(cp, authorize=False)
    await fleet.status(cp, "Occupied" if isinstance(fleet, SimFleet201) else "Charging")


async def _series(
    bench: Bench,
    label: str,
    events: list[tuple[int, Callable[[], Awaitable[object]]]],
    log: ProfileLog,
    watch: SiteWatch,
    at_once: bool = False,
) -> Figures:
    """Measure `events` (site, send) one after the other, or all at the same moment."""
    outcomes: list[Outcome]
    if at_once:
        outcomes = list(
            await asyncio.gather(*(measure(log, watch, site, send) for site, send in events))
        )
    else:
        outcomes = [await measure(log, watch, site, send) for site, send in events]
    figures = Figures.of(outcomes)
    s = figures.latency
    bench.log(
        f"  {label}: {figures.events} events, p50 {s.p50:.0f} p95 {s.p95:.0f} max {s.max:.0f}"
        f" ms; profiles {figures.profiles_cell()}; not settled {figures.unsettled}"
    )
    return figures


def _row(measure: str, figures: Figures, more: str = "") -> Row:
    met = "-" if not figures.unsettled else f"{figures.unsettled} did not settle"
    return Row(
        SCENARIO,
        f"{measure}: p50 / p95 / max (ms), n={figures.latency.count}",
        figures.latency_cell(),
        f"profiles {figures.profiles_cell()}{more}",
        met=met,
    )


async def allocation(bench: Bench, suite: BenchSuite) -> None:
    """Place the stations, let the failsafe shares settle, measure the events."""
    p = bench.profile
    n_sites, per_site = p.allocation_sites, p.allocation_per_site
    half = n_sites * per_site // 2
    v16 = SimFleet(suite.gateway_urls, half, prefix="AL16", per_address=32)
    v201 = SimFleet201(suite.gateway_urls, half, prefix="AL21", per_address=32)
    sites = Sites(v16, v201, n_sites, per_site)
    log, watch = ProfileLog(), SiteWatch(suite.dsn)
    for cp in [*v16.cps, *v201.cps]:
        log.attach(cp)
    headers = {"Authorization": f"Bearer {suite.admin_key}"}
    api = httpx.AsyncClient(base_url=suite.api_url, headers=headers, timeout=60)
    try:
        for fleet in (v16, v201):
            _, failed = await fleet.connect_all(concurrency=200)
            if failed:
                raise RuntimeError(f"{failed} of the allocation fleet's stations did not connect")
        bench.log(f"allocation: {2 * half} stations (1.6 and 2.0.1) connected and booted")
        await suite.settle(p.drain_timeout * 2)
        cpu = LoadManagerCpu(suite)
        before = await cpu.read()
        started = time.monotonic()
        placement = await _place(api, sites, SITE_AMPS)
        placed = time.monotonic() - started
        puts = Summary.of(placement.seconds)
        refused = sum(placement.refused.values())
        bench.log(
            f"  PUT .../site: p50 {puts.p50:.0f} p95 {puts.p95:.0f} max {puts.max:.0f} ms;"
            f" {refused} answered 503 and retried: {dict(placement.refused)}"
        )
        for site_id, members in zip(sites.ids, sites.members, strict=True):
            log.site_of.update((cp.cp_id, site_id) for cp in members)
        settled = await _settle(log, watch, sites, SETTLE_TIMEOUT)
        if settled < 0:
            raise RuntimeError("the failsafe allocation did not settle")
        after = await cpu.read()
        sent, used, handled = log.total(), after[1] - before[1], after[2] - before[2]
        bench.log(
            f"  placed {2 * half} stations on {n_sites} sites in {placed:.1f} s; the failsafe"
            f" shares settled {settled:.1f} s after the last placement; {sent} profiles"
        )
        bench.add(
            Row(
                SCENARIO,
                f"place {num(2 * half)} stations on {n_sites} sites ({SITE_AMPS} A):"
                " placing / settled after (s)",
                f"{placed:.1f} / {settled:.1f}",
                f"{num(sent)} profiles, {sent / (2 * half):.1f} per station;"
                f" load-manager {used:.0f} CPU s, {handled:,.0f} events",
            )
        )
        bench.add(
            Row(
                SCENARIO,
                f"PUT /charge-points/{{id}}/site, {n_sites} sites side by side:"
                " p50 / p95 / max (ms)",
                f"{puts.p50:,.0f} / {puts.p95:,.0f} / {puts.max:,.0f}",
                f"{refused} of {puts.count} answered 503 (RPC timeout), retried",
            )
        )
        await _events(bench, suite, sites, log, watch)
    finally:
        await api.aclose()
        await watch.close()
        for fleet in (v16, v201):
            await fleet.close()


class Events:
    """The measured events of one run, and the CPU the load-manager spent on them."""

    def __init__(
        self, bench: Bench, suite: BenchSuite, sites: Sites, log: ProfileLog, watch: SiteWatch
    ) -> None:
        self.bench, self.suite, self.sites, self.log, self.watch = bench, suite, sites, log, watch
        self.pairs = list(zip(sites.ids, sites.members, strict=True))
        self.next_start = 0  # each site's next station without a session

    def start(self, cp: SimChargePoint) -> Callable[[], Awaitable[object]]:
        """A session's start on `cp`, as an event to measure."""
        return lambda: _start(self.sites, cp)

    async def starts(self, label: str, rounds: int, at_once: bool = False) -> None:
        """`rounds` starts on every site, one event at a time (round robin over the sites),
        or one on every site at the same moment."""
        first, self.next_start = self.next_start, self.next_start + rounds
        events = [
            (site, self.start(members[first + r]))
            for r in range(rounds)
            for site, members in self.pairs
        ]
        if not at_once:
            figures = await _series(self.bench, label, events, self.log, self.watch)
            self.bench.add(_row(label, figures))
            return
        # Where the time of the starts at once goes: each process's share of a core.
        cpu = CpuWatch(await self.suite.cpu_groups() | {"client": own_pid()})
        figures = await _series(self.bench, label, events, self.log, self.watch, at_once)
        cpu.stop(await self.suite.cpu_groups() | {"client": own_pid()})
        busy = sorted(cpu.used.items(), key=lambda item: -item[1])
        shares = ", ".join(f"{name} {used / cpu.wall:.0%}" for name, used in busy[:5])
        self.bench.log(f"  {label}: cores used over {cpu.wall:.1f} s: {shares}")
        self.bench.add(_row(label, figures, f"; busiest: {shares}"))

    async def limits(self, api: httpx.AsyncClient, before: int, after: int) -> None:
        """Every site's limit from `before` to `after` A, one site at a time."""

        def patch(site_id: int) -> Callable[[], Awaitable[object]]:
            body = {"limitAmps": [after] * 3}
            return lambda: _api_call(api, "PATCH", f"/sites/{site_id}", body)

        label = f"site limit {before} -> {after} A (PATCH)"
        events = [(site, patch(site)) for site in self.sites.ids]
        self.bench.add(_row(label, await _series(self.bench, label, events, self.log, self.watch)))

    async def run(self, api: httpx.AsyncClient) -> None:
        """At `SITE_AMPS`, then at `WIDE_AMPS` (standby limits for every idle EVSE)."""
        p = self.bench.profile
        per_site = len(self.pairs)
        for amps, first in ((SITE_AMPS, None), (WIDE_AMPS, SITE_AMPS)):
            if first is not None:
                await self.limits(api, first, amps)
            await self.starts(f"{amps} A: session start -> profiles answered", p.allocation_starts)
            await self.starts(f"{amps} A: {per_site} starts at once, one per site", 1, True)
            await self.limits(api, amps, amps * 4 // 5)
            await self.limits(api, amps * 4 // 5, amps)


async def _events(
    bench: Bench, suite: BenchSuite, sites: Sites, log: ProfileLog, watch: SiteWatch
) -> None:
    cpu = LoadManagerCpu(suite)
    before = await cpu.read()
    headers = {"Authorization": f"Bearer {suite.admin_key}"}
    api = httpx.AsyncClient(base_url=suite.api_url, headers=headers, timeout=60)
    try:
        await Events(bench, suite, sites, log, watch).run(api)
    except CallFailed as exc:
        raise RuntimeError(f"a station's call failed: {exc}") from exc
    finally:
        await api.aclose()
    after = await cpu.read()
    wall, used, handled = (after[i] - before[i] for i in range(3))
    grouped, groups = after[3] - before[3], after[4] - before[4]
    timer_rounds = len(sites.ids) * int(wall / TIMER_INTERVAL)
    rounds = handled + timer_rounds
    bench.log(
        f"  load-manager: {used:.1f} CPU s over {wall:.0f} s, {handled:.0f} events handled,"
        f" ~{timer_rounds} timer rounds; {grouped:.0f} answers in {groups:.0f} groups"
    )
    bench.add(
        Row(
            SCENARIO,
            "load-manager CPU per round (ms); answers per group transaction",
            f"{used / max(rounds, 1) * 1000:.1f}; {grouped / max(groups, 1):.1f}",
            f"{rounds:,.0f} rounds ({handled:,.0f} events + ~{timer_rounds} timer),"
            f" {used:.0f} CPU s in {wall:.0f} s",
        )
    )
