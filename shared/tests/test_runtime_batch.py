"""ServiceRuntime's batched notifications: one transaction per batch, one ack per delivery after
the commit, and a failed batch handled again message by message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from csms_shared.bus.access import ROLES
from csms_shared.bus.bundle import BadBundle, decode_bundle, encode_bundle
from csms_shared.bus.router import CallContext, Context, Router
from csms_shared.bus.runtime import ServiceRuntime, rpc_lane
from csms_shared.bus.topology import (
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    call_routing_key,
)
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.messages import MeterValuesRequest, MeterValuesResponse

LOG: list[str] = []


class FakeSession:
    """Records its transactions' outcome in LOG."""

    def __init__(self, n: int) -> None:
        self.n = n

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            LOG.append(f"rollback {self.n}")
            raise
        LOG.append(f"commit {self.n}")

    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeSessions:
    def __init__(self) -> None:
        self.kw: dict[str, Any] = {}
        self.opened = 0

    def __call__(self) -> FakeSession:
        self.opened += 1
        return FakeSession(self.opened)


def fake_runtime(router: Router, **options: Any) -> ServiceRuntime:
    """A runtime of `router` on fake DB sessions, never connected to a broker."""
    runtime = ServiceRuntime(
        router,
        settings=None,
        broker_url="amqp://unused",
        sessions=FakeSessions(),  # type: ignore[arg-type]
        **options,
    )
    runtime.broker_users = dict.fromkeys(ROLES, "guest")  # one trust domain, as in dev
    return runtime


class FakeMessage:
    def __init__(self, cp: str, *, reply_to: str | None = None, body: bytes | None = None):
        self.cp = cp
        self.exchange = "ocpp.calls"
        self.user_id: str | None = "guest"
        self.routing_key = call_routing_key("MeterValues")
        self.headers = {HEADER_CHARGE_POINT: cp}
        self.reply_to = reply_to
        self.correlation_id = None
        self.body = body or orjson.dumps(
            {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}
                ],
            }
        )
        self.outcome: str | None = None

    async def ack(self) -> None:
        assert self.outcome is None
        self.outcome = "ack"
        LOG.append(f"ack {self.cp}")

    async def nack(self, requeue: bool = True) -> None:
        assert self.outcome is None
        self.outcome = f"nack requeue={requeue}"


def make_runtime(batch_size: int = 100) -> tuple[ServiceRuntime, dict[str, list[Any]]]:
    router = Router(service="batch-test")
    seen: dict[str, list[Any]] = {"single": [], "batches": []}

    @router.on(Action.METER_VALUES)
    async def single(request: MeterValuesRequest, ctx: CallContext) -> MeterValuesResponse:
        seen["single"].append(ctx.charge_point_id)
        if ctx.charge_point_id.startswith("poison"):
            raise RuntimeError("poison")
        return MeterValuesResponse()

    @router.on_batch(Action.METER_VALUES)
    async def batch(calls: list[tuple[MeterValuesRequest, CallContext]], ctx: Context) -> None:
        cps = [call.charge_point_id for _, call in calls]
        assert all(call.session is ctx.session for _, call in calls)
        seen["batches"].append(cps)
        if any(cp.startswith("poison") for cp in cps):
            raise RuntimeError("poison in the batch")

    runtime = fake_runtime(
        router,
        concurrency=2,
        batch_size=batch_size,
        batch_wait=0.01,
    )
    return runtime, seen


async def settle(runtime: ServiceRuntime, messages: list[FakeMessage]) -> None:
    for _ in range(1000):
        if all(m.outcome for m in messages) and not runtime._flushes:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("messages never settled")


async def test_notifications_are_written_in_one_transaction_and_acked_after_it() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    messages = [FakeMessage(f"cp{i}") for i in range(5)]
    for message in messages:
        await runtime._on_call(message)  # type: ignore[arg-type]
    await settle(runtime, messages)
    assert seen["batches"] == [[f"cp{i}" for i in range(5)]]
    assert seen["single"] == []
    assert LOG == ["commit 1", *(f"ack cp{i}" for i in range(5))]


async def test_a_full_batch_is_flushed_at_once() -> None:
    LOG.clear()
    runtime, seen = make_runtime(batch_size=3)
    messages = [FakeMessage(f"cp{i}") for i in range(7)]
    for message in messages:
        await runtime._on_call(message)  # type: ignore[arg-type]
    await settle(runtime, messages)
    assert sorted(map(len, seen["batches"])) == [1, 3, 3]
    assert {m.outcome for m in messages} == {"ack"}


async def test_a_poison_message_fails_alone_after_its_batch_failed() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    messages = [FakeMessage("cp0"), FakeMessage("poison"), FakeMessage("cp2")]
    for message in messages:
        await runtime._on_call(message)  # type: ignore[arg-type]
    await settle(runtime, messages)
    assert seen["batches"] == [["cp0", "cp2", "poison"]]  # sorted by charge point
    assert sorted(seen["single"]) == ["cp0", "cp2", "poison"]
    assert LOG[0] == "rollback 1"
    assert [m.outcome for m in messages] == ["ack", "nack requeue=True", "ack"]


async def test_calls_that_expect_a_reply_and_invalid_payloads_are_not_batched() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    replies: list[Any] = []

    async def reply(message: Any, body: dict[str, Any]) -> None:
        replies.append(body)

    runtime._reply = reply  # type: ignore[method-assign]
    asked = FakeMessage("asked", reply_to="amq.rabbitmq.reply-to")
    invalid = FakeMessage("invalid", body=b'{"connectorId": "x"}')
    await runtime._on_call(asked)  # type: ignore[arg-type]
    await runtime._on_call(invalid)  # type: ignore[arg-type]
    await settle(runtime, [asked, invalid])
    assert seen == {"single": ["asked"], "batches": []}
    assert asked.outcome == invalid.outcome == "ack"
    assert replies[0] == {"payload": {}}


# -- bundles: several notifications in one AMQP message (csms_shared.bus.bundle) -------------


class FakeBundle(FakeMessage):
    """One AMQP message carrying the MeterValues of several CPs."""

    def __init__(self, items: list[tuple[str, Any]] | None = None, body: bytes | None = None):
        super().__init__("bundle")
        self.items = items or []
        self.headers = {HEADER_BUNDLE: len(self.items), HEADER_GATEWAY: "gw-1"}
        self.body = body or encode_bundle(
            [(cp, f"m-{cp}", "2026-01-01T00:00:00.250000+00:00", p) for cp, p in self.items]
        )

    async def reject(self, requeue: bool = False) -> None:
        assert self.outcome is None
        self.outcome = f"reject requeue={requeue}"


METER = {
    "connectorId": 1,
    "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}],
}


def recording_republish(runtime: ServiceRuntime, fail: bool = False) -> list[dict[str, Any]]:
    republished: list[dict[str, Any]] = []

    async def republish(routing_key: str, part: Any) -> None:
        if fail:
            raise ConnectionError("broker gone")
        republished.append({"key": routing_key, **part.headers, "payload": part.payload})

    runtime.republish = republish  # type: ignore[method-assign]
    return republished


async def test_a_bundle_joins_one_batch_and_is_acked_once_after_the_commit() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    bundle = FakeBundle([(f"cp{i}", METER) for i in range(5)])
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    await settle(runtime, [bundle])
    assert seen["batches"] == [[f"cp{i}" for i in range(5)]]
    assert LOG == ["commit 1", "ack bundle"]
    assert bundle.outcome == "ack"


async def test_bundle_items_carry_their_own_cp_message_id_and_receive_time() -> None:
    router = Router(service="bundle-test")
    contexts: list[CallContext] = []

    @router.on(Action.METER_VALUES)
    async def single(request: MeterValuesRequest, ctx: CallContext) -> MeterValuesResponse:
        contexts.append(ctx)
        return MeterValuesResponse()

    runtime = fake_runtime(
        router,
        concurrency=2,
    )
    bundle = FakeBundle([("cpA", METER), ("cpB", METER)])
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    await settle(runtime, [bundle])
    assert sorted((c.charge_point_id, c.message_id, c.gateway_id) for c in contexts) == [
        ("cpA", "m-cpA", "gw-1"),
        ("cpB", "m-cpB", "gw-1"),
    ]
    assert {c.received_at.isoformat() for c in contexts if c.received_at} == {
        "2026-01-01T00:00:00.250000+00:00"
    }
    assert bundle.outcome == "ack"


async def test_a_poison_item_is_published_alone_and_the_rest_of_its_bundle_acked() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    republished = recording_republish(runtime)
    bundle = FakeBundle([("cp0", METER), ("poison", METER), ("cp2", METER)])
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    await settle(runtime, [bundle])
    assert sorted(seen["single"]) == ["cp0", "cp2", "poison"]
    assert [(r["key"], r[HEADER_CHARGE_POINT], r["payload"]) for r in republished] == [
        (call_routing_key("MeterValues"), "poison", METER)
    ]
    assert bundle.outcome == "ack"


async def test_a_bundle_goes_back_whole_when_its_poison_item_cannot_be_published_alone() -> None:
    LOG.clear()
    runtime, _ = make_runtime()
    recording_republish(runtime, fail=True)
    bundle = FakeBundle([("cp0", METER), ("poison", METER)])
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    await settle(runtime, [bundle])
    assert bundle.outcome == "nack requeue=True"


async def test_an_invalid_item_is_dropped_like_a_single_invalid_notification() -> None:
    LOG.clear()
    runtime, seen = make_runtime()
    bundle = FakeBundle([("cp0", METER), ("bad", {"connectorId": "x"}), ("cp2", METER)])
    await runtime._on_call(bundle)  # type: ignore[arg-type]
    await settle(runtime, [bundle])
    assert seen["batches"] == [["cp0", "cp2"]]
    assert bundle.outcome == "ack"


async def test_a_malformed_bundle_is_dead_lettered_untouched() -> None:
    for body in (b"not json", b"[]", b'{"cp": "x"}', b'[{"cp": "x", "id": 1, "at": "t"}]'):
        runtime, seen = make_runtime()
        bundle = FakeBundle(body=body)
        await runtime._on_call(bundle)  # type: ignore[arg-type]
        assert bundle.outcome == "reject requeue=False", body
        assert seen == {"single": [], "batches": []}


def test_bundle_codec_round_trip() -> None:
    body = encode_bundle([("cp1", "m1", "2026-01-01T00:00:00+00:00", {"a": 1})])
    [item] = decode_bundle(body, "gw")
    assert item.payload == {"a": 1}
    assert item.headers == {
        HEADER_CHARGE_POINT: "cp1",
        HEADER_MESSAGE_ID: "m1",
        HEADER_GATEWAY: "gw",
        HEADER_RECEIVED_AT: "2026-01-01T00:00:00+00:00",
    }
    with pytest.raises(BadBundle):
        decode_bundle(b'[{"cp": "x", "id": "1", "at": "t"}]', "gw")


# -- the RPC lane: RPCs keep slots of their own ------------------------------------------------


class FakeRpc(FakeMessage):
    def __init__(self, method: str, params: dict[str, Any]) -> None:
        super().__init__("rpc", reply_to="amq.rabbitmq.reply-to", body=orjson.dumps(params))
        self.type = method


def test_rpcs_get_a_lane_of_their_own_from_three_slots_up() -> None:
    assert [rpc_lane(n) for n in (1, 2, 3, 5, 6, 9, 63)] == [0, 0, 1, 1, 2, 3, 21]


async def test_an_rpc_is_answered_while_every_other_slot_is_busy() -> None:
    router = Router(service="lane-test")

    @router.rpc("ping")
    async def ping(params: dict[str, Any], ctx: Context) -> str:
        return "pong"

    runtime = fake_runtime(
        router,
        concurrency=9,
    )
    replies: list[Any] = []

    async def reply(message: Any, body: dict[str, Any]) -> None:
        replies.append(body)

    runtime._reply = reply  # type: ignore[method-assign]
    for _ in range(6):  # a backlog holds every slot of calls and events
        await runtime.slots.acquire()
    assert runtime.slots.locked()
    message = FakeRpc("ping", {})
    await asyncio.wait_for(runtime._on_rpc(message), 5)  # type: ignore[arg-type]
    assert replies == [{"result": "pong"}]
    assert message.outcome == "ack"


async def test_an_rpc_from_a_caller_it_does_not_expect_is_forbidden_and_not_run() -> None:
    router = Router(service="callers-test")
    ran: list[str] = []

    @router.rpc("approve", callers={"command-api"})
    async def approve(params: dict[str, Any], ctx: Context) -> str:
        ran.append("approve")
        return "approved"

    runtime = fake_runtime(router)
    runtime.broker_users = {"command-api": "csms-command-api", "gateway": "csms-gateway"}
    replies: list[Any] = []

    async def reply(message: Any, body: dict[str, Any]) -> None:
        replies.append(body)

    runtime._reply = reply  # type: ignore[method-assign]
    for user_id in ("csms-gateway", None, "someone-else"):
        message = FakeRpc("approve", {})
        message.user_id = user_id
        await runtime._on_rpc(message)  # type: ignore[arg-type]
        assert message.outcome == "ack"
    message = FakeRpc("approve", {})
    message.user_id = "csms-command-api"
    await runtime._on_rpc(message)  # type: ignore[arg-type]
    assert [r.get("error", {}).get("code") for r in replies] == ["forbidden"] * 3 + [None]
    assert replies[-1] == {"result": "approved"}
    assert ran == ["approve"]
