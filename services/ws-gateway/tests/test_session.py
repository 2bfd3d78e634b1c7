"""A CP's session without a broker: order of answers, workers only while there is work, limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiormq.exceptions import ChannelInvalidStateError
from prometheus_client import REGISTRY
from websockets.exceptions import ConnectionClosedOK

from csms_shared.contracts.envelopes import CallReply
from csms_shared.ocpp.version import OcppVersion
from shared.tests.fakes import until
from ws_gateway.call_refusals import Overloaded
from ws_gateway.seen import SeenTracker
from ws_gateway.session import ChargePointSession
from ws_gateway.settings import Settings

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


class FakeWs:
    """Frames in through a queue, frames out into a list; `None` in closes the connection."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[Any] = []
        self.got_one = asyncio.Event()
        self.read_all = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str]:
        while True:
            # Asked for another frame with none left: every frame fed so far has been handled.
            if self.incoming.empty():
                self.read_all.set()
            frame = await self.incoming.get()
            self.read_all.clear()
            if frame is None:
                return
            yield frame

    async def send(self, data: bytes, text: bool = True) -> None:
        if self.incoming.empty() and self.closed:
            raise ConnectionClosedOK(None, None)
        self.sent.append(orjson.loads(data))
        self.got_one.set()

    closed = False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        self.incoming.put_nowait(None)

    def feed(self, *frame: Any) -> None:
        self.read_all.clear()
        self.incoming.put_nowait(orjson.dumps(list(frame)).decode())

    async def wait_sent(self, count: int) -> None:
        while len(self.sent) < count:
            self.got_one.clear()
            await self.got_one.wait()


class FakeBus:
    """Requests wait until the test releases them; notifications and replies are recorded."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.asked = asyncio.Event()  # a request is out and waits for `release`
        self.replied = asyncio.Event()
        self.published: list[str] = []
        self.replies: list[tuple[str, dict[str, Any]]] = []
        # What every request is answered (a BootNotification's answer unless a test says).
        self.answer: dict[str, Any] = {
            "status": "Accepted",
            "currentTime": "2026-11-25T10:00:00Z",
            "interval": 300,
        }

    async def notify(
        self, cp_id: str, mid: str, action: str, payload: Any, at: datetime, version: OcppVersion
    ) -> None:
        self.published.append(action)

    async def request(
        self,
        cp_id: str,
        mid: str,
        action: str,
        payload: Any,
        at: datetime,
        timeout: float,
        version: OcppVersion,
        *,
        in_order: bool = False,
    ) -> CallReply:
        self.published.append(action)
        self.asked.set()
        await self.release.wait()
        return CallReply(payload=self.answer)

    async def reply(self, reply_to: str, correlation_id: str | None, outcome: Any) -> None:
        self.replies.append((str(correlation_id), orjson.loads(outcome.encode())))
        self.replied.set()


class Command:
    def __init__(self, n: int, timeout: float = 5) -> None:
        self.body = orjson.dumps(
            {"action": "Reset", "payload": {"type": "Soft"}, "timeout": timeout}
        )
        self.reply_to = "api.replies"
        self.correlation_id = f"cmd-{n}"
        self.headers: dict[str, Any] = {}


class Published:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, key: str, body: dict[str, Any]) -> None:
        self.events.append(body)


def make(
    version: OcppVersion,
    status: str = "Accepted",
    bus: FakeBus | None = None,
    **settings: Any,
) -> tuple[ChargePointSession, Any, Any, Any]:
    ws, published = FakeWs(), Published()
    bus = bus or FakeBus()
    seen = SeenTracker("gw", published)
    session = ChargePointSession(
        "CP-1",
        ws,  # type: ignore[arg-type]
        bus,  # type: ignore[arg-type]
        Settings(**settings),
        seen,
        registration_status=status,
        ocpp_version=version,
    )
    return session, ws, bus, seen


async def test_heartbeat_is_answered_without_a_task_or_a_publish() -> None:
    session, ws, bus, seen = make(OcppVersion.V16)
    running = asyncio.create_task(session.run())
    ws.feed(2, "h1", "Heartbeat", {})
    await ws.wait_sent(1)
    assert ws.sent[0][:2] == [3, "h1"] and ws.sent[0][2]["currentTime"].endswith("Z")
    assert bus.published == []
    assert len(seen) == 1
    assert session.idle
    await ws.close()
    await running


def transaction_event(kind: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": kind,
        "timestamp": "2026-11-25T10:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": "T-1"},
        **extra,
    }


async def test_a_2_0_1_update_without_an_id_token_is_answered_once_published() -> None:
    session, ws, bus, _ = make(OcppVersion.V201)
    running = asyncio.create_task(session.run())
    ws.feed(2, "u1", "TransactionEvent", transaction_event("Updated", 1))
    await ws.wait_sent(1)
    assert ws.sent[0] == [3, "u1", {}]  # answered without waiting for the session-service
    token = {"idToken": "CARD-1", "type": "ISO14443"}
    ws.feed(2, "u2", "TransactionEvent", transaction_event("Updated", 2, idToken=token))
    await bus.asked.wait()  # a token to judge: the session-service answers
    assert ws.sent == [[3, "u1", {}]]
    bus.release.set()
    await ws.wait_sent(2)
    assert bus.published == ["TransactionEvent", "TransactionEvent"]
    await ws.close()
    await running


async def test_calls_are_answered_in_order_and_the_worker_exits() -> None:
    session, ws, bus, _ = make(OcppVersion.V16)
    running = asyncio.create_task(session.run())
    ws.feed(2, "b", "BootNotification", BOOT)
    ws.feed(2, "h", "Heartbeat", {})
    ws.feed(2, "s", "StatusNotification", STATUS)
    ws.feed(2, "x", "Heartbeat", {"extra": 1})
    await ws.read_all.wait()
    assert bus.published == ["BootNotification"]
    assert ws.sent == [], "nothing overtakes the BootNotification"
    bus.release.set()
    await ws.wait_sent(4)
    assert [frame[1] for frame in ws.sent] == ["b", "h", "s", "x"]
    assert [frame[0] for frame in ws.sent] == [3, 3, 3, 4]
    assert bus.published == ["BootNotification", "StatusNotification"]
    await until(lambda: session.idle)
    await ws.close()
    await running


async def test_calls_beyond_the_queue_limit_get_generic_error() -> None:
    session, ws, bus, _ = make(OcppVersion.V16, max_queued_calls=2)
    running = asyncio.create_task(session.run())
    for n in range(5):
        ws.feed(2, f"b{n}", "BootNotification", BOOT)
    await ws.wait_sent(2)
    refused = [(f[0], f[1], f[2]) for f in ws.sent]
    assert refused == [(4, "b3", "GenericError"), (4, "b4", "GenericError")]
    bus.release.set()
    await ws.wait_sent(5)
    assert [f[1] for f in ws.sent if f[0] == 3] == ["b0", "b1", "b2"]
    await ws.close()
    await running


async def test_a_call_refused_for_overload_gets_internal_error_with_retry_after() -> None:
    class BehindBus(FakeBus):
        async def request(
            self, cp_id: str, mid: str, action: str, *_: Any, **__: Any
        ) -> dict[str, Any]:
            raise Overloaded(action, 7.2)

    session, ws, _, _ = make(OcppVersion.V16, bus=BehindBus())
    running = asyncio.create_task(session.run())
    ws.feed(2, "b1", "BootNotification", BOOT)
    await ws.wait_sent(1)
    [[kind, message_id, code, description, details]] = ws.sent
    assert (kind, message_id, code) == (4, "b1", "InternalError")
    assert "busy" in description and details == {"retryAfterSeconds": 8}
    await ws.close()
    await running


async def test_a_call_the_broker_lost_gets_internal_error_and_the_next_is_answered() -> None:
    class LostBus(FakeBus):
        async def notify(self, cp_id: str, mid: str, action: str, *_: Any) -> None:
            if mid == "s1":
                raise ChannelInvalidStateError("No active transport in channel")
            self.published.append(action)

    session, ws, _, _ = make(OcppVersion.V16, bus=LostBus())
    running = asyncio.create_task(session.run())
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    ws.feed(2, "s1", "StatusNotification", status)
    ws.feed(2, "s2", "StatusNotification", status)
    await ws.wait_sent(2)
    [[kind, message_id, code, description, _details], answered] = ws.sent
    assert (kind, message_id, code) == (4, "s1", "InternalError")
    assert "could not reach its service" in description
    assert answered[:2] == [3, "s2"]
    await ws.close()
    await running


@pytest.mark.parametrize("failure", ["cancelled", "bug"])
async def test_a_call_whose_forwarding_fails_in_the_gateway_is_still_answered(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A wait cancelled under the worker (not by the connection closing), or an error no
    refusal names: the CP gets InternalError at once, not silence until its own timeout, and
    the calls queued behind it are answered."""

    class BrokenBus(FakeBus):
        async def request(self, cp_id: str, mid: str, action: str, *_: Any, **__: Any) -> Any:
            if mid != "b1":
                return await super().request(cp_id, mid, action, *_, **__)
            if failure == "bug":
                raise KeyError("a bug")
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lost.cancel()
            return await lost

    bus = BrokenBus()
    bus.release.set()
    session, ws, _, _ = make(OcppVersion.V16, bus=bus)
    running = asyncio.create_task(session.run())
    ws.feed(2, "b1", "BootNotification", BOOT)
    ws.feed(2, "b2", "BootNotification", BOOT)
    await asyncio.wait_for(ws.wait_sent(2), 10)  # without an answer: TimeoutError
    [[kind, message_id, code, description, details], answered] = ws.sent
    assert (kind, message_id, code) == (4, "b1", "InternalError")
    assert "BootNotification was not answered; retry" in description
    assert details == {"retryAfterSeconds": 1}
    assert answered[:2] == [3, "b2"]
    assert "BootNotification" in caplog.text
    await ws.close()
    await running


async def test_until_accepted_only_boot_notification_passes() -> None:
    session, ws, bus, seen = make(OcppVersion.V16, status="Pending")
    running = asyncio.create_task(session.run())
    ws.feed(2, "h", "Heartbeat", {})
    await ws.wait_sent(1)
    assert ws.sent[0][:3] == [4, "h", "SecurityError"]
    assert len(seen) == 0
    bus.release.set()
    ws.feed(2, "b", "BootNotification", BOOT)
    ws.feed(2, "h2", "Heartbeat", {})
    await ws.wait_sent(3)
    assert [f[0] for f in ws.sent[1:]] == [3, 3], "Accepted by the boot before it"
    await ws.close()
    await running


async def test_commands_one_at_a_time_limit_and_abandon_on_disconnect() -> None:
    session, ws, bus, _ = make(OcppVersion.V16, max_queued_commands=2)
    running = asyncio.create_task(session.run())
    assert session.enqueue_command(Command(0))  # type: ignore[arg-type]
    assert session.enqueue_command(Command(1))  # type: ignore[arg-type]
    assert not session.enqueue_command(Command(2)), "queue full"  # type: ignore[arg-type]
    await ws.wait_sent(1)
    assert ws.sent[0][:3] == [2, "cmd-0", "Reset"]
    # Anything sent meanwhile would go out before the answer to a Heartbeat read after it.
    ws.feed(2, "h", "Heartbeat", {})
    await ws.wait_sent(2)
    assert ws.sent[1][:2] == [3, "h"], "one outstanding command at a time"
    ws.feed(3, "cmd-0", {"status": "Accepted"})
    await ws.wait_sent(3)
    assert ws.sent[2][:2] == [2, "cmd-1"]
    assert bus.replies[0][0] == "cmd-0" and bus.replies[0][1]["status"] == "result"
    assert session.enqueue_command(Command(3))  # type: ignore[arg-type]
    await ws.close()
    await running
    assert ("cmd-3", {"status": "disconnected"}) in bus.replies
    assert session.idle


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "Invalid JSON"),
        (b'{"payload": {"type": "Soft"}}', "action: Field required"),
        (b'{"action": "Reset", "payload": [1]}', "payload: Input should be an object"),
        (b'{"action": "Reset", "payload": {}, "timeout": "soon"}', "timeout: Input should be"),
    ],
)
async def test_a_malformed_command_is_rejected_logged_and_changes_nothing(
    body: bytes, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    session, ws, bus, _ = make(OcppVersion.V16)
    running = asyncio.create_task(session.run())
    malformed = Command(0)
    malformed.body = body
    with caplog.at_level(logging.ERROR, "ws_gateway.commands"):
        assert session.enqueue_command(malformed)  # type: ignore[arg-type]
        await asyncio.wait_for(bus.replied.wait(), 5)
    [(command_id, outcome)] = bus.replies
    assert command_id == "cmd-0" and outcome["status"] == "rejected"
    assert outcome["reason"].startswith("malformed command: not a CommandRequest: ")
    assert problem in outcome["reason"]
    assert "CP-1: refused a malformed command: not a CommandRequest" in caplog.text
    assert problem in caplog.text
    assert ws.sent == [], "nothing reached the CP"
    # The next command goes as usual.
    assert session.enqueue_command(Command(1))  # type: ignore[arg-type]
    await ws.wait_sent(1)
    assert ws.sent[0][:3] == [2, "cmd-1", "Reset"]
    await ws.close()
    await running


@pytest.mark.parametrize("frames", [1, 3])
async def test_idle_after_work_holds_no_task(frames: int) -> None:
    session, ws, bus, _ = make(OcppVersion.V16)
    bus.release.set()
    running = asyncio.create_task(session.run())
    for n in range(frames):
        ws.feed(2, f"s{n}", "StatusNotification", STATUS)
    await ws.wait_sent(frames)
    await until(lambda: session.idle)
    await ws.close()
    await running


def held_for_boot() -> float:
    """Commands the gateway has held back for a BootNotification's answer, so far."""
    return REGISTRY.get_sample_value("csms_gateway_commands_held_for_boot_total") or 0.0


async def test_a_command_waits_for_the_answer_to_the_boot_notification() -> None:
    """OCPP 1.6 section 4.2: a CP is registered once it holds its BootNotification's answer, so
    a command that comes meanwhile leaves after that answer, never before it."""
    session, ws, bus, _ = make(OcppVersion.V16)
    running = asyncio.create_task(session.run())
    ws.feed(2, "b", "BootNotification", BOOT)
    await bus.asked.wait()
    before = held_for_boot()
    assert session.enqueue_command(Command(0))  # type: ignore[arg-type]
    # The command reaches the gate, or (the bug) the CP's socket.
    await until(lambda: held_for_boot() > before or ws.sent)
    bus.release.set()
    await ws.wait_sent(2)
    assert [frame[:2] for frame in ws.sent] == [[3, "b"], [2, "cmd-0"]]
    ws.feed(3, "cmd-0", {"status": "Accepted"})
    await asyncio.wait_for(bus.replied.wait(), 5)
    assert bus.replies[0][0] == "cmd-0" and bus.replies[0][1]["status"] == "result"
    await ws.close()
    await running


async def test_a_command_held_for_a_boot_never_answered_times_out_unsent() -> None:
    session, ws, bus, _ = make(OcppVersion.V16)
    running = asyncio.create_task(session.run())
    ws.feed(2, "b", "BootNotification", BOOT)
    await bus.asked.wait()
    assert session.enqueue_command(Command(0, timeout=0.05))  # type: ignore[arg-type]
    await asyncio.wait_for(bus.replied.wait(), 5)
    assert bus.replies == [("cmd-0", {"status": "timeout"})]
    assert ws.sent == [], "neither the command nor an answer went out"
    # The boot's answer, and a command after it, go out as usual.
    bus.release.set()
    await ws.wait_sent(1)
    assert session.enqueue_command(Command(1))  # type: ignore[arg-type]
    await ws.wait_sent(2)
    assert [frame[:2] for frame in ws.sent] == [[3, "b"], [2, "cmd-1"]]
    await ws.close()
    await running


BOOT_V201 = {"chargingStation": {"model": "X1", "vendorName": "ACME"}, "reason": "PowerUp"}


@pytest.mark.parametrize(
    ("version", "boot"), [(OcppVersion.V16, BOOT), (OcppVersion.V201, BOOT_V201)]
)
async def test_the_boot_notification_answer_gives_the_registration_status(
    version: OcppVersion, boot: dict[str, Any]
) -> None:
    """OCPP 1.6 section 4.2, 2.0.1 B02: a Pending CP sends nothing but BootNotification."""
    session, ws, bus, _ = make(version)
    bus.answer = {"status": "Pending", "currentTime": "2026-11-25T10:00:00Z", "interval": 60}
    bus.release.set()
    running = asyncio.create_task(session.run())
    ws.feed(2, "b", "BootNotification", boot)
    await ws.wait_sent(1)
    assert ws.sent[0] == [3, "b", bus.answer]
    assert session.registration_status == "Pending"
    ws.feed(2, "h", "Heartbeat", {})
    await ws.wait_sent(2)
    assert ws.sent[1][:3] == [4, "h", "SecurityError"]
    await ws.close()
    await running


async def test_an_unreadable_boot_notification_answer_is_not_passed_on() -> None:
    """An answer that is no BootNotification answer: the CP gets an InternalError to retry on,
    and its registration stays as it was."""
    session, ws, bus, _ = make(OcppVersion.V16, status="Pending")
    bus.answer = {"status": "Maybe", "currentTime": "2026-11-25T10:00:00Z", "interval": 60}
    bus.release.set()
    running = asyncio.create_task(session.run())
    ws.feed(2, "b", "BootNotification", BOOT)
    await ws.wait_sent(1)
    assert ws.sent[0][:3] == [4, "b", "InternalError"]
    assert session.registration_status == "Pending"
    await ws.close()
    await running
