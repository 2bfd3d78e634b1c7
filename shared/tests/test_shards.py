"""Bulk groups split by station (`group_shards`, coalesce.shard_of): a shard's groups never wait
for another shard's, a station's calls always take the same shard, and every caller gets its
outcomes in the order it gave its items."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from csms_shared.bus.coalesce import Coalescer, shard_of
from csms_shared.bus.router import CallContext, Context, Router
from csms_shared.bus.topology import DECISIONS
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.messages import MeterValuesRequest, MeterValuesResponse

from .fakes import FakeMessage, fake_runtime, until

METER = {
    "connectorId": 1,
    "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}],
}


def stations_of_shard(shard: int, count: int, shards: int = 2) -> list[str]:
    """`count` station names that fall in `shard`."""
    names = (f"cp{n}" for n in range(10_000))
    return [name for name in names if shard_of(name, shards) == shard][:count]


@given(st.text(min_size=1, max_size=36), st.integers(min_value=1, max_value=16))
def test_a_station_has_one_shard_in_range(name: str, shards: int) -> None:
    assert 0 <= shard_of(name, shards) < shards
    assert shard_of(name, shards) == shard_of(name, shards)
    assert shard_of(name, 1) == 0


async def test_a_shard_does_not_wait_for_the_group_another_shard_is_handling() -> None:
    [a0, a1] = stations_of_shard(0, 2)
    [b0] = stations_of_shard(1, 1)
    coalescer: Coalescer[str, str] = Coalescer(asyncio.Semaphore(4), lanes=1, shards=2)
    gate = asyncio.Event()
    groups: list[list[str]] = []

    async def handle(group: list[str]) -> list[str]:
        groups.append(group)
        if group[0] == a0:
            await gate.wait()
        return [f"done {item}" for item in group]

    def submit(items: list[str]) -> asyncio.Task[list[str]]:
        return asyncio.create_task(coalescer.submit("k", items, handle, station=str))

    first = submit([a0])
    await until(lambda: groups == [[a0]])  # shard 0's only lane, held
    same_shard = submit([a1])
    await until(lambda: coalescer.waiting("k") == 1)
    assert await asyncio.wait_for(submit([b0]), 1) == [f"done {b0}"]  # shard 1: at once
    assert not same_shard.done()  # shard 0 waits for its own group before it
    gate.set()
    assert await first == [f"done {a0}"]
    assert await same_shard == [f"done {a1}"]
    assert groups == [[a0], [b0], [a1]]


async def test_items_of_both_shards_are_answered_in_the_callers_order() -> None:
    evens, odds = stations_of_shard(0, 3), stations_of_shard(1, 3)
    items = [evens[0], odds[0], odds[1], evens[1], odds[2], evens[2]]
    coalescer: Coalescer[str, str] = Coalescer(asyncio.Semaphore(4), shards=2)
    groups: list[list[str]] = []

    async def handle(group: list[str]) -> list[str]:
        groups.append(group)
        return [item.upper() for item in group]

    assert await coalescer.submit("k", items, handle, station=str) == [i.upper() for i in items]
    # One group a shard, each in the order the caller gave its items.
    assert sorted(groups) == sorted([evens, odds])


async def test_without_station_or_with_one_shard_items_share_a_group() -> None:
    items = stations_of_shard(0, 2) + stations_of_shard(1, 2)
    for coalescer, station in (
        (Coalescer[str, str](asyncio.Semaphore(4), shards=2), None),
        (Coalescer[str, str](asyncio.Semaphore(4), shards=1), str),
    ):
        groups: list[list[str]] = []

        async def handle(group: list[str], groups: list[list[str]] = groups) -> list[str]:
            groups.append(group)
            return group

        assert await coalescer.submit("k", items, handle, station=station) == items
        assert groups == [items]


class Metering:
    """A runtime batching MeterValues; records each batch's stations."""

    def __init__(self, **options: Any) -> None:
        self.log: list[str] = []
        self.batches: list[list[str]] = []
        router = Router(service="shard-test")

        @router.on(Action.METER_VALUES)
        async def meter_values(
            request: MeterValuesRequest, ctx: CallContext
        ) -> MeterValuesResponse:
            self.batches.append([ctx.charge_point_id])
            return MeterValuesResponse()

        @router.on_batch(Action.METER_VALUES)
        async def meter_values_batch(
            calls: list[tuple[MeterValuesRequest, CallContext]], ctx: Context
        ) -> None:
            self.batches.append([call.charge_point_id for _, call in calls])

        self.runtime = fake_runtime(router, self.log, concurrency=4, **options)

    def bundle(self, stations: list[str], **options: Any) -> FakeMessage:
        items: list[tuple[str, Any]] = [(cp, METER) for cp in stations]
        return FakeMessage("MeterValues", "bundle", log=self.log, items=items, **options)


async def test_with_two_shards_a_bulk_bundle_is_stored_a_group_per_shard() -> None:
    evens, odds = stations_of_shard(0, 2), stations_of_shard(1, 2)
    test = Metering(group_shards=2)
    bundle = test.bundle([evens[0], odds[0], evens[1], odds[1]])
    await test.runtime.on_call(bundle)
    assert sorted(test.batches) == sorted([evens, odds])
    assert bundle.outcome == "ack"
    assert test.log.count("ack bundle") == 1 and test.log.index("ack bundle") == len(test.log) - 1


async def test_by_default_the_bulk_is_not_split() -> None:
    stations = stations_of_shard(0, 2) + stations_of_shard(1, 2)
    test = Metering()
    bundle = test.bundle(stations)
    await test.runtime.on_call(bundle)
    assert [sorted(batch) for batch in test.batches] == [sorted(stations)]
    assert bundle.outcome == "ack"


async def test_decisions_are_not_split_by_station() -> None:
    stations = stations_of_shard(0, 2) + stations_of_shard(1, 2)
    test = Metering(group_shards=2)
    bundle = test.bundle(stations)
    bundle.exchange = DECISIONS.name
    await test.runtime.on_decision(bundle)
    assert [sorted(batch) for batch in test.batches] == [sorted(stations)]
    assert bundle.outcome == "ack"
