"""ServiceRuntime's events (followed in groups, like calls) and RPCs (a lane of their own)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from csms_shared.bus.router import Context, Router
from csms_shared.bus.unit_of_work import rpc_lane
from csms_shared.contracts.events import StationConnected
from csms_shared.contracts.resources import Resource
from csms_shared.contracts.rpc import NoParams, RpcMethod, RpcParams, SessionsRpc
from csms_shared.ocpp import utcnow

from .fakes import FakeMessage, Recorder, fake_runtime, until


class Event(FakeMessage):
    def __init__(
        self, log: list[str], n: int, key: str = "gateway.heartbeat", body: bytes | None = None
    ):
        super().__init__("x", f"ev{n}", log=log)
        self.exchange = "ocpp.events"
        self.routing_key = key
        # Bodies fit their event's model (contracts/events.py): the gateway's id carries `n`.
        self.body = orjson.dumps({"event": key, "gateway": str(n)}) if body is None else body


def connected(log: list[str], n: int, cp: str) -> Event:
    """A station.connected of `cp`, as the gateway publishes it."""
    event = StationConnected(
        charge_point_id=cp, gateway="gw", connection_id="c1", connected_at=utcnow()
    )
    return Event(log, n, "station.connected", event.encode())


class Following:
    """A runtime following gateway.* events one at a time; `gate` holds the handler (which
    gets each body as its routing key's model)."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.events: list[tuple[int, int]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        router = Router(service="event-test")

        @router.event("gateway.*")
        async def follow(body: Any, ctx: Any) -> None:
            n = int(body.gateway)
            self.events.append((n, ctx.session.n))
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if n == 13:
                raise RuntimeError("an event this handler cannot take")

        self.runtime = fake_runtime(router, self.log, concurrency=4, group_lanes=1)

    async def held_then(self, later: list[Event]) -> None:
        """Event 0 holds the only lane while `later` queue; then all go on."""
        self.gate = asyncio.Event()
        first = asyncio.create_task(self.runtime.on_event(Event(self.log, 0)))  # type: ignore[arg-type]
        await self.entered.wait()
        tasks = [asyncio.create_task(self.runtime.on_event(e)) for e in later]  # type: ignore[arg-type]
        await until(lambda: self.runtime.followers.waiting("event gateway.*") == len(later))
        self.gate.set()
        await asyncio.gather(first, *tasks)


async def test_events_that_queue_for_their_handler_are_followed_in_one_transaction() -> None:
    test = Following()
    later = [Event(test.log, n, "gateway.stopped") for n in range(1, 5)]
    await test.held_then(later)
    assert test.events == [(0, 1), *((n, 2) for n in range(1, 5))]
    assert all(test.log.index("commit 2") < test.log.index(f"ack ev{n}") for n in range(1, 5))
    assert {e.outcome for e in later} == {"ack"}


async def test_a_failed_event_group_is_followed_event_by_event() -> None:
    test = Following()
    later = [Event(test.log, 12), Event(test.log, 13), Event(test.log, 14)]
    await test.held_then(later)
    assert "rollback 2" in test.log
    # Each again in a transaction of its own; only the bad one goes back to the queue.
    assert [n for n, txn in test.events if txn > 2] == [12, 13, 14]
    assert [e.outcome for e in later] == ["ack", "nack requeue=True", "ack"]


async def test_an_event_group_handler_gets_the_queued_events_at_once_in_cp_order() -> None:
    log: list[str] = []
    router = Router(service="event-group-test")
    seen: dict[str, Any] = {"one": [], "groups": []}
    gate, entered = asyncio.Event(), asyncio.Event()

    @router.event("station.connected")
    async def one(body: StationConnected, ctx: Any) -> None:
        seen["one"].append(body.charge_point_id)
        entered.set()
        await gate.wait()

    @router.on_event_group("station.connected")
    async def many(bodies: list[StationConnected], ctx: Any) -> None:
        seen["groups"].append([b.charge_point_id for b in bodies])

    runtime = fake_runtime(router, log, concurrency=4, group_lanes=1)
    first = asyncio.create_task(runtime.on_event(connected(log, 0, "CP-0")))  # type: ignore[arg-type]
    await entered.wait()
    later = [connected(log, n, f"CP-{n}") for n in (9, 2, 5)]
    tasks = [asyncio.create_task(runtime.on_event(e)) for e in later]  # type: ignore[arg-type]
    await until(lambda: runtime.followers.waiting("event station.connected") == 3)
    gate.set()
    await asyncio.gather(first, *tasks)
    assert seen["one"] == ["CP-0"]  # alone: the one-event handler
    assert seen["groups"] == [["CP-2", "CP-5", "CP-9"]]
    assert {e.outcome for e in later} == {"ack"}


async def test_a_patterns_groups_run_one_after_the_other_even_with_two_call_lanes() -> None:
    """A CP's events are applied in publishing order: the group behind a running one waits.

    (With two lanes, a Full and a Differential local-list version of one CP were once
    applied side by side and the later one won the race.)"""
    log: list[str] = []
    router = Router(service="event-order-test")
    running: list[str] = []
    overlapped: list[str] = []
    gate, entered = asyncio.Event(), asyncio.Event()

    @router.event("station.connected")
    async def one(body: StationConnected, ctx: Any) -> None:
        if running:
            overlapped.append(body.connection_id)
        running.append(body.connection_id)
        entered.set()
        if body.connection_id == "c0":
            await gate.wait()
        running.remove(body.connection_id)

    runtime = fake_runtime(router, log, concurrency=4, group_lanes=2)
    events = [connected(log, n, "CP-1") for n in range(3)]
    for n, event in enumerate(events):
        body = orjson.loads(event.body)
        body["connectionId"] = f"c{n}"
        event.body = orjson.dumps(body)
    first = asyncio.create_task(runtime.on_event(events[0]))  # type: ignore[arg-type]
    await entered.wait()
    later = [asyncio.create_task(runtime.on_event(e)) for e in events[1:]]  # type: ignore[arg-type]
    await until(lambda: runtime.followers.waiting("event station.connected") == 2)
    gate.set()
    await asyncio.gather(first, *later)
    assert overlapped == []
    assert {e.outcome for e in events} == {"ack"}


def test_a_group_handler_needs_the_handler_of_one_first() -> None:
    router = Router(service="x")
    with pytest.raises(ValueError):
        router.on_event_group("station.connected")(lambda bodies, ctx: None)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("station.connected", "station.connected"),
        ("station.connected", "station.*"),
        ("station.#", "station.booted"),
        ("#", "meter.current"),
        ("transaction.*.x", "transaction.#"),
        ("a.#.c", "a.b.*"),
    ],
)
def test_a_second_follower_of_the_same_events_is_refused_at_registration(
    first: str, second: str
) -> None:
    """The runtime hands an event to the first pattern that matches it: a second handler of
    the same events would never run (security, fourth pass, item 9)."""
    router = Router(service="x")
    router.event(first)(lambda body, ctx: None)
    with pytest.raises(ValueError, match="overlaps"):
        router.event(second)(lambda body, ctx: None)
    assert list(router.events) == [first]


@pytest.mark.parametrize(
    ("a", "b"),
    [("station.connected", "station.booted"), ("station.*", "station.a.b"), ("a.#.c", "a.b.d")],
)
def test_patterns_that_share_no_key_are_both_followed(a: str, b: str) -> None:
    router = Router(service="x")
    router.event(a)(lambda body, ctx: None)
    router.event(b)(lambda body, ctx: None)
    assert list(router.events) == [a, b]


def test_only_command_outcomes_are_followed_by_action_and_only_by_action_names() -> None:
    router = Router(service="x")
    router.event("command.completed", actions=["SendLocalList", "ReserveNow", "ReserveNow"])(
        lambda body, ctx: None
    )
    assert router.event_actions == {"command.completed": ("ReserveNow", "SendLocalList")}
    for pattern, kwargs in (
        ("transaction.started", {}),
        ("command.*", {}),
        ("command.completed", {"per_station": True}),
    ):
        with pytest.raises(ValueError, match="not routed by action"):
            Router(service="y").event(pattern, actions=["ReserveNow"], **kwargs)
    with pytest.raises(ValueError, match="no action names"):
        Router(service="y").event("command.completed", actions=["Reserve.Now"])
    assert "transaction.started" not in router.event_actions


def test_a_second_group_handler_is_refused() -> None:
    router = Router(service="x")
    router.event("station.connected")(lambda body, ctx: None)
    router.on_event_group("station.connected")(lambda bodies, ctx: None)
    with pytest.raises(ValueError, match="already has a group handler"):
        router.on_event_group("station.connected")(lambda bodies, ctx: None)


# -- the RPC lane: RPCs keep slots of their own ------------------------------------------------


class FakeRpc(FakeMessage):
    def __init__(self, method: str, params: dict[str, Any], user_id: str | None = "guest"):
        super().__init__("x", "rpc", params, reply_to="amq.rabbitmq.reply-to")
        self.type = method
        self.user_id = user_id


def test_rpcs_get_a_lane_of_their_own_from_three_slots_up() -> None:
    assert [rpc_lane(n) for n in (1, 2, 3, 5, 6, 9, 63)] == [0, 0, 1, 1, 2, 3, 21]


class Said(Resource):
    """What a test RPC answers."""

    text: str


async def test_an_rpc_is_answered_while_every_other_slot_is_busy() -> None:
    router = Router(service="lane-test")

    @router.rpc(RpcMethod("ping", "lane-test", NoParams, Said))
    async def ping(params: NoParams, ctx: Context) -> Said:
        return Said(text="pong")

    outbound = Recorder()
    runtime = fake_runtime(router, [], outbound, concurrency=9)
    for first in (False,) * 5 + (True,):  # a backlog holds every slot of calls and events
        await runtime.work.acquire(first=first)
    assert runtime.work.free == 0
    message = FakeRpc("ping", {})
    await asyncio.wait_for(runtime.on_rpc(message), 5)  # type: ignore[arg-type]
    assert outbound.replies == [("corr-rpc", {"result": {"text": "pong"}})]
    assert message.outcome == "ack"


async def test_an_rpc_from_a_caller_it_does_not_expect_is_forbidden_and_not_run() -> None:
    router = Router(service="callers-test")
    ran: list[str] = []

    @router.rpc(RpcMethod("approve", "callers-test", NoParams, Said), callers={"command-api"})
    async def approve(params: NoParams, ctx: Context) -> Said:
        ran.append("approve")
        return Said(text="approved")

    outbound = Recorder()
    runtime = fake_runtime(router, [], outbound)
    runtime.broker_users = {"command-api": "csms-command-api", "gateway": "csms-gateway"}
    for user_id in ("csms-gateway", None, "someone-else", "csms-command-api"):
        message = FakeRpc("approve", {}, user_id)
        await runtime.on_rpc(message)  # type: ignore[arg-type]
        assert message.outcome == "ack"
    replies = [body for _, body in outbound.replies]
    assert [r.get("error", {}).get("code") for r in replies] == ["forbidden"] * 3 + [None]
    assert replies[-1] == {"result": {"text": "approved"}}
    assert ran == ["approve"]


class Greeting(RpcParams):
    name: str


async def test_an_rpc_gets_its_params_as_its_model_and_invalid_ones_are_refused() -> None:
    router = Router(service="params-test")
    got: list[Greeting] = []

    @router.rpc(RpcMethod("greet", "params-test", Greeting, Said))
    async def greet(params: Greeting, ctx: Context) -> Said:
        got.append(params)
        return Said(text=f"hello {params.name}")

    outbound = Recorder()
    runtime = fake_runtime(router, [], outbound)
    for params in ({"name": "ann"}, {}, {"name": "bo", "extra": 1}, {"name": "a\u0000b"}):
        message = FakeRpc("greet", params)
        await runtime.on_rpc(message)  # type: ignore[arg-type]
        assert message.outcome == "ack"
    replies = [body for _, body in outbound.replies]
    assert replies[0] == {"result": {"text": "hello ann"}}
    assert [r["error"]["code"] for r in replies[1:]] == ["invalid"] * 3
    assert got == [Greeting(name="ann")]


def test_an_rpc_method_of_another_service_is_refused_at_registration() -> None:
    router = Router(service="station-registry")
    with pytest.raises(ValueError, match="not an RPC method of station-registry"):
        router.rpc(SessionsRpc.get_id_tag)


async def test_a_handler_answering_another_model_is_an_internal_error() -> None:
    router = Router(service="model-test")

    @router.rpc(RpcMethod("wrong", "model-test", NoParams, Said))
    async def wrong(params: NoParams, ctx: Context) -> Said:
        return Greeting(name="not a Said")  # type: ignore[return-value]

    outbound = Recorder()
    runtime = fake_runtime(router, [], outbound)
    message = FakeRpc("wrong", {})
    await runtime.on_rpc(message)  # type: ignore[arg-type]
    assert outbound.replies == [
        ("corr-rpc", {"error": {"code": "internal", "message": "TypeError"}})
    ]
