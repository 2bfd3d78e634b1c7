"""The CALL pipeline through its public entry (`ServiceRuntime.on_call`): decode, validate,
coalesce (group commit), handle in a unit of work, reply, ack."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiormq.exceptions import ChannelInvalidStateError

from csms_shared.bus.ack import REQUEUE_DELAY
from csms_shared.bus.bundle import decode_bundle, encode_bundle
from csms_shared.bus.router import CallContext, Context, Router
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import (
    HEADER_CHARGE_POINT,
    HEADER_DEADLINE,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    HEADER_TAKEN,
    call_routing_key,
)
from csms_shared.bus.unit_of_work import ATTEMPTS, by_charge_point, lost_a_conflict
from csms_shared.contracts.envelopes import BundledCall, BundleReply, CallReply
from csms_shared.ocpp.errors import PropertyConstraintViolation
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v16.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    MeterValuesRequest,
    MeterValuesResponse,
)
from csms_shared.ocpp.version import OcppVersion

from .fakes import FakeMessage, Recorder, fake_runtime, until

METER = {
    "connectorId": 1,
    "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}],
}
ASK = "gateway.gw-1"  # a gateway's reply queue


class Conflict(Exception):
    """What asyncpg raises when Postgres picked this transaction to end a deadlock."""

    sqlstate = "40P01"


class Wrapped(Exception):
    """What SQLAlchemy wraps a driver error in (`orig`)."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped")
        self.orig = orig


class Authorizing:
    """A runtime whose Authorize handler records which call it answered in which transaction;
    `gate` holds the handler (and its lane) until set; `entered` is set when it first runs."""

    def __init__(self, slots: int = 2, lanes: int = 2, **options: Any) -> None:
        self.log: list[str] = []
        self.calls: list[tuple[str, int]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.conflicts = 0  # transactions that lose a lock conflict before one passes
        self.outbound = Recorder()
        router = Router(service="authorize-test")

        @router.on(Action.AUTHORIZE)
        async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
            self.calls.append((ctx.charge_point_id, ctx.session.n))  # type: ignore[attr-defined]
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.conflicts:
                self.conflicts -= 1
                raise Wrapped(Conflict())
            if ctx.charge_point_id.startswith("refused"):
                raise PropertyConstraintViolation("refused on purpose")
            if ctx.charge_point_id.startswith("broken"):
                raise RuntimeError("a bug")
            info = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag=request.id_tag)
            return AuthorizeResponse(id_tag_info=info)

        self.runtime = fake_runtime(
            router, self.log, self.outbound, concurrency=slots, group_lanes=lanes, **options
        )

    def message(self, cp: str, items: list[tuple[str, Any]] | None = None) -> FakeMessage:
        return FakeMessage("Authorize", cp, {"idTag": cp}, reply_to=ASK, items=items, log=self.log)

    def answers(self) -> dict[str | None, str]:
        return {corr: answered(body) for corr, body in self.outbound.replies}


def answered(body: dict[str, Any] | CallReply) -> str:
    """The idTag a reply names, or its error code."""
    reply = body if isinstance(body, CallReply) else CallReply.model_validate(body)
    if reply.error is not None:
        return reply.error.code
    assert reply.payload is not None
    return str(reply.payload["idTagInfo"]["parentIdTag"])


def reply_items(reply: Any, count: int) -> list[CallReply]:
    """The replies of a bundle's answer, one per call."""
    return BundleReply.model_validate(reply).replies(count)


async def test_an_idle_service_answers_a_call_at_once_in_its_own_transaction() -> None:
    test = Authorizing(slots=4)
    await test.runtime.on_call(test.message("cp0"))
    await test.runtime.on_call(test.message("cp1"))
    assert test.calls == [("cp0", 1), ("cp1", 2)]
    assert test.answers() == {"corr-cp0": "cp0", "corr-cp1": "cp1"}
    assert test.log == ["commit 1", "ack cp0", "commit 2", "ack cp1"]


async def test_calls_that_queue_meanwhile_are_answered_from_one_transaction() -> None:
    test = Authorizing(slots=1, lanes=1)
    test.gate = asyncio.Event()
    first = asyncio.create_task(test.runtime.on_call(test.message("cp0")))
    await test.entered.wait()  # cp0 holds the only lane, in transaction 1
    later = [asyncio.create_task(test.runtime.on_call(test.message(f"cp{n}"))) for n in (1, 2, 3)]
    await until(lambda: test.runtime.decisions.waiting("after v16.Authorize") == 3)
    test.gate.set()
    await asyncio.gather(first, *later)
    assert test.calls == [("cp0", 1), ("cp1", 2), ("cp2", 2), ("cp3", 2)]
    # Each call is answered and acked after the commit of its own group.
    assert test.log.index("commit 1") < test.log.index("ack cp0")
    assert all(test.log.index("commit 2") < test.log.index(f"ack cp{n}") for n in (1, 2, 3))
    assert test.answers() == {f"corr-cp{n}": f"cp{n}" for n in range(4)}


async def test_groups_are_no_larger_than_the_maximum() -> None:
    test = Authorizing(slots=1, lanes=1, group_max=3)
    test.gate = asyncio.Event()
    first = asyncio.create_task(test.runtime.on_call(test.message("cp0")))
    await test.entered.wait()
    later = [asyncio.create_task(test.runtime.on_call(test.message(f"cp{n}"))) for n in range(1, 8)]
    await until(lambda: test.runtime.decisions.waiting("after v16.Authorize") == 7)
    test.gate.set()
    await asyncio.gather(first, *later)
    sizes: dict[int, int] = {}
    for _, txn in test.calls:
        sizes[txn] = sizes.get(txn, 0) + 1
    assert sorted(sizes.values()) == [1, 1, 3, 3]
    assert len(test.outbound.replies) == 8


async def test_a_bundle_is_answered_once_with_one_reply_per_item_in_order() -> None:
    test = Authorizing()
    items: list[tuple[str, Any]] = [(f"cp{n}", {"idTag": f"cp{n}"}) for n in range(4)]
    items.insert(2, ("bad", {"idTag": 42}))  # breaks the schema: its own CALLERROR
    bundle = test.message("bundle", items)
    await test.runtime.on_call(bundle)
    [(corr, reply)] = test.outbound.replies
    assert corr == "corr-bundle"
    assert [answered(body) for body in reply_items(reply, 5)] == [
        "cp0",
        "cp1",
        "TypeConstraintViolation",
        "cp2",
        "cp3",
    ]
    # The valid items in one transaction, acked once after the reply.
    assert sorted(test.calls) == [(f"cp{n}", 1) for n in range(4)]
    assert test.log == ["commit 1", "ack bundle"]


async def test_each_bundle_item_carries_its_own_cp_message_id_gateway_and_receive_time() -> None:
    log: list[str] = []
    contexts: list[CallContext[Any]] = []
    router = Router(service="headers-test")

    @router.on(Action.METER_VALUES)
    async def meter_values(request: MeterValuesRequest, ctx: CallContext) -> MeterValuesResponse:
        contexts.append(ctx)
        return MeterValuesResponse()

    runtime = fake_runtime(router, log)
    bundle = FakeMessage("MeterValues", "bundle", items=[("cpA", METER), ("cpB", METER)], log=log)
    await runtime.on_call(bundle)
    assert [(c.charge_point_id, c.message_id, c.gateway_id) for c in contexts] == [
        ("cpA", "m-cpA", "gw-1"),
        ("cpB", "m-cpB", "gw-1"),
    ]
    assert {c.received_at.isoformat() for c in contexts if c.received_at} == {
        "2026-01-01T00:00:00.250000+00:00"
    }
    assert bundle.outcome == "ack"


async def test_a_failed_group_is_rolled_back_and_every_call_answered_alone() -> None:
    test = Authorizing()
    items = [("cp0", {"idTag": "a"}), ("refused", {"idTag": "b"}), ("broken", {"idTag": "c"})]
    items += [("cp3", {"idTag": "d"})]
    bundle = test.message("bundle", items)
    await test.runtime.on_call(bundle)
    [(_, reply)] = test.outbound.replies
    bodies = reply["items"]
    assert answered(bodies[0]) == "a" and answered(bodies[3]) == "d"
    assert bodies[1]["error"]["code"] == "PropertyConstraintViolation"
    assert bodies[1]["error"]["description"] == "refused on purpose"
    assert bodies[2]["error"]["code"] == "InternalError"
    assert "a bug" not in orjson.dumps(bodies[2]).decode()
    # The group's transaction rolled back at its first failure (in CP order: "broken"); then
    # each call alone, in the bundle's order.
    assert test.log[0] == "rollback 1"
    assert [cp for cp, txn in test.calls if txn > 1] == ["cp0", "refused", "broken", "cp3"]
    assert bundle.outcome == "ack"


async def test_a_group_that_lost_a_deadlock_runs_once_more_in_cp_order() -> None:
    test = Authorizing()
    test.conflicts = 1
    items = [(cp, {"idTag": cp}) for cp in ("cpC", "cpA", "cpB")]
    await test.runtime.on_call(test.message("bundle", items))
    assert test.calls == [("cpA", 1), ("cpA", 2), ("cpB", 2), ("cpC", 2)]
    assert test.log[:2] == ["rollback 1", "commit 2"]
    # Answers in the bundle's order, not the lock order.
    [(_, reply)] = test.outbound.replies
    assert [answered(b) for b in reply_items(reply, 3)] == ["cpC", "cpA", "cpB"]


async def test_a_call_alone_that_lost_a_deadlock_runs_once_more() -> None:
    test = Authorizing()
    test.conflicts = 1
    await test.runtime.on_call(test.message("cp0"))
    assert test.log == ["rollback 1", "commit 2", "ack cp0"]
    assert test.answers() == {"corr-cp0": "cp0"}


async def test_a_call_that_keeps_losing_deadlocks_gets_an_error_after_the_last_run() -> None:
    test = Authorizing()
    test.conflicts = 2
    await test.runtime.on_call(test.message("cp0"))
    assert test.log == ["rollback 1", "rollback 2", "commit 3", "ack cp0"]
    test.conflicts = ATTEMPTS
    await test.runtime.on_call(test.message("cp1"))
    assert [entry for entry in test.log[4:] if entry.startswith("commit")] == []
    [*_, (_, reply)] = test.outbound.replies
    assert reply["error"]["code"] == "InternalError"


async def test_a_malformed_bundle_of_decision_calls_is_refused_whole() -> None:
    test = Authorizing()
    bundle = test.message("bundle", [])
    bundle.body = b'{"not": "a list"}'
    await test.runtime.on_call(bundle)
    [(_, reply)] = test.outbound.replies
    assert reply["error"]["code"] == "InternalError"
    assert bundle.outcome == "reject requeue=False"
    assert test.calls == []


async def test_a_call_that_is_not_json_is_dead_lettered_with_an_error_reply() -> None:
    test = Authorizing()
    message = test.message("cp0")
    message.body = b"{not json"
    await test.runtime.on_call(message)
    assert test.answers() == {"corr-cp0": "InternalError"}
    assert message.outcome == "reject requeue=False"
    assert test.calls == []


async def test_a_call_of_an_action_without_a_handler_gets_an_internal_error() -> None:
    test = Authorizing()
    message = FakeMessage("DataTransfer", "cp0", {"vendorId": "x"}, reply_to=ASK, log=test.log)
    await test.runtime.on_call(message)
    assert test.answers() == {"corr-cp0": "InternalError"}
    assert message.outcome == "ack"


async def test_a_call_that_did_not_come_through_the_calls_exchange_is_dropped() -> None:
    test = Authorizing()
    message = test.message("cp0")
    message.exchange = ""  # pushed into the queue through the default exchange
    await test.runtime.on_call(message)
    assert test.calls == [] and test.outbound.replies == []
    assert message.outcome == "ack"


async def test_a_decision_goes_past_bulk_work_that_holds_every_other_slot() -> None:
    test = Authorizing(slots=4)  # one for RPCs, one kept for decisions, two for the rest
    async with test.runtime.slots, test.runtime.slots:  # a backlog of bulk groups
        notification = FakeMessage("Authorize", "bulk", {"idTag": "bulk"}, log=test.log)
        bulk = asyncio.create_task(test.runtime.on_call(notification))
        await until(lambda: test.runtime.work.waiting() == (0, 1))
        decision = test.message("decision")
        decision.exchange = "ocpp.decisions"
        await asyncio.wait_for(test.runtime.on_decision(decision), 5)  # type: ignore[arg-type]
        assert test.answers() == {"corr-decision": "decision"}
        assert decision.outcome == "ack" and not bulk.done()
    await asyncio.wait_for(bulk, 5)
    assert notification.outcome == "ack" and ("bulk", 2) in test.calls


async def test_a_call_waited_on_in_the_bulk_lane_goes_past_bulk_work_too() -> None:
    """A transaction's end on `ocpp.calls` (request/reply, behind its stations' data) takes the
    decisions' slots once that data is stored, not a place behind the bulk queued since."""
    test = Authorizing(slots=4)
    async with test.runtime.slots, test.runtime.slots:
        notification = FakeMessage("Authorize", "bulk", {"idTag": "bulk"}, log=test.log)
        bulk = asyncio.create_task(test.runtime.on_call(notification))
        await until(lambda: test.runtime.work.waiting() == (0, 1))
        end = test.message("end")  # through ocpp.calls, a reply awaited
        await asyncio.wait_for(test.runtime.on_call(end), 5)
        assert test.answers() == {"corr-end": "end"}
        assert end.outcome == "ack" and not bulk.done()
    await asyncio.wait_for(bulk, 5)


async def test_a_call_on_the_decisions_queue_that_came_another_way_is_dropped() -> None:
    test = Authorizing()
    message = test.message("cp0")  # through ocpp.calls, not ocpp.decisions
    await test.runtime.on_decision(message)  # type: ignore[arg-type]
    assert test.calls == [] and test.outbound.replies == []
    assert message.outcome == "ack"


# -- notifications with a set-based batch handler ---------------------------------------------


class Metering:
    """A runtime whose MeterValues has a one-call and a batch handler, both recorded."""

    def __init__(self, outbound: Recorder | None = None, lanes: int = 2, **options: Any) -> None:
        self.log: list[str] = []
        self.single: list[str] = []
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.outbound = outbound or Recorder()
        router = Router(service="batch-test")

        @router.on(Action.METER_VALUES)
        async def meter_values(
            request: MeterValuesRequest, ctx: CallContext
        ) -> MeterValuesResponse:
            self.single.append(ctx.charge_point_id)
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if ctx.charge_point_id.startswith("poison"):
                raise RuntimeError("poison")
            return MeterValuesResponse()

        @router.on_batch(Action.METER_VALUES)
        async def meter_values_batch(
            calls: list[tuple[MeterValuesRequest, CallContext]], ctx: Context
        ) -> None:
            cps = [call.charge_point_id for _, call in calls]
            assert all(call.session is ctx.session for _, call in calls)
            self.batches.append(cps)
            if any(cp.startswith("poison") for cp in cps):
                raise RuntimeError("poison in the batch")

        self.runtime = fake_runtime(router, self.log, self.outbound, group_lanes=lanes, **options)

    def message(self, cp: str, **options: Any) -> FakeMessage:
        return FakeMessage("MeterValues", cp, METER, log=self.log, **options)


async def test_a_bundle_of_notifications_is_one_batch_acked_once_after_the_commit() -> None:
    test = Metering()
    bundle = test.message("bundle", items=[(f"cp{i}", METER) for i in range(5)])
    await test.runtime.on_call(bundle)
    assert test.batches == [[f"cp{i}" for i in range(5)]]
    assert test.single == []
    assert test.log == ["commit 1", "ack bundle"]


async def test_notifications_that_queue_meanwhile_are_written_in_one_batch() -> None:
    test = Metering(lanes=1)
    test.gate = asyncio.Event()
    first = asyncio.create_task(test.runtime.on_call(test.message("cp0")))
    await test.entered.wait()  # alone: the one-call handler, holding the only lane
    later = [asyncio.create_task(test.runtime.on_call(test.message(f"cp{n}"))) for n in (3, 1, 2)]
    await until(lambda: test.runtime.coalescer.waiting("call v16.MeterValues") == 3)
    test.gate.set()
    await asyncio.gather(first, *later)
    assert test.single == ["cp0"]
    assert test.batches == [["cp1", "cp2", "cp3"]]  # in charge point order
    # One ack per delivery, each after the batch's commit.
    assert all(test.log.index("commit 2") < test.log.index(f"ack cp{n}") for n in (1, 2, 3))


async def test_notifications_linger_so_that_those_arriving_together_share_a_group() -> None:
    # Two lanes are free: without lingering, each delivery would take one and be written alone.
    test = Metering(group_linger=0.01)
    await asyncio.gather(*(test.runtime.on_call(test.message(f"cp{n}")) for n in (2, 1)))
    assert test.batches == [["cp1", "cp2"]]
    assert test.single == []
    alone = Metering(group_linger=0.0)
    await asyncio.gather(*(alone.runtime.on_call(alone.message(f"cp{n}")) for n in (2, 1)))
    assert alone.batches == []
    assert alone.single == ["cp2", "cp1"]


async def test_a_full_group_does_not_wait_out_its_linger() -> None:
    # An hour's linger: the group goes as soon as it holds `bulk_group_max` items.
    test = Metering(group_linger=3600.0, bulk_group_max=3)
    await asyncio.wait_for(
        asyncio.gather(*(test.runtime.on_call(test.message(f"cp{n}")) for n in range(3))), 60
    )
    assert test.batches == [["cp0", "cp1", "cp2"]]


async def test_a_decision_call_never_lingers() -> None:
    test = Authorizing(group_linger=3600.0)
    await asyncio.wait_for(test.runtime.on_call(test.message("cp0")), 60)
    assert test.answers() == {"corr-cp0": "cp0"}


async def test_a_poison_item_is_published_alone_and_the_rest_of_its_bundle_acked() -> None:
    test = Metering()
    bundle = test.message("bundle", items=[("cp0", METER), ("poison", METER), ("cp2", METER)])
    await test.runtime.on_call(bundle)
    assert test.batches == [["cp0", "cp2", "poison"]]  # sorted by charge point
    assert test.single == ["cp0", "poison", "cp2"]  # each alone, after the batch failed
    assert test.log[0] == "rollback 1"
    assert [(key, h[HEADER_CHARGE_POINT], p) for key, h, p in test.outbound.republished] == [
        (call_routing_key("MeterValues", OcppVersion.V16), "poison", METER)
    ]
    assert bundle.outcome == "ack"


async def test_a_bundle_goes_back_whole_when_its_poison_item_cannot_be_published_alone() -> None:
    test = Metering(Recorder(fail_republish=True))
    bundle = test.message("bundle", items=[("cp0", METER), ("poison", METER)])
    await test.runtime.on_call(bundle)
    assert bundle.outcome == "nack requeue=True"


async def test_a_poison_notification_alone_goes_back_to_its_queue() -> None:
    test = Metering()
    message = test.message("poison")
    await test.runtime.on_call(message)
    assert message.outcome == "nack requeue=True"
    assert test.log == ["rollback 1", "nack requeue=True poison"]


async def test_a_taken_call_that_fails_goes_back_to_its_queue_though_it_asked_for_a_reply() -> None:
    # A decision's CP got the CALLERROR: it is acked. A transaction's end the gateway took
    # (HEADER_TAKEN) may have been answered apart already: a fault of ours must not drop it.
    test = Authorizing()
    answered = test.message("broken")
    await test.runtime.on_call(answered)
    assert answered.outcome == "ack"
    taken = test.message("broken-taken")
    taken.headers[HEADER_TAKEN] = 1
    await test.runtime.on_call(taken)
    assert taken.outcome == "nack requeue=True"
    assert test.answers()["corr-broken-taken"] == "InternalError"  # told all the same


async def test_an_invalid_item_is_dropped_like_a_single_invalid_notification() -> None:
    test = Metering()
    items = [("cp0", METER), ("bad", {"connectorId": "x"}), ("cp2", METER)]
    bundle = test.message("bundle", items=items)
    await test.runtime.on_call(bundle)
    assert test.batches == [["cp0", "cp2"]]
    assert bundle.outcome == "ack"
    invalid = test.message("bad", body=b'{"connectorId": "x"}')
    await test.runtime.on_call(invalid)
    assert invalid.outcome == "ack"
    assert test.single == []


async def test_a_notification_that_asks_for_a_reply_is_answered() -> None:
    test = Metering()
    asked = test.message("asked", reply_to=ASK)
    await test.runtime.on_call(asked)
    assert test.outbound.replies == [("corr-asked", {"payload": {}})]
    assert asked.outcome == "ack"


async def test_a_call_waited_on_in_the_bulk_lane_is_handled_after_its_stations_data() -> None:
    # A transaction's end comes request/reply on `ocpp.calls` behind its station's bulk data:
    # neither a free lane nor a lingering notification lets it overtake what came first, and
    # it does not wait for other stations' data.
    log: list[str] = []
    gates = {n: asyncio.Event() for n in (1, 2, 3)}  # by connectorId
    router = Router(service="order-test")

    @router.on(Action.METER_VALUES)
    async def meter_values(request: MeterValuesRequest, ctx: CallContext) -> MeterValuesResponse:
        name = f"{ctx.charge_point_id}/{request.connector_id}"
        log.append(f"storing {name}")
        await gates[request.connector_id].wait()
        log.append(f"stored {name}")
        return MeterValuesResponse()

    @router.on(Action.AUTHORIZE)
    async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
        log.append(f"ended {ctx.charge_point_id}")
        info = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag=request.id_tag)
        return AuthorizeResponse(id_tag_info=info)

    def meter(connector: int) -> dict[str, Any]:
        return METER | {"connectorId": connector}

    runtime = fake_runtime(
        router, log, concurrency=8, group_lanes=3, group_linger=3600, bulk_group_max=2
    )

    def deliver(cp: str, connector: int, count: int) -> asyncio.Task[None]:
        items = [(cp, meter(connector))] * count
        message = FakeMessage("MeterValues", f"{cp}/{connector}", items=items, log=log)
        return asyncio.create_task(runtime.on_call(message))

    notifications = [deliver("cp0", 1, 2)]  # a full group, in flight
    await until(lambda: "storing cp0/1" in log)
    notifications.append(deliver("cp7", 3, 2))  # another station's, in flight
    await until(lambda: "storing cp7/3" in log)
    notifications.append(deliver("cp0", 2, 1))  # would linger for an hour
    end = FakeMessage("Authorize", "cp0", {"idTag": "t"}, reply_to=ASK, log=log)
    ended = asyncio.create_task(runtime.on_call(end))
    await until(lambda: "storing cp0/2" in log)  # not lingering: a call waits behind it
    with pytest.raises(AssertionError, match="never held"):
        await until(lambda: "ended cp0" in log, turns=1000, seconds=0.1)
    # A decision on its own lane is not held by the bulk lane's order.
    decision = FakeMessage("Authorize", "cp9", {"idTag": "d"}, reply_to=ASK, log=log)
    decision.exchange = "ocpp.decisions"
    await asyncio.wait_for(runtime.on_decision(decision), 5)  # type: ignore[arg-type]
    assert "ended cp9" in log and "ended cp0" not in log
    gates[1].set()
    gates[2].set()
    await asyncio.wait_for(ended, 5)  # cp7's data is still being stored
    assert log.index("stored cp0/1") < log.index("ended cp0")
    assert log.index("stored cp0/2") < log.index("ended cp0")
    assert "stored cp7/3" not in log and end.outcome == "ack"
    gates[3].set()
    await asyncio.wait_for(asyncio.gather(*notifications), 5)
    assert len(runtime.arrivals) == 0


async def test_an_end_waiting_for_data_that_fails_is_handled_all_the_same() -> None:
    # The station's data could not be stored (it goes back to its queue, stored on a later
    # try): the transaction's end that waited for it is handled once that try is over, not held
    # until the data comes round again.
    log: list[str] = []
    gate = asyncio.Event()
    router = Router(service="order-test")

    @router.on(Action.METER_VALUES)
    async def meter_values(request: MeterValuesRequest, ctx: CallContext) -> MeterValuesResponse:
        log.append(f"storing {ctx.charge_point_id}")
        await gate.wait()
        raise RuntimeError("the data cannot be stored now")

    @router.on(Action.AUTHORIZE)
    async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
        log.append(f"ended {ctx.charge_point_id}")
        info = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag=request.id_tag)
        return AuthorizeResponse(id_tag_info=info)

    runtime = fake_runtime(router, log, concurrency=4, group_lanes=2)
    data = FakeMessage("MeterValues", "cp0", METER, log=log)
    storing = asyncio.create_task(runtime.on_call(data))
    await until(lambda: "storing cp0" in log)
    end = FakeMessage("Authorize", "cp0", {"idTag": "t"}, reply_to=ASK, log=log)
    ending = asyncio.create_task(runtime.on_call(end))
    with pytest.raises(AssertionError, match="never held"):
        await until(lambda: "ended cp0" in log, turns=1000, seconds=0.1)
    gate.set()
    await asyncio.wait_for(asyncio.gather(storing, ending), 5)
    assert data.outcome == "nack requeue=True"
    assert end.outcome == "ack" and "ended cp0" in log
    assert len(runtime.arrivals) == 0


async def test_a_malformed_bundle_is_dead_lettered_untouched() -> None:
    for body in (b"not json", b"[]", b'{"cp": "x"}', b'[{"cp": "x", "id": 1, "at": "t"}]'):
        test = Metering()
        bundle = test.message("bundle", items=[], body=body)
        await test.runtime.on_call(bundle)
        assert bundle.outcome == "reject requeue=False", body
        assert test.single == [] and test.batches == []


def test_a_batch_handler_needs_the_one_call_handler_first() -> None:
    router = Router(service="x")
    with pytest.raises(ValueError, match="one-call handler"):
        router.on_batch(Action.METER_VALUES)(lambda calls, ctx: None)


async def test_a_batch_handler_answers_a_group_of_decision_calls_in_the_callers_order() -> None:
    log: list[str] = []
    batches: list[list[str]] = []
    router = Router(service="batch-answers")

    @router.on(Action.AUTHORIZE)
    async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
        info = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag=request.id_tag)
        return AuthorizeResponse(id_tag_info=info)

    @router.on_batch(Action.AUTHORIZE)
    async def authorize_batch(
        calls: list[tuple[AuthorizeRequest, CallContext]], ctx: Context
    ) -> list[AuthorizeResponse]:
        batches.append([call.charge_point_id for _, call in calls])
        return [await authorize(request, call) for request, call in calls]

    outbound = Recorder()
    runtime = fake_runtime(router, log, outbound)
    items = [(cp, {"idTag": cp}) for cp in ("cpC", "cpA", "cpB")]
    await runtime.on_call(FakeMessage("Authorize", "bundle", reply_to=ASK, items=items, log=log))
    assert batches == [["cpA", "cpB", "cpC"]]
    [(_, reply)] = outbound.replies
    assert [answered(b) for b in reply_items(reply, 3)] == ["cpC", "cpA", "cpB"]
    assert log == ["commit 1", "ack bundle"]


# -- pieces -------------------------------------------------------------------------------------


def test_bundle_codec_round_trip() -> None:
    body = encode_bundle(
        [BundledCall(cp="cp1", id="m1", at="2026-01-01T00:00:00+00:00", payload={"a": 1})]
    )
    [item] = decode_bundle(body, "gw")
    assert item.payload == {"a": 1}
    assert item.headers == {
        HEADER_CHARGE_POINT: "cp1",
        HEADER_MESSAGE_ID: "m1",
        HEADER_GATEWAY: "gw",
        HEADER_RECEIVED_AT: "2026-01-01T00:00:00+00:00",
    }


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


def test_the_runtime_is_built_without_a_broker() -> None:
    assert isinstance(Authorizing().runtime, ServiceRuntime)


# -- deadlines: a decision call the gateway gave up on is not handled ---------------------------


def ms_from_now(seconds: float) -> int:
    """A deadline header: milliseconds since the epoch."""
    return int((time.time() + seconds) * 1000)


async def test_a_call_past_its_deadline_is_acked_unhandled_with_no_commit() -> None:
    test = Authorizing(slots=4)
    late = test.message("cp-late")
    late.headers[HEADER_DEADLINE] = ms_from_now(-1)
    on_time = test.message("cp-on-time")
    on_time.headers[HEADER_DEADLINE] = ms_from_now(60)
    await test.runtime.on_call(late)
    await test.runtime.on_call(on_time)
    assert test.calls == [("cp-on-time", 1)]  # the late one never reached its handler
    assert test.answers() == {"corr-cp-late": "InternalError", "corr-cp-on-time": "cp-on-time"}
    # Acked (not requeued, not dead-lettered), and no transaction for it.
    assert test.log == ["ack cp-late", "commit 1", "ack cp-on-time"]


async def test_a_bundle_past_its_deadline_is_acked_unhandled() -> None:
    test = Authorizing(slots=4)
    bundle = test.message("bundle", items=[("cp0", {"idTag": "cp0"}), ("cp1", {"idTag": "cp1"})])
    bundle.headers[HEADER_DEADLINE] = ms_from_now(-1)
    await test.runtime.on_call(bundle)
    assert test.calls == []
    [(_, body)] = test.outbound.replies
    assert [answered(item) for item in body["items"]] == ["InternalError", "InternalError"]
    assert test.log == ["ack bundle"]


async def test_in_a_group_only_the_calls_past_their_deadline_go_unhandled() -> None:
    test = Authorizing(slots=1, lanes=1)
    test.gate = asyncio.Event()
    first = asyncio.create_task(test.runtime.on_call(test.message("cp0")))
    await test.entered.wait()
    late, live = test.message("cp1"), test.message("cp2")
    late.headers[HEADER_DEADLINE] = ms_from_now(-1)
    live.headers[HEADER_DEADLINE] = ms_from_now(60)
    queued = [asyncio.create_task(test.runtime.on_call(m)) for m in (late, live)]
    await until(lambda: test.runtime.decisions.waiting("after v16.Authorize") == 2)
    test.gate.set()
    await asyncio.gather(first, *queued)
    assert test.calls == [("cp0", 1), ("cp2", 2)]
    assert test.answers() == {"corr-cp0": "cp0", "corr-cp1": "InternalError", "corr-cp2": "cp2"}
    assert late.outcome == live.outcome == "ack"


class ReplyChannelDown(Recorder):
    """An outbound whose reply channel is closed (a broker fail-over still restoring it)."""

    async def reply(self, to: str, correlation_id: str | None, body: bytes) -> None:
        raise ChannelInvalidStateError("<Channel: 2> closed")


async def test_a_call_whose_reply_cannot_be_sent_is_requeued_not_left_unacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requeued after the pause every requeue takes: at once, it came straight back while the
    reply channel was still down and its delivery limit dead-lettered it in under a second."""
    paused: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        paused.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("csms_shared.bus.ack.asyncio.sleep", sleep)
    test = Authorizing()
    test.runtime.outbound = ReplyChannelDown()
    message = test.message("cp0")
    await test.runtime.on_call(message)
    assert test.log == ["commit 1", "nack requeue=True cp0"]
    assert REQUEUE_DELAY in paused
