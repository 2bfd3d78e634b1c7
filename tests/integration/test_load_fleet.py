"""Issue 35's proof, through the real suite: 50 simulated stations, half 1.6 and half 2.0.1,
one EVSE each, on a 100 A three-phase site. What they hold never adds up to more than the
limit, checked at every profile a station accepts; after every arrival and departure they
settle on their fair shares within 10 s; a station that rejects its limit is counted at the
one it kept and asked again; an offline one is counted at its last limit, then at its
maximum past the grace; and a load-manager replica killed in the middle of a burst of rounds
(the limit lowered to 60 A, sessions arriving) hands over to the other without passing it."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually, metric
from tests.integration.test_charging_profiles import received

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

STATIONS = 50
MAX, MIN = Decimal(32), Decimal(6)  # the stations' maxCurrent and minCurrent
# LOADS_ALLOCATION_PROFILE_ID (default) + the EVSE: the allocator's profile on EVSE 1.
PROFILE_ID = 1_900_000_000 + 1
# The bound: after each arrival or departure the stations settle within it.
SETTLE = 10.0
# A session's limit may sit off its fair share by the send threshold (1 A) and a step.
TOLERANCE = Decimal("1.1")
# The grace, the retry delay and the timer short enough to be seen; restored afterwards.
QUICK = {
    "LOADS_ALLOCATION_OFFLINE_GRACE": "3",
    "LOADS_ALLOCATION_RETRY_AFTER": "3",
    "LOADS_ALLOCATION_INTERVAL": "1",
}
DEFAULTS = {
    "LOADS_ALLOCATION_OFFLINE_GRACE": "300",
    "LOADS_ALLOCATION_RETRY_AFTER": "60",
    "LOADS_ALLOCATION_INTERVAL": "10",
}


def limit_of(payload: dict[str, Any]) -> Decimal:
    """The limit of one of the allocator's SetChargingProfiles, in either version."""
    profile = payload.get("csChargingProfiles") or payload["chargingProfile"]
    assert profile.get("chargingProfileId", profile.get("id")) == PROFILE_ID, profile
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    [period] = schedule["chargingSchedulePeriod"]
    return Decimal(str(period["limit"]))


def near(limits: list[Decimal | None], fair: Decimal | int) -> bool:
    """Whether every limit is its fair share, up to the send threshold."""
    return all(limit is not None and abs(limit - fair) <= TOLERANCE for limit in limits)


class Sim:
    """One simulated station: the limit it holds (the last it accepted), how it answers."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.version = "1.6" if index % 2 == 0 else "2.0.1"
        self.gateway = index // 2 % 2  # both versions on both gateways
        self.cp_id = f"LF-{uuid.uuid4().hex[:8]}-{index:02d}"
        self.tag = f"LF{uuid.uuid4().hex[:12]}"
        self.clients: list[ChargePointClient] = []
        self.held: Decimal | None = None
        self.answer = "Accepted"
        self.asked = 0  # SetChargingProfiles received
        self.transaction: Any = None
        self.arrival: int | None = None

    @property
    def client(self) -> ChargePointClient:
        return self.clients[-1]

    async def respond(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action != "SetChargingProfile":
            return {"status": "Accepted"}
        try:
            limit = limit_of(payload)
        except (AssertionError, KeyError, ValueError) as exc:  # failed at the next look
            self.fleet.violations.append(f"{self.cp_id} was sent {payload}: {exc!r}")
            raise
        self.asked += 1
        if self.answer == "Accepted":
            self.held = limit
            self.fleet.observe()
        return {"status": self.answer}

    async def connect(self, connect_cp: Any) -> None:
        client = await connect_cp(self.cp_id, self.gateway, subprotocols=[f"ocpp{self.version}"])
        client.responder = self.respond
        self.clients.append(client)

    async def start(self, arrival: int) -> None:
        at = format_datetime(utcnow())
        if self.version == "1.6":
            body = {"connectorId": 1, "idTag": self.tag, "meterStart": 0, "timestamp": at}
            answer = await self.client.call("StartTransaction", body)
            self.transaction = answer["transactionId"]
        else:
            self.transaction = f"TX-{self.cp_id}"
            answer = await self.client.call("TransactionEvent", self.event("Started", 0, at))
        info = answer.get("idTagInfo") or answer["idTokenInfo"]
        assert info["status"] == "Accepted", answer
        self.arrival = arrival

    async def stop(self) -> None:
        at = format_datetime(utcnow())
        if self.version == "1.6":
            body = {"transactionId": self.transaction, "meterStop": 1000, "timestamp": at}
            await self.client.call("StopTransaction", body)
        else:
            await self.client.call("TransactionEvent", self.event("Ended", 1, at))
        self.transaction = self.arrival = None

    def event(self, kind: str, seq: int, at: str) -> dict[str, Any]:
        """A 2.0.1 TransactionEvent of the station's transaction on EVSE 1."""
        started = kind == "Started"
        return {
            "eventType": kind,
            "timestamp": at,
            "triggerReason": "Authorized" if started else "EVDeparted",
            "seqNo": seq,
            "transactionInfo": {
                "transactionId": self.transaction,
                **(
                    {"chargingState": "Charging"}
                    if started
                    else {"stoppedReason": "EVDisconnected"}
                ),
            },
            "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": self.tag, "type": "ISO14443"},
        }


class Fleet:
    """The site's stations, checked at every profile one accepts once `bound` is set: the
    limits held (a station without one at its maximum) add up to `bound` or less.

    `bound` is set once the placements have settled: a station placed counts at its maximum
    until it holds a limit, and the first one it is sent may land before the cuts of the
    others (test_load_management.py's Fleet). Once every station holds one, the allocator
    counts each at the higher of what it holds and what is on its way, and so never lets the
    limits held pass the site's limit. While a limit is lowered, `bound` stays at the old one
    until they have settled under the new."""

    def __init__(self, api: httpx.AsyncClient, site_id: int) -> None:
        self.api = api
        self.site_id = site_id
        self.stations = [Sim(self, index) for index in range(STATIONS)]
        self.limit = Decimal(100)  # the site's limit, which a settled site holds
        self.bound: Decimal | None = None
        # The stations the allocator cannot move now, at what it should count them.
        self.fixed: dict[str, Decimal] = {}
        self.arrivals = itertools.count()
        self.violations: list[str] = []
        self.peak = Decimal(0)
        self.problems: list[str] = []
        self.times: dict[str, float] = {}

    def __iter__(self) -> Iterator[Sim]:
        return iter(self.stations)

    def total(self) -> Decimal:
        return sum((MAX if s.held is None else s.held for s in self), Decimal(0))

    def observe(self) -> None:
        if self.bound is None:
            return
        total = self.total()
        self.peak = max(self.peak, total)
        if total > self.bound:
            held = {s.cp_id: s.held for s in self if s.held}
            self.violations.append(f"{total} A held > {self.bound} A: {held}")

    async def start(self, stations: list[Sim]) -> None:
        for s in stations:
            await s.start(next(self.arrivals))

    async def settles(self, what: str, since: float) -> None:
        """Wait until the site has settled, at most SETTLE seconds after `since`."""
        loop = asyncio.get_running_loop()
        try:
            await eventually(self.settled, timeout=since + SETTLE - loop.time(), interval=0.2)
        except AssertionError:
            raise AssertionError(f"{what}: not settled in {SETTLE} s: {self.problems}") from None
        self.times[what] = round(loop.time() - since, 2)

    async def settled(self) -> bool:
        self.observe()
        assert not self.violations, self.violations[:3]
        response = await self.api.get(f"/sites/{self.site_id}/allocation")
        assert response.status_code == 200, response.text
        self.problems = self.compare(response.json())
        return not self.problems

    def compare(self, allocation: dict[str, Any]) -> list[str]:
        """How the site differs from its settled state: every station holds the limit the
        allocator gave it and counts it at (nothing on its way); the sessions it can move
        share what the others leave equally, the latest paused when their 6 A do not fit;
        idle EVSEs hold 0 A (100 A over 50 EVSEs is under their minimum); the stations it
        cannot move count at what `fixed` says."""
        problems = []
        [root] = allocation["nodes"]
        if any(Decimal(str(amps)) > self.limit for amps in root["allocatedAmps"]):
            problems.append(f"allocated {root['allocatedAmps']} > {self.limit}")
        if self.total() > self.limit:
            problems.append(f"{self.total()} A held > {self.limit}")
        sessions = sorted((s for s in self if s.arrival is not None), key=lambda s: s.arrival or 0)
        movable = [s for s in sessions if s.cp_id not in self.fixed]
        room = self.limit - sum(self.fixed.values(), Decimal(0))
        fits = min(len(movable), int(room // MIN))
        fair = min(MAX, room / fits) if fits else Decimal(0)
        admitted = {s.cp_id for s in movable[:fits]}
        evses = {e["chargePointId"]: e for e in allocation["evses"]}
        for s in self:
            e = evses[s.cp_id]
            limit, counted = Decimal(str(e["limit"])), Decimal(str(e["counted"]))
            if e["charging"] != (s.arrival is not None):
                problems.append(f"{s.cp_id}: charging {e['charging']}")
            if s.cp_id in self.fixed:
                if counted != self.fixed[s.cp_id]:
                    problems.append(f"{s.cp_id}: counted {counted}, not {self.fixed[s.cp_id]}")
                continue
            if not s.held == limit == counted:
                problems.append(f"{s.cp_id}: holds {s.held}, limit {limit}, counted {counted}")
            if s.cp_id in admitted:
                if e["paused"] or abs(limit - fair) > TOLERANCE:
                    problems.append(f"{s.cp_id}: {limit} A, fair {fair:.2f}, {e['paused']=}")
            elif limit != 0 or e["paused"] != (s.arrival is not None):
                problems.append(f"{s.cp_id}: {limit} A, {e['paused']=}, {s.arrival=}")
        return problems


@pytest.fixture
def quick_allocator(suite: Suite) -> Iterator[None]:
    suite.restart_service("load-manager", **QUICK)
    yield
    suite.restart_service("load-manager", **DEFAULTS)


async def place(api: httpx.AsyncClient, connect_cp: Any) -> Fleet:
    """50 stations connected, their id tags known, each placed on a new 100 A site."""
    site = await api.post(
        "/sites", json={"name": f"fleet {uuid.uuid4().hex[:8]}", "limitAmps": [100] * 3}
    )
    assert site.status_code == 201, site.text
    fleet = Fleet(api, site.json()["id"])
    await asyncio.gather(*(s.connect(connect_cp) for s in fleet))
    for s in fleet:
        assert (await api.post("/id-tags", json={"idTag": s.tag})).status_code == 201
    waiting = list(fleet)

    async def online() -> bool:
        for s in list(waiting):
            found = (await api.get(f"/charge-points/{s.cp_id}")).json()
            if found.get("online") and found.get("ocppVersion") == s.version:
                waiting.remove(s)
        return not waiting

    await eventually(online, timeout=30, interval=0.2)
    for s in fleet:
        placed = await api.put(
            f"/charge-points/{s.cp_id}/site",
            json={"nodeId": fleet.site_id, "maxCurrent": 32, "minCurrent": 6},
        )
        assert placed.status_code == 200, placed.text
    return fleet


async def test_fifty_stations_share_100_a_through_rejections_outages_and_a_replica_crash(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, quick_allocator: None
) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    fleet = await place(api, connect_cp)

    async def every_one_holds_a_limit() -> bool:
        assert not fleet.violations, fleet.violations[:3]
        return all(s.held is not None for s in fleet)

    try:
        await eventually(every_one_holds_a_limit, timeout=60)
    except AssertionError:
        missing = [(s.cp_id, s.asked) for s in fleet if s.held is None]
        raise AssertionError(f"stations without a limit (id, asked): {missing}") from None
    await eventually(fleet.settled, timeout=60, interval=0.2)
    fleet.times["placement"] = round(loop.time() - began, 2)
    fleet.bound = Decimal(100)
    s = fleet.stations

    # Arrivals: 4 sessions at 25 A each (give or take the send threshold). Two of them (a 1.6
    # and a 2.0.1 station) then reject every limit: when 4 more arrive they keep their 25 A
    # and count at it, the 6 others share the 50 A left, and the two are asked again after
    # the retry delay (3 s).
    since = loop.time()
    await fleet.start(s[0:4])
    await fleet.settles("4 arrive", since)
    assert near([x.held for x in s[0:4]], 25)
    rejecting = s[0:2]
    for x in rejecting:
        assert x.held is not None
        x.answer = "Rejected"
        fleet.fixed[x.cp_id] = x.held
    asked = [x.asked for x in rejecting]
    since = loop.time()
    await fleet.start(s[4:8])
    await fleet.settles("4 arrive, 2 reject", since)

    async def asked_again() -> bool:
        return all(x.asked > n + 1 for x, n in zip(rejecting, asked, strict=True))

    await eventually(asked_again, timeout=SETTLE)
    assert [x.held for x in rejecting] == [fleet.fixed[x.cp_id] for x in rejecting]
    # They accept again: at their next retry they come down and the others go up.
    since = loop.time()
    for x in rejecting:
        x.answer = "Accepted"
        del fleet.fixed[x.cp_id]
    await fleet.settles("the 2 accept", since)
    assert near([x.held for x in s[0:8]], Decimal("12.5"))
    # 12 more: 20 sessions, of which the 16 first get 6 A and more, the 4 latest are paused.
    for step, chunk in (("6 arrive", s[8:14]), ("6 arrive, 4 paused", s[14:20])):
        since = loop.time()
        await fleet.start(chunk)
        await fleet.settles(step, since)
    assert [x.held for x in s[16:20]] == [0] * 4
    # Departures: 4 leave and the 4 paused resume; 4 more leave.
    for step, chunk in (("4 leave, 4 resume", s[2:6]), ("4 leave", s[8:12])):
        since = loop.time()
        for x in chunk:
            await x.stop()
        await fleet.settles(step, since)
    assert min(x.held or 0 for x in s[16:20]) >= MIN, [x.held for x in s[16:20]]

    # A station with a session goes offline: counted at its limit for the grace (3 s), then
    # at its maximum, and the others share what is left; back, it gets its share again.
    gone = s[12]
    last = gone.held
    assert last is not None
    fleet.fixed[gone.cp_id] = MAX
    since = loop.time()
    await gone.client.close()
    counts: list[tuple[float, Decimal]] = []

    async def counted_at_max() -> bool:
        evses = (await api.get(f"/sites/{fleet.site_id}/allocation")).json()["evses"]
        [e] = [e for e in evses if e["chargePointId"] == gone.cp_id]
        counts.append((loop.time() - since, Decimal(str(e["counted"]))))
        return counts[-1][1] == MAX

    await eventually(counted_at_max, timeout=SETTLE, interval=0.1)
    assert all(amps == last for _, amps in counts[:-1]), counts
    assert counts[-1][0] >= 3, counts  # not before the grace
    await fleet.settles("a station offline", since)
    since = loop.time()
    await gone.connect(connect_cp)
    del fleet.fixed[gone.cp_id]
    await fleet.settles("it comes back", since)

    # A burst with two load-manager replicas: the limit lowered to 60 A (the 12 sessions cut
    # to 6 A, the 2 latest paused), 5 sessions leave and 3 arrive: 10 sessions at 6 A, the
    # raises of the 5 at 0 A waiting for the cuts to be answered. One replica is SIGKILLed
    # once a station has received the burst's first limit and the replica has handled a
    # message of the burst; the other finishes the burst.
    replica, port = suite.extra_service("load-manager")
    try:
        handled = await metric(port, "csms_messages_handled_total")
        lowered = await api.patch(f"/sites/{fleet.site_id}", json={"limitAmps": [60] * 3})
        assert lowered.status_code == 200, lowered.text
        since = loop.time()
        fleet.limit = Decimal(60)
        sent = sum(x.asked for x in fleet)

        async def busy() -> bool:
            mid = sum(x.asked for x in fleet) > sent
            return mid and await metric(port, "csms_messages_handled_total") > handled

        async def kill_when_busy() -> int:
            await eventually(busy, timeout=SETTLE, interval=0.02)
            replica.kill()
            return sum(x.asked for x in fleet)

        killer = asyncio.create_task(kill_when_busy())
        for x in s[12:17]:
            await x.stop()
        await fleet.start(s[20:23])
        at_kill = await killer
        await fleet.settles("60 A with a replica killed", since)
    finally:
        replica.kill()
    fleet.bound = Decimal(60)
    fleet.observe()
    assert sum(x.asked for x in fleet) > at_kill  # limits were sent after the kill
    assert not fleet.violations
    assert [x.held for x in fleet if x.arrival is not None] == [6] * 10
    # Every limit sent fits its version's schema.
    for x in fleet:
        for client in x.clients:
            received(client, x.version, "SetChargingProfile")
    log.info(
        "settled after (s): %s; peak %s A; the burst's limits: %d before the kill, %d after;"
        " %.1f s",
        fleet.times,
        fleet.peak,
        at_kill - sent,
        sum(x.asked for x in fleet) - at_kill,
        loop.time() - began,
    )
