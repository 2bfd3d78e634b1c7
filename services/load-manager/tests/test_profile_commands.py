"""One command at a time per station, and what settles the outstanding one: its answer, a
no-answer after a reconnection (sent again at once), the sweep giving up on it; the end of a
transaction dropping its TxProfiles; the relay keeping a request nobody could route."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.connection import connect
from csms_shared.bus.topology import COMMAND_REQUESTS
from csms_shared.charging import to_v16_request
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.contracts.events import StationConnected, TransactionStopped
from csms_shared.contracts.rpc_profiles import OfStationProfile
from csms_shared.ocpp.v16.messages import ChangeConfigurationRequest
from load_manager.commands import SENT_ACTIONS, command_relay, new_request_id, queue_command
from load_manager.db import command_outbox
from load_manager.profiles.follow_profiles import (
    command_completed,
    station_connected,
    transaction_stopped,
    transactions_stopped,
)
from load_manager.profiles.rpc_profiles import clear_profile
from load_manager.profiles.sweeper import sweep_once
from load_manager.settings import Settings
from tests.integration.infra import base_urls, isolated_vhost

from .conftest import Rpc
from .test_profiles import V16, V201, answer_last, completed, listed, profile, sent, store


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


def limited(amps: int) -> dict[str, Any]:
    schedule = profile().schedules[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"schedules": [schedule | {"periods": [{"startPeriod": 0, "limit": amps}]}]}


async def test_a_profile_stored_twice_reaches_the_station_in_the_order_it_was_stored(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16, id=5, **limited(32))
    await store(rpc, cp_id, V16, id=5, **limited(16))
    [first] = await sent(sessions, cp_id)
    assert first.payload == to_v16_request(profile(id=5, **limited(32))).to_payload()
    await answer_last(rpc, sessions, settings, cp_id, V16)
    # The 32 A answer is not the row's: it still waits for its own (16 A) command.
    assert (await listed(rpc, cp_id))[5].send.status == "pending"
    second = await answer_last(rpc, sessions, settings, cp_id, V16)
    assert second.payload == to_v16_request(profile(id=5, **limited(16))).to_payload()
    row = (await listed(rpc, cp_id))[5]
    assert (row.send.status, row.profile) == ("accepted", profile(id=5, **limited(16)))


async def test_an_action_whose_outcome_the_load_manager_does_not_follow_is_never_sent(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    # Its queue is bound to the outcomes of SENT_ACTIONS alone (bus/stations.py): another
    # action's would never come back, and the row it was about would wait for the sweep.
    assert "ChangeConfiguration" not in SENT_ACTIONS
    request = ChangeConfigurationRequest(key="HeartbeatInterval", value="60")
    async with sessions() as session, session.begin():
        with pytest.raises(ValueError, match="SENT_ACTIONS"):
            await queue_command(
                session, settings, cp_id, "ChangeConfiguration", request, new_request_id()
            )
    assert await sent(sessions, cp_id) == []


async def test_a_clear_leaves_only_after_the_set_before_it_is_answered(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V201)
    await rpc(clear_profile, OfStationProfile(charge_point_id=cp_id, profile_id=1))
    assert [r.action for r in await sent(sessions, cp_id)] == ["SetChargingProfile"]
    await answer_last(rpc, sessions, settings, cp_id, V201)
    assert [r.action for r in await sent(sessions, cp_id)] == [
        "SetChargingProfile",
        "ClearChargingProfile",
    ]
    await answer_last(rpc, sessions, settings, cp_id, V201)
    assert await listed(rpc, cp_id) == {}


async def test_no_answer_after_a_reconnection_seen_meanwhile_sends_the_profile_again_at_once(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16)
    connected = StationConnected(
        charge_point_id=cp_id,
        gateway="g",
        connection_id="c",
        connected_at=datetime.now(UTC),
        subprotocol="ocpp1.6",
    )
    await rpc(station_connected, connected)  # the row is pending: the ask waits for it
    assert len(await sent(sessions, cp_id)) == 1
    await answer_last(rpc, sessions, settings, cp_id, V16, status="offline")
    # The station is asked what it holds first; the profile waits and goes whatever it says.
    first, asked = await sent(sessions, cp_id)
    assert asked.action == "GetCompositeSchedule"
    await answer_last(rpc, sessions, settings, cp_id, V16, status="timeout")
    again = (await sent(sessions, cp_id))[-1]
    assert again.payload == first.payload and again.request_id != first.request_id
    assert (await listed(rpc, cp_id))[1].send.status == "pending"
    await answer_last(rpc, sessions, settings, cp_id, V16)
    assert (await listed(rpc, cp_id))[1].send.status == "accepted"


async def test_no_answer_without_a_reconnection_is_a_failure(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16)
    await answer_last(rpc, sessions, settings, cp_id, V16, status="timeout")
    assert len(await sent(sessions, cp_id)) == 1
    assert (await listed(rpc, cp_id))[1].send.status == "failed"


async def test_the_sweep_gives_up_a_command_never_answered_and_sends_the_next(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16, id=1)
    await store(rpc, cp_id, V16, id=2, connectorId=2)
    patient = settings.model_copy(update={"command_timeout": 3600.0})
    async with sessions() as session, session.begin():
        assert cp_id not in await sweep_once(session, patient)
    hasty = settings.model_copy(update={"command_timeout": 0.001, "command_answer_margin": 0})
    swept: list[str] = []
    while True:  # stations other tests left waiting are swept too, a batch at a time
        async with sessions() as session, session.begin():
            batch = await sweep_once(session, hasty)
        if not batch:
            break
        swept += batch
    assert cp_id in swept
    rows = await listed(rpc, cp_id)
    assert (rows[1].send.status, rows[1].send.reason) == ("failed", "no answer")
    first, second = await sent(sessions, cp_id)
    assert second.payload == to_v16_request(profile(id=2, connectorId=2)).to_payload()
    # The lost answer turning up late still lands (it is the station's), and sends nothing:
    # the second command is the one on its way.
    late = completed(settings, first, version=V16, response={"status": "Accepted"})
    await rpc(command_completed, late)
    assert (await listed(rpc, cp_id))[1].send.status == "accepted"
    assert len(await sent(sessions, cp_id)) == 2


def stopped(cp_id: str, station_transaction_id: str) -> TransactionStopped:
    now = datetime.now(UTC)
    return TransactionStopped(
        transaction_id=7,
        charge_point_id=cp_id,
        ocpp_version="2.0.1",
        station_transaction_id=station_transaction_id,
        connector_id=1,
        meter_start=0,
        meter_stop=1000,
        start_time=now - timedelta(hours=1),
        stop_time=now,
        currency="EUR",
        price_per_kwh=0,
        session_fee=0,
        active=False,
        stale=False,
        last_seen=now,
        warnings=[],
    )


async def test_a_transaction_that_ended_takes_its_tx_profiles_with_it(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    tx = {"purpose": "TxProfile", "connectorId": 1}
    await store(rpc, cp_id, V201, id=1, transactionId="tx-a", **tx)
    await answer_last(rpc, sessions, settings, cp_id, V201)
    await store(rpc, cp_id, V201, id=2, transactionId="tx-b", stackLevel=1, **tx)
    await answer_last(rpc, sessions, settings, cp_id, V201)
    await store(rpc, cp_id, V201, id=3)  # a TxDefaultProfile stays
    await rpc(transaction_stopped, stopped(cp_id, "tx-a"))
    assert set(await listed(rpc, cp_id)) == {2, 3}
    await rpc(transaction_stopped, stopped(f"{cp_id}-other", "tx-b"))
    assert set(await listed(rpc, cp_id)) == {2, 3}


async def test_transactions_that_ended_together_take_only_their_own_tx_profiles(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    other = f"{cp_id}-b"
    tx = {"purpose": "TxProfile", "connectorId": 1}
    for station in (cp_id, other):
        for n, transaction in enumerate(("tx-a", "tx-b", "tx-c"), start=1):
            await store(rpc, station, V201, id=n, transactionId=transaction, stackLevel=n, **tx)
            await answer_last(rpc, sessions, settings, station, V201)
    # One group: two of the first station's transactions, the other's tx-c, a station unknown.
    ended = [stopped(cp_id, "tx-a"), stopped(other, "tx-c"), stopped(cp_id, "tx-b")]
    await rpc(transactions_stopped, [*ended, stopped(f"{cp_id}-none", "tx-a")])
    assert set(await listed(rpc, cp_id)) == {3}
    assert set(await listed(rpc, other)) == {1, 2}


@pytest.fixture
async def vhost() -> AsyncIterator[str]:
    with base_urls() as (broker, _), isolated_vhost(broker) as url:
        if url == broker:
            pytest.skip("no vhost of our own (rabbitmqctl absent): the exchange is shared")
        yield url


async def test_a_request_nobody_can_route_stays_in_the_outbox_until_someone_can(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], vhost: str, cp_id: str
) -> None:
    await store(rpc, cp_id, V16)
    [request] = await sent(sessions, cp_id)
    connection = await connect(vhost, name="load-manager-test")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            COMMAND_REQUESTS.name, aio_pika.ExchangeType(COMMAND_REQUESTS.type), durable=True
        )
        relay = command_relay(sessions, channel, poll_interval=1.0)
        await relay.drain_once()
        assert await sent(sessions, cp_id) == [request]  # returned unroutable: kept
        assert relay.unroutable >= 1
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange)
        while await sent(sessions, cp_id):
            await relay.drain_once()
        bodies = []
        while (message := await queue.get(fail=False)) is not None:
            bodies.append(BackOfficeRequest.model_validate_json(message.body))
            await message.ack()
        assert request in bodies
    async with sessions() as session:
        left = await session.scalars(
            select(command_outbox.c.id).where(command_outbox.c.routing_key == cp_id)
        )
        assert list(left) == []
