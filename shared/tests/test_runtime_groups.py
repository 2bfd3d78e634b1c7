"""ServiceRuntime's decision calls: group commit of the calls that queue for a handler slot,
bundles of them answered with one reply, and every call answered alone when its group fails."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from csms_shared.bus.bundle import encode_bundle, reply_items
from csms_shared.bus.router import CallContext, Router
from csms_shared.bus.runtime import ServiceRuntime, by_charge_point, lost_a_conflict
from csms_shared.bus.topology import HEADER_BUNDLE, HEADER_CHARGE_POINT, HEADER_GATEWAY
from csms_shared.ocpp.errors import PropertyConstraintViolation
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v16.messages import AuthorizeRequest, AuthorizeResponse

from .test_runtime_batch import LOG, FakeMessage, fake_runtime


class Request(FakeMessage):
    """An Authorize on its own, or (items) a bundle of them, asking for a reply."""

    def __init__(self, cp: str, items: list[tuple[str, Any]] | None = None) -> None:
        super().__init__(cp, reply_to="gateway.gw-1", body=orjson.dumps({"idTag": cp}))
        self.routing_key = "v16.Authorize"
        self.correlation_id = f"corr-{cp}"
        if items is not None:
            self.headers = {HEADER_BUNDLE: len(items), HEADER_GATEWAY: "gw-1"}
            self.body = encode_bundle(
                [(c, f"m-{c}", "2026-01-01T00:00:00+00:00", p) for c, p in items]
            )

    async def reject(self, requeue: bool = False) -> None:
        assert self.outcome is None
        self.outcome = f"reject requeue={requeue}"


def make_runtime(slots: int = 1, lanes: int = 2) -> tuple[ServiceRuntime, dict[str, Any]]:
    """A runtime whose Authorize handler records who it answered in which transaction."""
    router = Router(service="group-test")
    seen: dict[str, Any] = {"calls": [], "gate": None}

    @router.on(Action.AUTHORIZE)
    async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
        seen["calls"].append((ctx.charge_point_id, ctx.session.n))  # type: ignore[attr-defined]
        if seen["gate"] is not None:
            await seen["gate"].wait()
        if ctx.charge_point_id.startswith("refused"):
            raise PropertyConstraintViolation("refused on purpose")
        if ctx.charge_point_id.startswith("broken"):
            raise RuntimeError("a bug")
        status = AuthorizationStatus.ACCEPTED
        return AuthorizeResponse(id_tag_info=IdTagInfo(status=status, parent_id_tag=request.id_tag))

    runtime = fake_runtime(
        router,
        concurrency=slots,
        group_lanes=lanes,
    )
    replies: list[tuple[str | None, Any]] = []

    async def reply(message: Any, body: dict[str, Any] | bytes) -> None:
        replies.append(
            (message.correlation_id, orjson.loads(body) if isinstance(body, bytes) else body)
        )

    runtime._reply = reply  # type: ignore[method-assign]
    seen["replies"] = replies
    return runtime, seen


def answered(body: dict[str, Any]) -> str:
    """The idTag a reply body names, or its error code."""
    if "error" in body:
        return str(body["error"]["code"])
    return str(body["payload"]["idTagInfo"]["parentIdTag"])


async def test_calls_that_queue_for_a_slot_are_answered_from_one_transaction() -> None:
    LOG.clear()
    runtime, seen = make_runtime(slots=1, lanes=1)
    seen["gate"] = asyncio.Event()
    first = asyncio.create_task(runtime._on_call(Request("cp0")))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # cp0 holds the only lane, in transaction 1
    later = [Request(f"cp{n}") for n in range(1, 6)]
    tasks = [asyncio.create_task(runtime._on_call(m)) for m in later]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    seen["gate"].set()
    await asyncio.gather(first, *tasks)
    assert seen["calls"] == [("cp0", 1), *((f"cp{n}", 2) for n in range(1, 6))]
    # Each call is acked after the commit of its own group.
    assert LOG.index("commit 1") < LOG.index("ack cp0")
    assert all(LOG.index("commit 2") < LOG.index(f"ack cp{n}") for n in range(1, 6))
    assert {corr: answered(body) for corr, body in seen["replies"]} == {
        f"corr-cp{n}": f"cp{n}" for n in range(6)
    }


async def test_an_idle_service_answers_a_call_at_once_in_its_own_transaction() -> None:
    LOG.clear()
    runtime, seen = make_runtime(slots=4)
    await runtime._on_call(Request("cp0"))  # type: ignore[arg-type]
    await runtime._on_call(Request("cp1"))  # type: ignore[arg-type]
    assert seen["calls"] == [("cp0", 1), ("cp1", 2)]
    assert [answered(body) for _, body in seen["replies"]] == ["cp0", "cp1"]


async def test_a_bundle_is_answered_once_with_one_reply_per_item_in_order() -> None:
    LOG.clear()
    runtime, seen = make_runtime(slots=2)
    items = [(f"cp{n}", {"idTag": f"cp{n}"}) for n in range(4)]
    items.insert(2, ("bad", {"idTag": 42}))  # breaks the schema: its own CALLERROR
    bundle = Request("bundle", items)
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    [(corr, reply)] = seen["replies"]
    assert corr == "corr-bundle"
    assert [answered(body) for body in reply_items(reply, 5)] == [
        "cp0",
        "cp1",
        "TypeConstraintViolation",
        "cp2",
        "cp3",
    ]
    # The valid items in one transaction, acked once after the reply.
    assert sorted(seen["calls"]) == [(f"cp{n}", 1) for n in range(4)]
    assert LOG == ["commit 1", "ack bundle"]
    assert bundle.outcome == "ack"


async def test_a_failed_group_is_rolled_back_and_every_call_answered_alone() -> None:
    LOG.clear()
    runtime, seen = make_runtime(slots=2)
    items = [("cp0", {"idTag": "a"}), ("refused", {"idTag": "b"}), ("broken", {"idTag": "c"})]
    items += [("cp3", {"idTag": "d"})]
    bundle = Request("bundle", items)
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    [(_, reply)] = seen["replies"]
    bodies = reply_items(reply, 4)
    assert answered(bodies[0]) == "a" and answered(bodies[3]) == "d"
    assert bodies[1]["error"]["code"] == "PropertyConstraintViolation"
    assert bodies[1]["error"]["description"] == "refused on purpose"
    assert bodies[2]["error"]["code"] == "InternalError"
    assert "a bug" not in orjson.dumps(bodies[2]).decode()
    # The group's transaction rolled back at the first failure; then each alone.
    assert LOG[0] == "rollback 1"
    assert [c for c, _ in seen["calls"]][-4:] == ["cp0", "refused", "broken", "cp3"]
    assert [LOG.count(f"commit {n}") for n in (2, 5)] == [1, 1]
    assert bundle.outcome == "ack"


async def test_groups_are_no_larger_than_the_maximum() -> None:
    LOG.clear()
    runtime, seen = make_runtime(slots=1, lanes=1)
    runtime.group_max = 3
    seen["gate"] = asyncio.Event()
    first = asyncio.create_task(runtime._on_call(Request("cp0")))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    tasks = [
        asyncio.create_task(runtime._on_call(Request(f"cp{n}")))  # type: ignore[arg-type]
        for n in range(1, 8)
    ]
    await asyncio.sleep(0.05)
    seen["gate"].set()
    await asyncio.gather(first, *tasks)
    sizes: dict[int, int] = {}
    for _, txn in seen["calls"]:
        sizes[txn] = sizes.get(txn, 0) + 1
    assert sorted(sizes.values()) == [1, 1, 3, 3]
    assert len(seen["replies"]) == 8


async def test_a_malformed_bundle_of_decision_calls_is_refused_whole() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    bundle = Request("bundle", [])
    bundle.body = b'{"not": "a list"}'
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    [(_, reply)] = seen["replies"]
    assert reply["error"]["code"] == "InternalError"
    assert bundle.outcome == "reject requeue=False"
    assert seen["calls"] == []


@pytest.mark.parametrize("count", [1, 3])
async def test_headers_of_each_item_reach_its_handler(count: int) -> None:
    runtime, seen = make_runtime(slots=2)
    if count == 1:
        await runtime._on_call(Request("cpA"))  # type: ignore[arg-type]
    else:
        items = [(f"cp{n}", {"idTag": f"t{n}"}) for n in range(count)]
        await runtime._on_call(Request("bundle", items))  # type: ignore[arg-type]
    expected = ["cpA"] if count == 1 else [f"cp{n}" for n in range(count)]
    assert [cp for cp, _ in seen["calls"]] == expected


# -- events: the ones that queue for a handler are followed in one transaction ---------------


class Event(FakeMessage):
    def __init__(self, n: int, key: str = "station.connected") -> None:
        super().__init__(f"ev{n}", body=orjson.dumps({"n": n}))
        self.exchange = "ocpp.events"
        self.routing_key = key


def event_runtime(lanes: int = 1) -> tuple[ServiceRuntime, dict[str, Any]]:
    router = Router(service="event-test")
    seen: dict[str, Any] = {"events": [], "gate": None}

    @router.event("station.*")
    async def follow(body: dict[str, Any], ctx: Any) -> None:
        seen["events"].append((body["n"], ctx.session.n))
        if seen["gate"] is not None:
            await seen["gate"].wait()
        if body["n"] == 13:
            raise RuntimeError("an event this handler cannot take")

    runtime = fake_runtime(
        router,
        concurrency=4,
        group_lanes=lanes,
    )
    return runtime, seen


async def test_events_that_queue_for_their_handler_are_followed_in_one_transaction() -> None:
    LOG.clear()
    runtime, seen = event_runtime()
    seen["gate"] = asyncio.Event()
    first = asyncio.create_task(runtime._on_event(Event(0)))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    later = [Event(n, "station.disconnected") for n in range(1, 5)]
    tasks = [asyncio.create_task(runtime._on_event(e)) for e in later]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    seen["gate"].set()
    await asyncio.gather(first, *tasks)
    assert seen["events"] == [(0, 1), *((n, 2) for n in range(1, 5))]
    assert all(LOG.index("commit 2") < LOG.index(f"ack ev{n}") for n in range(1, 5))
    assert {e.outcome for e in later} == {"ack"}


async def test_a_failed_event_group_is_followed_event_by_event() -> None:
    LOG.clear()
    runtime, seen = event_runtime()
    seen["gate"] = asyncio.Event()
    first = asyncio.create_task(runtime._on_event(Event(0)))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    later = [Event(12), Event(13), Event(14)]
    tasks = [asyncio.create_task(runtime._on_event(e)) for e in later]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    seen["gate"].set()
    await asyncio.gather(first, *tasks)
    assert "rollback 2" in LOG
    # Each again in a transaction of its own; only the bad one goes back to the queue.
    assert [n for n, txn in seen["events"] if txn > 2] == [12, 13, 14]
    assert [e.outcome for e in later] == ["ack", "nack requeue=True", "ack"]


# -- lock order and conflicts ----------------------------------------------------------------


class Conflict(Exception):
    """What asyncpg raises when Postgres picked this transaction to end a deadlock."""

    sqlstate = "40P01"


class Wrapped(Exception):
    """What SQLAlchemy wraps a driver error in (`orig`)."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped")
        self.orig = orig


def test_conflicts_are_recognised_through_their_wrappers() -> None:
    assert lost_a_conflict(Conflict())
    assert lost_a_conflict(Wrapped(Conflict()))
    try:
        raise RuntimeError("outer") from Wrapped(Conflict())
    except RuntimeError as exc:
        assert lost_a_conflict(exc)
    assert not lost_a_conflict(RuntimeError("a bug"))


def test_items_are_ordered_by_charge_point_and_keep_their_order_per_cp() -> None:
    items = [{HEADER_CHARGE_POINT: cp} for cp in ("b", "a", "c", "a", "b")]
    assert by_charge_point(items) == [1, 3, 0, 4, 2]


async def test_a_group_that_lost_a_deadlock_runs_once_more_in_cp_order() -> None:
    LOG.clear()
    router = Router(service="conflict-test")
    runs: list[list[str]] = []

    @router.on(Action.AUTHORIZE)
    async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
        raise AssertionError("the group handler answers")

    @router.on_group(Action.AUTHORIZE)
    async def group(calls: list[Any], ctx: Any) -> list[AuthorizeResponse]:
        runs.append([call.charge_point_id for _, call in calls])
        if len(runs) == 1:
            raise Wrapped(Conflict())
        info = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
        return [
            AuthorizeResponse(id_tag_info=info.model_copy(update={"parent_id_tag": r.id_tag}))
            for r, _ in calls
        ]

    runtime = fake_runtime(
        router,
        concurrency=2,
    )
    replies: list[Any] = []

    async def reply(message: Any, body: Any) -> None:
        replies.append(orjson.loads(body))

    runtime._reply = reply  # type: ignore[method-assign]
    items = [(cp, {"idTag": cp}) for cp in ("cpC", "cpA", "cpB")]
    await runtime._on_call(Request("bundle", items))  # type: ignore[arg-type]
    assert runs == [["cpA", "cpB", "cpC"], ["cpA", "cpB", "cpC"]]
    assert LOG[:2] == ["rollback 1", "commit 2"]
    # Answers in the bundle's order, not the lock order.
    assert [answered(b) for b in reply_items(replies[0], 3)] == ["cpC", "cpA", "cpB"]


async def test_an_event_group_handler_gets_the_queued_events_at_once_in_cp_order() -> None:
    LOG.clear()
    router = Router(service="event-group-test")
    seen: dict[str, Any] = {"one": [], "groups": [], "gate": asyncio.Event()}

    @router.event("station.connected")
    async def one(body: dict[str, Any], ctx: Any) -> None:
        seen["one"].append(body["chargePointId"])
        await seen["gate"].wait()

    @router.on_event_group("station.connected")
    async def many(bodies: list[dict[str, Any]], ctx: Any) -> None:
        seen["groups"].append([b["chargePointId"] for b in bodies])

    runtime = fake_runtime(
        router,
        concurrency=4,
        group_lanes=1,
    )

    def event(cp: str) -> Event:
        message = Event(0)
        message.cp = cp
        message.body = orjson.dumps({"chargePointId": cp})
        return message

    first = asyncio.create_task(runtime._on_event(event("CP-0")))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    later = [event(cp) for cp in ("CP-9", "CP-2", "CP-5")]
    tasks = [asyncio.create_task(runtime._on_event(e)) for e in later]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    seen["gate"].set()
    await asyncio.gather(first, *tasks)
    assert seen["one"] == ["CP-0"]  # alone: the one-event handler
    assert seen["groups"] == [["CP-2", "CP-5", "CP-9"]]
    assert {e.outcome for e in later} == {"ack"}


def test_a_group_handler_needs_the_handler_of_one_first() -> None:
    router = Router(service="x")
    with pytest.raises(ValueError):
        router.on_event_group("station.connected")(lambda bodies, ctx: None)
