"""The allocator run against schema `loads`: rounds under the site's lock, limits sent through
the command outbox as TxDefaultProfiles in each station's version, answers and events fed
back, lower before raise, and a round that rolls back leaving nothing behind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.contracts.events import (
    CommandCompleted,
    StationConnected,
    StationDisconnected,
    TransactionStarted,
)
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    NodeSettings,
    OfSite,
    SiteChange,
    SiteHistoryOf,
    UpdateSite,
)
from csms_shared.ocpp.version import OcppVersion
from load_manager.allocation import intake as follow
from load_manager.allocation import rounds
from load_manager.allocation.core import Acknowledged, EvseId, Tick
from load_manager.allocation.follow_allocation import (
    station_disconnected,
    transaction_started,
    transactions_started,
)
from load_manager.allocation.rounds import is_allocation_request, reallocate
from load_manager.allocation.rpc_allocation import get_allocation, get_history
from load_manager.db import outbox
from load_manager.profiles.follow_profiles import (
    command_completed,
    commands_completed,
    station_connected,
    transaction_stopped,
    transactions_stopped,
)
from load_manager.settings import Settings
from load_manager.sites.rpc_sites import create_site, update_site
from load_manager.sites.rpc_stations import assign_station

from .conftest import Rpc
from .test_profile_commands import stopped
from .test_profiles import completed, sent

V16, V201 = OcppVersion.V16, OcppVersion.V201


def limits(requests: list[BackOfficeRequest]) -> list[tuple[str, Decimal]]:
    """The allocator's SetChargingProfiles among the requests: (action, A per phase)."""
    found = []
    for request in requests:
        if not is_allocation_request(request.request_id):
            continue
        payload = request.payload
        profile = payload.get("csChargingProfiles") or payload.get("chargingProfile")
        schedule = profile.get("chargingSchedule")
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        found.append((request.action, Decimal(str(schedule["chargingSchedulePeriod"][0]["limit"]))))
    return found


class Site:
    """A site of this test's own, with its stations."""

    def __init__(self, rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings):
        self.rpc, self.sessions, self.settings = rpc, sessions, settings
        self.site_id = 0
        self.answered: set[str] = set()
        self.versions: dict[str, OcppVersion] = {}

    async def create(self, amps: int) -> None:
        site = await self.rpc(
            create_site, NodeSettings(name=f"depot-{uuid.uuid4().hex[:8]}", limit_amps=[amps] * 3)
        )
        self.site_id = site.id

    async def place(self, version: OcppVersion, **settings: Any) -> str:
        cp_id = f"CP-{uuid.uuid4().hex[:8]}"
        params = AssignStation(
            charge_point_id=cp_id, node_id=self.site_id, ocpp_version=version, **settings
        )
        await self.rpc(assign_station, params)
        self.versions[cp_id] = version
        return cp_id

    async def answer(self, cp_id: str, status: str = "result", accepted: bool = True) -> None:
        """Answer the station's newest limit, in the station's version."""
        request = (await sent(self.sessions, cp_id))[-1]
        self.answered.add(request.request_id)
        response = {"status": "Accepted" if accepted else "Rejected"}
        event = completed(
            self.settings,
            request,
            version=self.versions.get(cp_id, V16),  # placed elsewhere: as 1.6
            status=status,
            response=response if status == "result" else None,
        )
        await self.rpc(command_completed, event)

    async def settle(self, *cp_ids: str) -> None:
        """Every station accepts its limits, until nothing more is sent."""
        while True:
            waiting = [
                cp_id
                for cp_id in cp_ids
                if (requests := await sent(self.sessions, cp_id))
                and requests[-1].request_id not in self.answered
            ]
            if not waiting:
                return
            for cp_id in waiting:
                await self.answer(cp_id)

    async def sent(self, cp_id: str) -> list[tuple[str, Decimal]]:
        return limits(await sent(self.sessions, cp_id))

    async def announced(self) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            bodies = await session.scalars(
                select(outbox.c.body)
                .where(outbox.c.routing_key == "site.allocation_changed")
                .order_by(outbox.c.id)
            )
            events = [orjson.loads(body) for body in bodies]
        return [e for e in events if e["siteId"] == self.site_id]


@pytest.fixture
async def site(rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Site:
    made = Site(rpc, sessions, settings)
    await made.create(32)
    return made


async def start(rpc: Rpc, cp_id: str, connector: int = 1, charging_priority: int = 0) -> None:
    await rpc(transaction_started, started(cp_id, connector, charging_priority))


def started(cp_id: str, connector: int = 1, charging_priority: int = 0) -> TransactionStarted:
    return TransactionStarted.model_validate(
        {
            "chargingPriority": charging_priority,
            "transactionId": 1,
            "chargePointId": cp_id,
            "stationTransactionId": "1",
            "ocppVersion": "1.6",
            "connectorId": connector,
            "meterStart": 0,
            "startTime": datetime.now(UTC).isoformat(),
            "lastSeen": datetime.now(UTC).isoformat(),
            "warnings": [],
            "currency": "EUR",
            "pricePerKwh": 0,
            "sessionFee": 0,
            "active": True,
            "stale": False,
        }
    )


async def test_stations_placed_on_a_site_get_their_failsafe_share_in_their_version(
    site: Site,
) -> None:
    a = await site.place(V16)
    assert await site.sent(a) == [("SetChargingProfile", Decimal(32))]
    [a_request] = await sent(site.sessions, a)
    profile = a_request.payload["csChargingProfiles"]
    assert a_request.payload["connectorId"] == 1
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile["chargingProfileKind"] == "Relative"
    assert profile["chargingSchedule"]["chargingRateUnit"] == "A"
    b = await site.place(V201)
    # a's 32 A is on its way, b counts at its maximum until a limit lands: b gets 0 for now.
    assert await site.sent(b) == [("SetChargingProfile", 0)]
    [b_request] = await sent(site.sessions, b)
    assert b_request.payload["evseId"] == 1
    assert b_request.payload["chargingProfile"]["chargingProfilePurpose"] == "TxDefaultProfile"
    await site.answer(a)
    # a comes down to its share first; b's raise waits for that answer.
    assert (await site.sent(a))[-1] == ("SetChargingProfile", Decimal(16))
    await site.answer(b)
    assert len(await site.sent(b)) == 1
    await site.answer(a)
    assert (await site.sent(b))[-1] == ("SetChargingProfile", Decimal(16))


async def settled_pair(site: Site) -> tuple[str, str]:
    a = await site.place(V16)
    b = await site.place(V16)
    await site.settle(a, b)
    assert (await site.sent(a))[-1][1] == (await site.sent(b))[-1][1] == 16
    return a, b


async def test_a_session_is_raised_only_after_the_idle_evses_reduction_is_acknowledged(
    site: Site,
) -> None:
    a, b = await settled_pair(site)
    await start(site.rpc, a)
    # Lower before raise: b's cut leaves now, a's raise waits for its answer.
    assert (await site.sent(b))[-1] == ("SetChargingProfile", 0)
    assert (await site.sent(a))[-1] == ("SetChargingProfile", Decimal(16))
    await site.answer(b)
    assert (await site.sent(a))[-1] == ("SetChargingProfile", Decimal(32))
    changed = await site.announced()
    last = {(e["chargePointId"], e["evse"]): e for e in changed[-1]["evses"]}
    assert last[(a, 1)]["limit"] == 32 and last[(a, 1)]["charging"] is True
    assert last[(b, 1)]["limit"] == 0
    assert changed[-1]["nodes"][0]["limitAmps"] == [32, 32, 32]


async def test_a_rejected_cut_holds_the_raise_and_a_lost_answer_counts_the_station_at_its_maximum(
    site: Site,
) -> None:
    a, b = await settled_pair(site)
    await start(site.rpc, a)
    before = len(await site.sent(a))
    await site.answer(b, accepted=False)
    # b kept 16 A: a stays at 16 A (no raise); nothing new goes to b before the retry delay.
    assert len(await site.sent(a)) == before
    await site.answer(a)  # (nothing in flight to a: a stale answer changes nothing)
    b_count = len(await site.sent(b))
    # A timeout: b may hold 32 A now, so a, with its session, is cut to 0 at once.
    later = datetime.now(UTC) + timedelta(seconds=site.settings.allocation_retry_after + 1)
    async with site.sessions() as session, session.begin():
        await rounds.run(session, site.settings, site.site_id, [Tick(later)], later)
    assert len(await site.sent(b)) == b_count + 1
    await site.answer(b, status="timeout")
    assert (await site.sent(a))[-1] == ("SetChargingProfile", 0)


async def test_answers_handled_together_make_one_round_of_their_site(site: Site) -> None:
    # Three stations sharing 32 A; a session on a cuts b and c, whose two answers arrive in
    # one group (handled one by one, they would make two rounds and two announcements).
    a, b, c = [await site.place(V16) for _ in range(3)]
    await site.settle(a, b, c)
    await start(site.rpc, a)
    cuts = [(await sent(site.sessions, cp_id))[-1] for cp_id in (b, c)]
    assert all(is_allocation_request(cut.request_id) for cut in cuts)
    raised_before, announced_before = len(await site.sent(a)), len(await site.announced())
    answers = [
        completed(site.settings, cut, version=V16, response={"status": "Accepted"}) for cut in cuts
    ]
    await site.rpc(commands_completed, answers)
    # One round applied both: a's raise left, and the site was announced once.
    assert len(await site.sent(a)) == raised_before + 1
    assert len(await site.announced()) == announced_before + 1


async def test_a_lower_limit_sends_its_reductions_in_the_same_change(site: Site) -> None:
    a, b = await settled_pair(site)
    await site.rpc(
        update_site, UpdateSite(site_id=site.site_id, change=SiteChange(limit_amps=[20] * 3))
    )
    assert (await site.sent(a))[-1] == ("SetChargingProfile", Decimal(10))
    assert (await site.sent(b))[-1] == ("SetChargingProfile", Decimal(10))


async def test_a_round_rolled_back_sent_nothing_and_the_next_starts_from_the_last_commit(
    site: Site,
) -> None:
    a, b = await settled_pair(site)
    count = len(await site.sent(a)), len(await site.sent(b))
    with pytest.raises(RuntimeError):
        async with site.sessions() as session, session.begin():
            await follow.sessions_changed(session, site.settings, [started(a)])
            raise RuntimeError("the replica dies mid-round")
    assert (len(await site.sent(a)), len(await site.sent(b))) == count
    async with site.sessions() as session, session.begin():
        await reallocate(session, site.settings, site.site_id)
    # The session never happened: nothing changes.
    assert (len(await site.sent(a)), len(await site.sent(b))) == count
    await start(site.rpc, a)
    assert (await site.sent(b))[-1] == ("SetChargingProfile", 0)


async def test_an_offline_station_counts_at_its_limit_then_past_the_grace_at_its_maximum(
    site: Site,
) -> None:
    a, b = await settled_pair(site)
    await start(site.rpc, a)
    await site.settle(a, b)
    assert [(await site.sent(cp))[-1][1] for cp in (a, b)] == [32, 0]
    gone = StationDisconnected(
        charge_point_id=b, connection_id="c1", connected_at=datetime.now(UTC)
    )
    await site.rpc(station_disconnected, gone)
    count = len(await site.sent(a))
    # Within the grace b is trusted to hold its 0 A: a keeps its 32 A.
    within = datetime.now(UTC) + timedelta(seconds=site.settings.allocation_offline_grace / 2)
    async with site.sessions() as session, session.begin():
        await rounds.run(session, site.settings, site.site_id, [Tick(within)], within)
    assert len(await site.sent(a)) == count
    # Past it, b counts at its 32 A: a is cut to 0 (its 6 A minimum does not fit).
    past = datetime.now(UTC) + timedelta(seconds=site.settings.allocation_offline_grace + 1)
    async with site.sessions() as session, session.begin():
        await rounds.run(session, site.settings, site.site_id, [Tick(past)], past)
    assert (await site.sent(a))[-1] == ("SetChargingProfile", 0)
    shown = await site.rpc(get_allocation, OfSite(site_id=site.site_id))
    by_cp = {e.charge_point_id: e for e in shown.evses}
    # Shown as of now, when b is still within its grace; a's limit is the round's 0 A.
    assert (by_cp[a].limit, by_cp[a].charging, by_cp[b].counted) == (0, True, 0)


async def test_the_close_of_an_older_connection_after_a_newer_one_opened_is_not_offline(
    site: Site,
) -> None:
    a, b = await settled_pair(site)
    opened = datetime.now(UTC)
    await site.rpc(
        station_connected,
        StationConnected(charge_point_id=b, gateway="g2", connection_id="new", connected_at=opened),
    )
    late_close = StationDisconnected(
        charge_point_id=b, connection_id="old", connected_at=opened - timedelta(minutes=1)
    )
    await site.rpc(station_disconnected, late_close)
    count = len(await site.sent(a))
    # Were b offline, past the grace it would count at 32 A and a would be cut to 0.
    past = datetime.now(UTC) + timedelta(seconds=site.settings.allocation_offline_grace + 1)
    async with site.sessions() as session, session.begin():
        await rounds.run(session, site.settings, site.site_id, [Tick(past)], past)
    assert len(await site.sent(a)) == count
    shown = await site.rpc(get_allocation, OfSite(site_id=site.site_id))
    assert {e.charge_point_id: e.counted for e in shown.evses} == {a: 16, b: 16}


async def test_the_timer_rounds_keep_a_sample_a_minute_for_the_chart(site: Site) -> None:
    a, b = await settled_pair(site)
    await start(site.rpc, a)
    await site.settle(a, b)
    first = datetime.now(UTC).replace(second=5, microsecond=0)
    for at in (first, first + timedelta(seconds=30), first + timedelta(minutes=1)):
        async with site.sessions() as session, session.begin():
            await rounds.run(session, site.settings, site.site_id, [Tick(at)], at, sample=True)
    history = await site.rpc(get_history, SiteHistoryOf(site_id=site.site_id, hours=1))
    # One sample a minute, the first round of the minute's: the limit, a's 32 A and b's 0 A.
    assert [s.at for s in history.samples] == [
        first.replace(second=0),
        first.replace(second=0) + timedelta(minutes=1),
    ]
    assert {(s.limit_amps, s.allocated_amps, s.drawn_amps) for s in history.samples} == {
        (32, 32, 0)
    }


async def test_an_answer_delivered_twice_does_not_close_the_send_that_followed_it(
    site: Site,
) -> None:
    a = await site.place(V16)
    b = await site.place(V16)
    [first] = await sent(site.sessions, a)
    await site.answer(a)  # a's 32 A lands; a is sent 20 A... its share beside b
    await site.answer(b)  # b's 0 A lands; b's raise waits for a's cut
    assert len(await site.sent(a)) == 2 and len(await site.sent(b)) == 1
    # The first answer again (command.completed is delivered at least once): a's cut is
    # still on its way, so b must not be raised yet.
    again = completed(site.settings, first, version=V16, response={"status": "Accepted"})
    await site.rpc(command_completed, again)
    assert len(await site.sent(b)) == 1
    # Two deliveries handled at once both find the first send's row before either takes the
    # site's lock; the later round sees another send in flight and drops the answer.
    at = datetime.now(UTC)
    async with site.sessions() as session, session.begin():
        ack = Acknowledged(EvseId(a, 1), at)
        await rounds.run(
            session, site.settings, site.site_id, [], at, answers=[(ack, first.request_id)]
        )
    assert len(await site.sent(b)) == 1
    await site.answer(a)
    assert (await site.sent(b))[-1] == ("SetChargingProfile", Decimal(16))


async def test_the_session_whose_tag_has_the_higher_priority_charges_on_a_small_site(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    small = Site(rpc, sessions, settings)
    await small.create(10)  # room for one 6 A minimum, not two
    a, b = await small.place(V16), await small.place(V201)
    await small.settle(a, b)
    await start(rpc, a)
    await small.settle(a, b)
    assert [(await small.sent(cp))[-1][1] for cp in (a, b)] == [10, 0]
    # b's tag has chargingPriority 5: it outranks a's session, which came first; a is paused.
    await start(rpc, b, charging_priority=5)
    await small.settle(a, b)
    assert [(await small.sent(cp))[-1][1] for cp in (a, b)] == [0, 10]
    # The priority is kept with the session: a round from what is stored changes nothing.
    count = len(await small.sent(a)), len(await small.sent(b))
    async with sessions() as session, session.begin():
        await reallocate(session, settings, small.site_id)
    assert (len(await small.sent(a)), len(await small.sent(b))) == count
    shown = await rpc(get_allocation, OfSite(site_id=small.site_id))
    assert {e.charge_point_id: e.paused for e in shown.evses} == {a: True, b: False}


async def test_a_limits_answer_is_read_through_the_models_of_the_version_it_was_sent_in(
    site: Site,
) -> None:
    a = await site.place(V16)
    b = await site.place(V201)
    [to_a] = await sent(site.sessions, a)
    [to_b] = await sent(site.sessions, b)

    def answer(request: BackOfficeRequest, version: OcppVersion, response: Any) -> CommandCompleted:
        return completed(site.settings, request, version=version, response=response)

    assert follow.accepted(answer(to_a, V16, {"status": "Accepted"}))
    assert not follow.accepted(answer(to_a, V16, {"status": "NotSupported"}))
    reason = {"reasonCode": "TxNotFound"}
    assert follow.accepted(answer(to_b, V201, {"status": "Accepted", "statusInfo": reason}))
    assert not follow.accepted(answer(to_b, V201, {"status": "Rejected", "statusInfo": reason}))
    # An answer that breaks its model accepted nothing we know of.
    assert not follow.accepted(answer(to_a, V16, {"status": "Accepted", "statusInfo": reason}))
    assert not follow.accepted(answer(to_b, V201, {"status": "accepted"}))
    assert not follow.accepted(answer(to_b, V16, {"status": "Accepted"}))  # a 2.0.1 request


async def test_transactions_handled_together_end_where_one_at_a_time_does(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # Two like sites of three stations each: on one, two sessions start and one of them ends
    # in one group (with a station on no site among them); on the other, one event at a time.
    grouped, single = Site(rpc, sessions, settings), Site(rpc, sessions, settings)
    stations: dict[Site, list[str]] = {}
    for site in (grouped, single):
        await site.create(32)
        stations[site] = [await site.place(V16) for _ in range(3)]
        await site.settle(*stations[site])
    a, b, _ = stations[grouped]
    announced = len(await grouped.announced())
    await rpc(
        transactions_started,
        [started(a), started("CP-on-no-site"), started(b)],
    )
    # One round for the group's two starts.
    assert len(await grouped.announced()) == announced + 1
    await rpc(transactions_stopped, [stopped(a, "tx-a"), stopped("CP-on-no-site", "tx-x")])
    x, y, _ = stations[single]
    await start(rpc, x)
    await start(rpc, y)
    await rpc(transaction_stopped, stopped(x, "tx-a"))
    for site in (grouped, single):
        await site.settle(*stations[site])
    final = [[(await site.sent(cp))[-1] for cp in stations[site]] for site in (grouped, single)]
    assert final[0] == final[1]
    assert final[0][1] > final[0][0]  # the session left takes what the others give back
