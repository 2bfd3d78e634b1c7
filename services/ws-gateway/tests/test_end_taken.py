"""A transaction's end is taken once the broker holds it (`GatewayBus.take`): persistent, in
order on `ocpp.calls`, no deadline; its owner's answer when it comes in time, else one given
apart (`forwarding.answer_taken`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiormq
import pytest
from prometheus_client import REGISTRY

from csms_shared.bus.rpc import RpcUnavailable
from csms_shared.bus.topology import CALLS, HEADER_DEADLINE
from csms_shared.contracts.envelopes import CallReply
from csms_shared.contracts.rpc import EndedIdTokenInfo, SessionsRpc, StopIdTagInfo
from csms_shared.ocpp.errors import InternalError, OcppError
from csms_shared.ocpp.framing import Call
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v201.datatypes import IdTokenInfo
from csms_shared.ocpp.v201.enums import AuthorizationStatusEnum
from csms_shared.ocpp.version import OcppVersion
from ws_gateway.bus import GatewayBus
from ws_gateway.forwarding import Timing, forward

V16, V201 = OcppVersion.V16, OcppVersion.V201
APART = "csms_gateway_ends_answered_apart_total"
WITHOUT = "csms_gateway_ends_unjudged_total"
STOP = {"transactionId": 7, "idTag": "TAG", "meterStop": 10, "timestamp": "2026-11-28T10:00:00Z"}
ENDED = {
    "eventType": "Ended",
    "timestamp": "2026-11-28T10:00:00Z",
    "triggerReason": "EVCommunicationLost",
    "seqNo": 3,
    "transactionInfo": {"transactionId": "TX"},
}


class Client:
    """Stands in for the BusClient: records each publish; answers when `answer` is set."""

    def __init__(self, reply: CallReply, lost: Exception | None = None) -> None:
        self.published: list[tuple[str, str, aiormq.spec.Basic.Properties, bool]] = []
        self.answer = asyncio.Event()
        self.reply = reply
        self.lost = lost  # raised once published: the reply queue went with the connection

    async def request(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: aiormq.spec.Basic.Properties,
        timeout: float,
        *,
        expires: bool = True,
        on_published: Callable[[], None] | None = None,
    ) -> bytes:
        self.published.append((exchange, routing_key, properties, expires))
        if on_published is not None:
            on_published()
        if self.lost is not None:
            raise self.lost
        await self.answer.wait()
        return self.reply.encode()


class Rpc:
    """Stands in for the RpcClient: judges every idTag as `status`, or fails with `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.asked: list[Any] = []
        self.error = error

    async def call(self, method: Any, params: Any, timeout: float) -> Any:
        self.asked.append(params)
        if self.error is not None:
            raise self.error
        if method is SessionsRpc.ended_id_token_info:
            return EndedIdTokenInfo(
                id_token_info=IdTokenInfo(status=AuthorizationStatusEnum.BLOCKED)
            )
        return StopIdTagInfo(id_tag_info=IdTagInfo(status=AuthorizationStatus.BLOCKED))


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _bus(
    reply: CallReply, rpc: Rpc | None = None, lost: Exception | None = None
) -> tuple[GatewayBus, Client]:
    bus = GatewayBus("amqp://unused/", "gw-1", 10)
    client = Client(reply, lost)
    bus.client = client  # type: ignore[assignment]
    bus.rpc = rpc or Rpc()  # type: ignore[assignment]
    return bus, client


async def _forward(bus: GatewayBus, version: OcppVersion, payload: Any, after: float) -> Any:
    action = "StopTransaction" if version is V16 else "TransactionEvent"
    call = Call("m1", action, payload)
    return await forward(bus, Timing(120.0, after), version, "CP-1", call, datetime.now(UTC))


async def test_an_end_is_published_persistent_in_order_without_a_deadline() -> None:
    bus, client = _bus(CallReply(payload={"idTagInfo": {"status": "Accepted"}}))
    client.answer.set()
    answer = await _forward(bus, V16, STOP, after=60.0)
    # Its owner answered in time: the owner's answer.
    assert answer == {"idTagInfo": {"status": "Accepted"}}
    [(exchange, routing_key, properties, expires)] = client.published
    assert (exchange, routing_key) == (CALLS.name, "v16.StopTransaction")
    assert properties.delivery_mode == 2 and expires is False
    assert HEADER_DEADLINE not in (properties.headers or {})


async def test_an_owners_refusal_in_time_is_passed_on() -> None:
    bus, client = _bus(CallReply.refusal(OcppError("no")))
    client.answer.set()
    with pytest.raises(OcppError):
        await _forward(bus, V201, ENDED, after=60.0)


@pytest.mark.parametrize(
    ("payload", "asked"),
    [(STOP, True), ({k: v for k, v in STOP.items() if k != "idTag"}, False)],
)
async def test_a_stop_whose_owner_is_behind_gets_its_id_tag_judged_apart(
    payload: dict[str, Any], asked: bool
) -> None:
    rpc = Rpc()
    bus, client = _bus(CallReply(payload={"idTagInfo": {"status": "Accepted"}}), rpc)
    before = _count(APART, action="StopTransaction")
    answer = await _forward(bus, V16, payload, after=0.0)
    assert answer == ({"idTagInfo": {"status": "Blocked"}} if asked else {})
    assert len(client.published) == 1  # taken all the same
    assert _count(APART, action="StopTransaction") == before + 1
    if asked:
        [params] = rpc.asked
        assert (params.charge_point_id, params.id_tag) == ("CP-1", "TAG")
        assert params.timestamp == datetime(2026, 11, 28, 10, tzinfo=UTC)
    else:
        assert rpc.asked == []


async def test_a_stop_whose_id_tag_cannot_be_judged_is_answered_without_id_tag_info() -> None:
    rpc = Rpc(RpcUnavailable("unavailable", "nobody answered"))
    bus, _ = _bus(CallReply(payload={}), rpc)
    before = _count(WITHOUT, reason="unavailable")
    assert await _forward(bus, V16, STOP, after=0.0) == {}
    assert _count(WITHOUT, reason="unavailable") == before + 1


async def test_an_ended_whose_owner_is_behind_is_answered_with_its_token_judged_apart() -> None:
    rpc = Rpc()
    bus, _ = _bus(CallReply(payload={"totalCost": 5.0}), rpc)
    token = {"idToken": "TAG", "type": "ISO14443"}
    answer = await _forward(bus, V201, ENDED | {"idToken": token}, after=0.0)
    assert answer == {"idTokenInfo": {"status": "Blocked"}}  # no totalCost
    [params] = rpc.asked
    assert (params.transaction_id, params.id_token, params.type) == ("TX", "TAG", "ISO14443")
    # Names no EVSE or reservation: none passed on, not even as null (a session-service that
    # does not know them refuses them).
    assert b"evseId" not in SessionsRpc.ended_id_token_info.encode_params(params)
    assert b"reservationId" not in SessionsRpc.ended_id_token_info.encode_params(params)
    # Its idTokenInfo is required: without the judgment the station sends it again.
    unjudged = Rpc(RpcUnavailable("unavailable", "nobody answered"))
    bus, _ = _bus(CallReply(payload={}), unjudged)
    with pytest.raises(OcppError, match="could not be judged"):
        await _forward(bus, V201, ENDED | {"idToken": token}, after=0.0)


@pytest.mark.parametrize(
    ("reservation", "passed"), [(12, 12), (2**31 - 1, 2**31 - 1), (2**31, None)]
)
async def test_an_ended_judged_apart_passes_on_its_evse_and_reservation(
    reservation: int, passed: int | None
) -> None:
    """What its token is judged on when it is its transaction's first; a reservationId past
    32 bits names none of ours and is not passed on."""
    rpc = Rpc()
    bus, _ = _bus(CallReply(payload={}), rpc)
    token = {"idToken": "TAG", "type": "ISO14443"}
    ended = ENDED | {"idToken": token, "evse": {"id": 2, "connectorId": 1}}
    await _forward(bus, V201, ended | {"reservationId": reservation}, after=0.0)
    [params] = rpc.asked
    assert (params.evse_id, params.reservation_id) == (2, passed)
    assert (b"reservationId" in SessionsRpc.ended_id_token_info.encode_params(params)) == (
        passed is not None
    )


async def test_an_ended_whose_owner_is_behind_is_answered_empty() -> None:
    bus, client = _bus(CallReply(payload={"totalCost": 5.0}))
    assert await _forward(bus, V201, ENDED, after=0.0) == {}
    [(exchange, routing_key, _, _)] = client.published
    assert (exchange, routing_key) == (CALLS.name, "v201.TransactionEvent")


async def test_an_end_whose_answer_is_lost_once_taken_is_answered_apart_at_once() -> None:
    bus, client = _bus(CallReply(payload={}), lost=ConnectionError("the connection went"))
    # Long before its minute: the answer cannot come, and the end is taken.
    answer = await asyncio.wait_for(_forward(bus, V201, ENDED, after=60.0), 30)
    assert answer == {} and len(client.published) == 1


async def test_while_the_owner_is_late_its_ends_are_answered_apart_at_once() -> None:
    bus, client = _bus(CallReply(payload={"totalCost": 5.0}))
    assert await _forward(bus, V201, ENDED, after=0.0) == {}  # late: answered apart
    # The next one does not wait out its minute: the owner is late.
    assert await asyncio.wait_for(_forward(bus, V201, ENDED, after=60.0), 30) == {}
    # The owner answers (both ends), within the second one's minute: it is on time again.
    client.answer.set()
    await _until(lambda: not bus.late_ends)
    assert await _forward(bus, V201, ENDED, after=60.0) == {"totalCost": 5.0}


async def _until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run (loop turns, no timed wait) until `condition` holds."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_an_empty_token_is_judged_too() -> None:
    # OCPP allows them: an empty CiString20 idTag, an empty idToken of NoAuthorization.
    rpc = Rpc()
    bus, _ = _bus(CallReply(payload={}), rpc)
    assert await _forward(bus, V16, STOP | {"idTag": ""}, after=0.0) == {
        "idTagInfo": {"status": "Blocked"}
    }
    token = {"idToken": "", "type": "NoAuthorization"}
    answer = await _forward(bus, V201, ENDED | {"idToken": token}, after=0.0)
    assert answer == {"idTokenInfo": {"status": "Blocked"}}
    assert [params.model_dump(include={"id_token", "id_tag"}) for params in rpc.asked] == [
        {"id_tag": ""},
        {"id_token": ""},
    ]


async def test_an_owners_internal_error_on_a_taken_end_is_not_passed_on() -> None:
    # Its handling failed and the end went back to its queue: the station is answered apart,
    # not told to send it again.
    bus, client = _bus(CallReply.refusal(InternalError("the database went")))
    client.answer.set()
    assert await _forward(bus, V201, ENDED, after=60.0) == {}
