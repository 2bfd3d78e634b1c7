"""Coalesced last-seen: newest time per CP, chunked events, nothing dropped when a publish fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from csms_shared.contracts.event_base import Event
from ws_gateway.seen import SEEN_EVENT, SeenTracker

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class Broker:
    def __init__(self, fail: int = 0) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def publish(self, event: Event) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker down")
        self.published.append((event.key(), orjson.loads(event.encode())))


async def test_newest_time_per_cp_in_one_event() -> None:
    broker = Broker()
    seen = SeenTracker("gw-1", broker.publish)
    seen.record("CP-1", T0)
    seen.record("CP-2", T0)
    seen.record("CP-1", T0 + timedelta(seconds=3, milliseconds=250))
    await seen.flush()
    [(key, body)] = broker.published
    assert key == SEEN_EVENT
    assert body["event"] == SEEN_EVENT and body["gateway"] == "gw-1"
    assert body["seen"] == {"CP-1": "2026-11-22T10:00:03.250Z", "CP-2": "2026-11-22T10:00:00Z"}
    assert len(seen) == 0
    await seen.flush()
    assert len(broker.published) == 1, "nothing new, nothing published"


async def test_chunks_keep_each_message_small() -> None:
    broker = Broker()
    seen = SeenTracker("gw-1", broker.publish, chunk=1000)
    for i in range(2500):
        seen.record(f"CP-{i}", T0)
    await seen.flush()
    assert [len(body["seen"]) for _, body in broker.published] == [1000, 1000, 500]
    ids = {cp for _, body in broker.published for cp in body["seen"]}
    assert len(ids) == 2500


@pytest.mark.parametrize("newer_meanwhile", [False, True])
async def test_a_failed_publish_is_retried_at_the_next_flush(newer_meanwhile: bool) -> None:
    broker = Broker(fail=1)
    seen = SeenTracker("gw-1", broker.publish, chunk=2)
    for i in range(3):
        seen.record(f"CP-{i}", T0)
    await seen.flush()
    assert broker.published == []
    if newer_meanwhile:
        seen.record("CP-0", T0 + timedelta(seconds=5))
    await seen.flush()
    merged = {cp: at for _, body in broker.published for cp, at in body["seen"].items()}
    assert merged == {
        "CP-0": "2026-11-22T10:00:05Z" if newer_meanwhile else "2026-11-22T10:00:00Z",
        "CP-1": "2026-11-22T10:00:00Z",
        "CP-2": "2026-11-22T10:00:00Z",
    }
