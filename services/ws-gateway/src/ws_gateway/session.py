"""One charge point's connection: its CALLs in order, its commands one at a time."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime

from aio_pika.abc import AbstractIncomingMessage
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms_shared.ocpp import JsonObject, format_datetime, utcnow
from csms_shared.ocpp.catalog import catalog, other_versions_action
from csms_shared.ocpp.errors import (
    GenericError,
    InternalError,
    NotImplementedOcppError,
    NotSupportedError,
    OcppError,
    SecurityError,
)
from csms_shared.ocpp.framing import (
    Call,
    CallError,
    CallResult,
    FrameError,
    parse_frame,
    validate_payload,
)
from csms_shared.ocpp.version import OcppVersion

from .boot_gate import BootGate
from .bus import GatewayBus
from .call_metrics import (
    FRAME_CALL,
    FRAME_ERROR,
    FRAME_MALFORMED,
    FRAME_RESULT,
    LATE_ANSWERS,
    STRIKES,
    THROTTLED,
    UNSOLICITED,
    call_metrics,
)
from .commands import Commands
from .forwarding import forward, registration_of, timing_of
from .limits import TokenBucket
from .message_log import MessageLog
from .seen import SeenTracker
from .settings import Settings

log = logging.getLogger(__name__)

CLOSE_POLICY_VIOLATION = 1008


class ChargePointSession:
    """Reads a CP's frames, answers its CALLs in order and sends it commands one at a time.

    An idle connection holds no task of its own and no queue object: a CALL the gateway answers
    itself (Heartbeat, a refused CALL) is answered as it is read when nothing is queued before it;
    a CALL for a service and a command start a worker that drains its list and exits.
    """

    __slots__ = (
        "_boot",
        "_bucket",
        "_bus",
        "_call_task",
        "_calls",
        "_catalog",
        "_commands",
        "_log",
        "_seen",
        "_settings",
        "_strikes",
        "_unsolicited_logged_at",
        "connected_at",
        "connection_id",
        "cp_id",
        "ocpp_version",
        "registration_status",
        "ws",
    )

    def __init__(
        self,
        cp_id: str,
        ws: ServerConnection,
        bus: GatewayBus,
        settings: Settings,
        seen: SeenTracker,
        registration_status: str = "Accepted",
        message_log: MessageLog | None = None,
        *,
        ocpp_version: OcppVersion,
    ) -> None:
        self.cp_id = cp_id
        self.ws = ws
        # The version the handshake agreed on: every frame is checked against its actions.
        self.ocpp_version = ocpp_version
        self._catalog = catalog(ocpp_version)
        self.connection_id = uuid.uuid4().hex
        self.connected_at = utcnow()
        self._bus = bus
        self._settings = settings
        self._seen = seen
        # CALLs waiting behind the one in progress: (call, received, started). Lists, not
        # deques: an empty deque is 760 bytes, an empty list 56, and these hold a few items.
        self._calls: list[tuple[Call, datetime, float]] = []
        self._call_task: asyncio.Task[None] | None = None
        self._commands: Commands | None = None  # made at the first command
        # Commands wait while a BootNotification awaits its answer (boot_gate.py).
        self._boot = BootGate()
        self.registration_status = registration_status
        self._bucket = TokenBucket(settings.rate_limit_per_second, settings.rate_limit_burst)
        self._strikes = 0
        self._unsolicited_logged_at = 0.0
        # A session made without the gateway's log records into one that is never sent.
        self._log = message_log or MessageLog(settings, "")

    @property
    def idle(self) -> bool:
        """No task of its own: no CALL being forwarded, no command queued or in flight."""
        return self._call_task is None and (self._commands is None or self._commands.idle)

    async def run(self) -> None:
        """Serve the connection until it closes."""
        try:
            async for data in self.ws:
                await self._on_frame(data)
        except ConnectionClosed:
            pass
        finally:
            if self._call_task is not None:
                self._call_task.cancel()
                await asyncio.gather(self._call_task, return_exceptions=True)
            self._calls.clear()
            self._boot.release()
            if self._commands is not None:
                await self._commands.close()

    async def _send(self, data: bytes) -> None:
        try:
            await self.ws.send(data, text=True)
        except ConnectionClosed:
            pass

    async def _send_frame(self, frame: CallResult | CallError, action: str | None) -> None:
        """Send an answer to the CP (a CALLERROR's code as its version spells it), and log it."""
        if isinstance(frame, CallError):
            frame = frame.spelled(self.ocpp_version)
            data = frame.to_json(self.ocpp_version)
        else:
            data = frame.to_json()
        self._log.frame_out(self.cp_id, self.connection_id, frame, data, action)
        await self._send(data)

    async def _on_frame(self, data: str | bytes) -> None:
        received = utcnow()
        started = time.monotonic()
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            FRAME_MALFORMED.inc()
            # Every frame spends the CP's budget: past it a malformed one is dropped unlogged.
            if not self._bucket.take():
                await self._strike("malformed")
                return
            self._log.malformed(self.cp_id, self.connection_id, data)
            await self._send_frame(CallError.from_exception(exc.message_id, exc), None)
            return
        if isinstance(frame, Call):
            FRAME_CALL.inc()
            if not self._bucket.take():
                await self._throttle(frame)
                return
            self._log.frame_in(self.cp_id, self.connection_id, frame, data, None)
            if frame.action == "BootNotification" and (
                self._call_task is None or len(self._calls) < self._settings.max_queued_calls
            ):
                self._boot.received()  # answered in _respond, whichever way it goes
            if self._call_task is None:
                # Nothing queued before it: answer it here if the gateway can (no task at all).
                try:
                    payload = self._check(frame, received)
                except OcppError as exc:
                    await self._respond(frame, None, exc, started)
                    return
                if payload is not None:
                    await self._respond(frame, payload, None, started)
                    return
                # For a service: a worker forwards it, and any CALL that queues up behind it.
                self._call_task = asyncio.create_task(self._call_worker(frame, received, started))
            elif len(self._calls) >= self._settings.max_queued_calls:
                error = GenericError("Too many CALLs outstanding; send one at a time")
                await self._send_frame(
                    CallError.from_exception(frame.message_id, error), frame.action
                )
            else:
                self._calls.append((frame, received, started))
            return
        (FRAME_RESULT if isinstance(frame, CallResult) else FRAME_ERROR).inc()
        # An answer spends the budget too, but one to the command in flight (or one that
        # timed out) is never refused: their number is the gateway's own doing.
        spent = self._bucket.take()
        commands = self._commands
        pending = commands.pending if commands is not None else None
        command = (
            pending if pending is not None and pending.message_id == frame.message_id else None
        )
        if command is None and commands is not None:
            command = commands.answered_late(frame.message_id)
            if command is not None:
                LATE_ANSWERS.inc()
        if command is not None:
            self._log.frame_in(
                self.cp_id, self.connection_id, frame, data, command.action, command.carried
            )
            if commands is not None:
                commands.answer(frame)
            return
        await self._unsolicited(frame, data, spent)

    async def _unsolicited(
        self, frame: CallResult | CallError, data: str | bytes, spent: bool
    ) -> None:
        """An answer to no call of ours: dropped and counted, a strike (a CP that keeps at it
        is disconnected), and at most one kept in the message log and the text log per
        GATEWAY_UNSOLICITED_LOG_SECONDS of a connection."""
        UNSOLICITED.inc()
        now = time.monotonic()
        if spent and now >= self._unsolicited_logged_at:
            self._unsolicited_logged_at = now + self._settings.unsolicited_log_seconds
            self._log.frame_in(self.cp_id, self.connection_id, frame, data, None)
            log.info(
                "%s: dropped an answer to no pending call (%s; further ones for %.0f s are"
                " only counted)",
                self.cp_id,
                frame.message_id,
                self._settings.unsolicited_log_seconds,
            )
        await self._strike("unsolicited" if spent else "rate_limit")

    async def _strike(self, reason: str) -> bool:
        """A frame the CP should not have sent (over its rate, an answer to nothing): counted
        by reason; past GATEWAY_RATE_LIMIT_STRIKES the CP is disconnected (True)."""
        self._strikes += 1
        STRIKES.labels(reason).inc()
        if self._strikes < self._settings.rate_limit_strikes:
            return False
        log.warning("%s: disconnected for flooding (%s)", self.cp_id, reason)
        await self.ws.close(CLOSE_POLICY_VIOLATION, "Message rate limit exceeded repeatedly")
        return True

    async def _throttle(self, call: Call) -> None:
        """Over the rate limit: refuse the CALL; a CP that keeps at it is disconnected."""
        THROTTLED.inc()
        if await self._strike("rate_limit"):
            return
        error = GenericError(
            "Message rate limit exceeded",
            {"retryAfterSeconds": round(self._bucket.retry_after(), 3)},
        )
        await self._send_frame(CallError.from_exception(call.message_id, error), call.action)

    async def _call_worker(self, call: Call, received: datetime, started: float) -> None:
        """Forward a checked CALL, then answer the ones queued behind it in order, then exit."""
        try:
            checked = True
            while True:
                try:
                    payload = None if checked else self._check(call, received)
                    if payload is None:
                        payload = await self._forward(call, received)
                except OcppError as exc:
                    await self._respond(call, None, exc, started)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is None or task.cancelling():
                        raise  # the connection is closing
                    # A wait cancelled under it (not this worker): the CP still gets its answer,
                    # and the calls queued behind it are not left without a worker.
                    log.warning("%s: %s lost its answer (cancelled)", self.cp_id, call.action)
                    await self._respond(call, None, _unanswered(call), started)
                except Exception:
                    log.exception("%s: %s failed in the gateway", self.cp_id, call.action)
                    await self._respond(call, None, _unanswered(call), started)
                else:
                    await self._respond(call, payload, None, started)
                if not self._calls:
                    return
                call, received, started = self._calls.pop(0)
                checked = False
        finally:
            self._call_task = None

    async def _respond(
        self,
        call: Call,
        payload: JsonObject | None,
        error: OcppError | None,
        started: float,
    ) -> None:
        answer: CallResult | CallError
        if error is None:
            answer = CallResult(call.message_id, payload or {})
            outcome = "result"
        else:
            answer = CallError.from_exception(call.message_id, error)
            outcome = str(error.code)
        try:
            await self._send_frame(answer, call.action)
        finally:
            if call.action == "BootNotification":
                self._boot.answered()
        notification = self._catalog.is_notification(call.action, call.payload)
        counter, latency = call_metrics(self._catalog, call.action, outcome, notification)
        counter.inc()
        latency.observe(time.monotonic() - started)

    def _check(self, call: Call, received: datetime) -> JsonObject | None:
        """Checks in the gateway; the answer when the gateway gives it itself, else None."""
        spec = self._catalog.spec(call.action)
        if spec is None:
            other = other_versions_action(self.ocpp_version, call.action)
            raise NotImplementedOcppError(
                f"Unknown action {call.action!r} in OCPP {self.ocpp_version}"
                + (f" (it is an OCPP {other} action)" if other else "")
            )
        if call.action not in self._catalog.from_station:
            raise NotSupportedError(f"{call.action} is sent by the central system, not to it")
        if self.registration_status != "Accepted" and call.action != "BootNotification":
            # OCPP 1.6 section 4.2, 2.0.1 B02/B03: until Accepted, a CP sends nothing but
            # BootNotification.
            raise SecurityError(
                f"The charge point is {self.registration_status}: only BootNotification is"
                " accepted until the central system accepts it"
            )
        validate_payload(spec.request, call.payload)
        if call.action == "Heartbeat":
            # Answered from the gateway's clock, not published: its one effect, last seen,
            # leaves coalesced in `station.seen` (see seen.py).
            self._seen.record(self.cp_id, received)
            return {"currentTime": format_datetime(utcnow())}
        return None

    async def _forward(self, call: Call, received: datetime) -> JsonObject:
        """Publish a checked CALL to its service; its answer (raises OcppError). A
        BootNotification's answer sets the CP's registration status."""
        payload = await forward(
            self._bus, timing_of(self._settings), self.ocpp_version, self.cp_id, call, received
        )
        if call.action == "BootNotification":
            self.registration_status = registration_of(self.cp_id, self.ocpp_version, payload)
        return payload

    def enqueue_command(self, message: AbstractIncomingMessage) -> bool:
        """Queue a command for this CP; False when its queue is full."""
        if self._commands is None:
            self._commands = Commands(
                self.ws,
                self._bus,
                self._settings.command_timeout,
                self._log,
                self.cp_id,
                self.connection_id,
                self._boot,
                self.ocpp_version,
            )
        elif len(self._commands) >= self._settings.max_queued_commands:
            return False
        self._commands.enqueue(message)
        return True


def _unanswered(call: Call) -> InternalError:
    """The CALLERROR for a call whose forwarding failed in the gateway itself: the CP re-sends."""
    return InternalError(f"{call.action} was not answered; retry", {"retryAfterSeconds": 1})
