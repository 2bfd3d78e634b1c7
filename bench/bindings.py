"""What following stations one by one costs the broker (`csms_shared.bus.stations`): the
load-manager binds its queue to six keys per station on a site. In the suite's vhost, on a topic
exchange and a queue of this scenario's own:

- events of stations nobody follows are published with their station's BCC key, as every
  event is, and RabbitMQ's CPU per event is read (the routing of two keys, the message
  dropped);
- `binding_stations` stations are bound with the load-manager's keys (`binding_patterns`:
  four a station), the first 1,000 one binding at a time as placements bind them, the rest
  over eight channels as the load-manager's start does: the rates, and RabbitMQ's memory
  before and after (its tables' bytes from `rabbitmq-diagnostics memory_breakdown`, mnesia
  and other_ets, where bindings live; and its RSS, rough: the VM keeps memory it freed);
- the same events again, with every binding in place, once RabbitMQ is quiet again (it
  writes its tables out for a while after many bindings): what the topic exchange's routing
  pays for them; then as many events of followed stations, which the queue takes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time

import aio_pika

from csms_shared.bus.client import message_properties
from csms_shared.bus.publish import publish
from csms_shared.bus.stations import StationBindings, routing_headers
from csms_shared.contracts.events import EVENTS as EVENT_MODELS

from .context import Bench
from .procs import CpuWatch, cpu_seconds, pids_named, rss_kib
from .report import Row
from .suite import BenchSuite

SCENARIO = "Station bindings"
# The load-manager's per-station patterns (follow_allocation.py, follow_profiles.py).
PATTERNS = (
    "connector.status",
    "meter.current",
    "station.disconnected",
    "transaction.charging_state_changed",
    "transaction.started",
    "transaction.stopped",
)
EVENTS = 20_000
BATCH = 500
ONE_BY_ONE = 1_000  # stations bound as placements bind them; the rest as a start does
START_CHANNELS = 8  # load_manager.followed.START_CHANNELS


async def _publish(
    channel: aio_pika.abc.AbstractChannel, exchange: str, stations: list[str]
) -> tuple[float, dict[str, float]]:
    """Publish EVENTS `transaction.started` events of `stations` (round robin) with confirms:
    (events/s, CPU seconds of RabbitMQ)."""
    watch = CpuWatch({"rabbitmq": pids_named("beam.smp")})
    began = time.monotonic()
    for first in range(0, EVENTS, BATCH):
        sends = []
        for n in range(first, first + BATCH):
            cp = stations[n % len(stations)]
            headers = routing_headers("transaction.started", cp)
            properties = message_properties(persistent=True, headers=headers)
            sends.append(
                publish(
                    channel,
                    b'{"chargePointId": "%s"}' % cp.encode(),
                    exchange=exchange,
                    routing_key="transaction.started",
                    properties=properties,
                )
            )
        await asyncio.gather(*sends)
    took = time.monotonic() - began
    watch.stop()
    return EVENTS / took, watch.used


def _table_bytes() -> int | None:
    """The bytes RabbitMQ's tables take (`rabbitmq-diagnostics memory_breakdown`: mnesia and
    other_ets, where bindings live); None without the CLI (a broker elsewhere)."""
    try:
        found = subprocess.run(
            ["rabbitmq-diagnostics", "memory_breakdown", "--formatter", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        breakdown = json.loads(found.stdout)
        return int(breakdown["mnesia"]["bytes"]) + int(breakdown["other_ets"]["bytes"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return None


async def _quiet(beam: list[int], timeout: float = 120.0) -> float:
    """Wait until RabbitMQ used under 5% of a core over a second (its tables written out after
    the bindings): the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        before = sum(cpu_seconds(p) for p in beam)
        await asyncio.sleep(1.0)
        if sum(cpu_seconds(p) for p in beam) - before < 0.05:
            break
    return time.monotonic() - began


async def bindings(bench: Bench, suite: BenchSuite) -> None:
    """The rows of the scenario."""
    count = bench.profile.binding_stations
    tag = secrets.token_hex(3)
    followed = [f"BIND-{tag}-{n:06d}" for n in range(count)]
    others = [f"FREE-{tag}-{n:06d}" for n in range(1000)]
    connection = await aio_pika.connect(suite.broker_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            f"bench.stations.{tag}", aio_pika.ExchangeType.TOPIC, auto_delete=True
        )
        queue = await channel.declare_queue(
            f"bench.stations.{tag}", exclusive=True, arguments={"x-max-length": 1}
        )
        stations = StationBindings(queue, exchange, PATTERNS, known=EVENT_MODELS)
        rate_before, cpu_before = await _publish(channel, exchange.name, others)
        bench.log(f"  {EVENTS} events of stations nobody follows: {rate_before:,.0f}/s")
        beam = pids_named("beam.smp")
        rss_before = sum(rss_kib(p) for p in beam)
        tables_before = await asyncio.to_thread(_table_bytes)
        # As placements bind: one station, one binding after the other.
        alone = followed[:ONE_BY_ONE]
        began = time.monotonic()
        await stations.follow(alone)
        one_by_one = time.monotonic() - began
        # As a load-manager's start binds the rest: over START_CHANNELS channels.
        channels = [
            await connection.channel(publisher_confirms=False) for _ in range(START_CHANNELS)
        ]
        began = time.monotonic()
        await stations.follow_all(followed[ONE_BY_ONE:], channels)
        at_start = time.monotonic() - began
        for extra in channels:
            await extra.close()
        rss_after = sum(rss_kib(p) for p in beam)
        tables_after = await asyncio.to_thread(_table_bytes)
        per_station = len(stations.keys)
        keys = count * per_station
        bench.log(
            f"  {count:,} stations ({keys:,} bindings, {stations.keys}) bound: {ONE_BY_ONE:,}"
            f" one by one in {one_by_one:.1f} s, the rest over {START_CHANNELS} channels in"
            f" {at_start:.1f} s"
        )
        waited = await _quiet(beam)
        bench.log(f"  RabbitMQ quiet again {waited:.1f} s after the last binding")
        rate_after, cpu_after = await _publish(channel, exchange.name, others)
        rate_followed, cpu_followed = await _publish(channel, exchange.name, followed)
        bench.log(
            f"  then: {rate_after:,.0f}/s of stations nobody follows, {rate_followed:,.0f}/s of"
            " followed ones"
        )
        per_event = [used["rabbitmq"] / EVENTS * 1e6 for used in (cpu_before, cpu_after)]
        followed_us = cpu_followed["rabbitmq"] / EVENTS * 1e6
        rss = (rss_after - rss_before) * 1024 / keys
        tables = (
            "-"
            if tables_before is None or tables_after is None
            else f"{(tables_after - tables_before) / keys:,.0f}"
        )
        rest = count - ONE_BY_ONE
        bench.add(
            Row(
                SCENARIO,
                f"{count:,} stations x {per_station} keys: stations bound per second one by one"
                f" / over {START_CHANNELS} channels (a start); bytes per binding in RabbitMQ's"
                " tables; its RSS growth per binding",
                f"{ONE_BY_ONE / one_by_one:,.0f} / {rest / at_start:,.0f}; {tables}; {rss:,.0f}",
                f"{keys / (one_by_one + at_start):,.0f} bindings/s overall",
            )
        )
        bench.add(
            Row(
                SCENARIO,
                "RabbitMQ CPU per event with a BCC station key (us): no bindings / all bound;"
                " of a followed station",
                f"{per_event[0]:.0f} / {per_event[1]:.0f}; {followed_us:.0f}",
                f"publish {rate_before:,.0f} / {rate_after:,.0f} / {rate_followed:,.0f} per s",
                ratio=f"{per_event[1] / max(per_event[0], 1e-9):.2f}x",
            )
        )
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
