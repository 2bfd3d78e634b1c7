"""What the allocation bench watches: the SetChargingProfiles its stations receive (each
answered Accepted at once, its arrival time kept), and when a site has settled (the
load-manager has no limit in flight to any of its EVSEs)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from .cp import Responder, SimChargePoint
from .stats import Summary

SET_CHARGING_PROFILE = "SetChargingProfile"


def profile_limit(payload: dict[str, Any]) -> Decimal | None:
    """The first period's limit of a SetChargingProfile, 1.6 or 2.0.1 (None: not one)."""
    profile = payload.get("csChargingProfiles") or payload.get("chargingProfile")
    if not isinstance(profile, dict):
        return None
    schedule = profile.get("chargingSchedule")
    schedule = schedule[0] if isinstance(schedule, list) and schedule else schedule
    if not isinstance(schedule, dict):
        return None
    periods = schedule.get("chargingSchedulePeriod") or []
    return Decimal(str(periods[0]["limit"])) if periods else None


@dataclass(frozen=True, slots=True)
class Received:
    """One SetChargingProfile as a station saw it (monotonic seconds)."""

    at: float
    cp_id: str
    limit: Decimal | None


@dataclass(slots=True)
class ProfileLog:
    """Every SetChargingProfile the bench's stations received, by site."""

    site_of: dict[str, int] = field(default_factory=dict)
    by_site: defaultdict[int, list[Received]] = field(default_factory=lambda: defaultdict(list))
    per_cp: Counter[str] = field(default_factory=Counter)

    def attach(self, cp: SimChargePoint) -> None:
        """Have `cp` record the SetChargingProfiles it gets; it answers them Accepted, and
        everything else as it did."""
        base = cp.responder
        assert base is not None, "the allocation bench's stations answer commands"
        cp.responder = self._responder(cp.cp_id, base)

    def _responder(self, cp_id: str, base: Responder) -> Responder:
        async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
            if action == SET_CHARGING_PROFILE:
                received = Received(time.monotonic(), cp_id, profile_limit(payload))
                self.per_cp[cp_id] += 1
                self.by_site[self.site_of.get(cp_id, -1)].append(received)
                return {"status": "Accepted"}
            return await base(action, payload)

        return answer

    def since(self, site_id: int, started: float) -> list[Received]:
        """The site's profiles received at or after `started`."""
        return [r for r in self.by_site[site_id] if r.at >= started]

    def total(self) -> int:
        """Every profile received so far."""
        return sum(self.per_cp.values())

    def last(self) -> float:
        """When the newest profile arrived (0: none yet)."""
        return max((r[-1].at for r in self.by_site.values() if r), default=0.0)


IN_FLIGHT = """
SELECT s.site_id, count(a.in_flight) AS in_flight, count(a.applied) AS applied,
       count(*) AS evses
FROM loads.stations s LEFT JOIN loads.evse_allocations a USING (charge_point_id)
WHERE s.site_id = ANY($1::bigint[])
GROUP BY s.site_id
"""


class SiteWatch:
    """The load-manager's view of the bench's sites, read from schema `loads`."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._db: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def counts(self, site_ids: list[int]) -> dict[int, tuple[int, int, int]]:
        """Per site: (EVSEs with a limit in flight, with one acknowledged, EVSE rows)."""
        async with self._lock:
            if self._db is None or self._db.is_closed():
                self._db = await asyncpg.connect(self.dsn)
            rows = await self._db.fetch(IN_FLIGHT, site_ids)
        return {r["site_id"]: (r["in_flight"], r["applied"], r["evses"]) for r in rows}

    async def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            await self._db.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    """One event's measure: from its send to the last profile of its site answered."""

    site_id: int
    seconds: float | None  # None: no profile followed within the wait
    first: float | None  # to the first profile the site received
    profiles: int
    settled: bool  # the site had nothing in flight afterwards (else the wait ran out)


async def measure(
    log: ProfileLog,
    watch: SiteWatch,
    site_id: int,
    send: Callable[[], Awaitable[object]],
    *,
    timeout: float = 120.0,
    none_after: float = 60.0,
) -> Outcome:
    """Send one event and wait until its site has received a profile since and has nothing
    in flight (the last answer handled: a raise waiting for reductions is in flight as soon
    as they are all answered, in the round that handled the last one), at most `timeout` s;
    an event no profile follows within `none_after` s counts as sending none."""
    started = time.monotonic()
    await send()
    settled = False
    for _ in range(int(timeout / 0.05) + 1):
        await asyncio.sleep(0.05)
        waited = time.monotonic() - started
        got = log.since(site_id, started)
        if not got and waited >= none_after:
            settled = True
            break
        if got and (await watch.counts([site_id])).get(site_id, (1, 0, 0))[0] == 0:
            settled = True
            break
        if waited > timeout:
            break
    got = log.since(site_id, started)
    seconds = max(r.at for r in got) - started if got else None
    first = min(r.at for r in got) - started if got else None
    return Outcome(site_id, seconds, first, len(got), settled)


@dataclass(frozen=True, slots=True)
class Figures:
    """Latency and profiles per event of a series of events."""

    latency: Summary
    first: Summary  # to the site's first profile
    events: int
    silent: int  # events no profile followed
    unsettled: int  # events whose site did not settle in time
    profiles: list[int]

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Figures:
        """The figures of `outcomes`."""
        seconds = [o.seconds for o in outcomes if o.seconds is not None]
        return cls(
            Summary.of(seconds),
            Summary.of([o.first for o in outcomes if o.first is not None]),
            len(outcomes),
            sum(o.seconds is None for o in outcomes),
            sum(not o.settled for o in outcomes),
            sorted(o.profiles for o in outcomes),
        )

    def latency_cell(self) -> str:
        """`p50 / p95 / max` in ms."""
        s = self.latency
        return f"{s.p50:,.0f} / {s.p95:,.0f} / {s.max:,.0f}"

    def profiles_cell(self) -> str:
        """Profiles per event: median and range, and the events without any."""
        p = self.profiles
        if not p:
            return "no events"
        cell = f"{p[len(p) // 2]} per event ({p[0]}-{p[-1]}), first in {self.first.p50:,.0f} ms"
        if self.silent:
            cell += f", {self.silent} without"
        return cell
