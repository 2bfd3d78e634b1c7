"""The gateway's command half: CSMS->CP commands for a CP it holds, sent one at a time, and
each one's outcome (the CP's answer, or why there is none) sent back to whoever asked."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms_shared.contracts.envelopes import BadEnvelope, CommandOutcome, CommandRequest
from csms_shared.log_context import bound
from csms_shared.ocpp.catalog import catalog, other_versions_action
from csms_shared.ocpp.errors import OcppError
from csms_shared.ocpp.framing import Call, CallError, CallResult, validate_payload
from csms_shared.ocpp.redaction import carried_secrets, redact_echo
from csms_shared.ocpp.version import OcppVersion
from csms_shared.tracing import extract, trace_id, tracer

from .boot_gate import BootGate
from .bus import GatewayBus
from .message_log import MessageLog

log = logging.getLogger(__name__)

COMMANDS_OUT = Counter("csms_gateway_commands_total", "CS->CP commands", ["action", "outcome"])
# Timed-out commands whose late answer is still recognised as theirs.
LATE_KEPT = 4
HELD_FOR_BOOT = Counter(
    "csms_gateway_commands_held_for_boot_total",
    "CS->CP commands that waited for the answer to their connection's BootNotification",
)


@dataclass(slots=True)
class PendingCommand:
    """A CS->CP CALL waiting for the CP's answer."""

    message_id: str
    action: str
    future: asyncio.Future[CallResult | CallError]
    # The secrets the CALL carries (a secret key's value, URL passwords): the CP may echo
    # them anywhere in its CALLRESULT or CALLERROR, which is then logged and reported redacted.
    carried: list[str]


class Commands:
    """One CP's commands: queued, sent one at a time, each outcome answered to its asker.

    Made for a connection when its first command arrives; an idle connection has none."""

    __slots__ = (
        "_boot",
        "_bus",
        "_connection_id",
        "_cp_id",
        "_log",
        "_queued",
        "_task",
        "_timeout",
        "_version",
        "_ws",
        "late",
        "pending",
    )

    def __init__(
        self,
        ws: ServerConnection,
        bus: GatewayBus,
        default_timeout: float,
        message_log: MessageLog,
        cp_id: str,
        connection_id: str,
        boot: BootGate,
        version: OcppVersion,
    ) -> None:
        self._ws = ws
        self._version = version
        self._boot = boot
        self._log = message_log
        self._cp_id = cp_id
        self._connection_id = connection_id
        self._bus = bus
        self._timeout = default_timeout
        self._queued: list[AbstractIncomingMessage] = []
        self._task: asyncio.Task[None] | None = None
        self.pending: PendingCommand | None = None
        # The last commands that timed out: their answer may still come, late, and is then
        # neither an answer to nothing nor kept with the secrets it may echo.
        self.late: list[PendingCommand] = []

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def idle(self) -> bool:
        """No worker task: nothing queued or in flight."""
        return self._task is None

    def enqueue(self, message: AbstractIncomingMessage) -> None:
        """Queue a command; a worker sends the queued ones one at a time, then exits."""
        self._queued.append(message)
        if self._task is None:
            self._task = asyncio.create_task(self._worker())

    def answer(self, frame: CallResult | CallError) -> bool:
        """The CP's answer to the command in flight; False when it answers none."""
        pending = self.pending
        if pending is None or pending.message_id != frame.message_id or pending.future.done():
            return False
        pending.future.set_result(frame)
        return True

    def answered_late(self, message_id: str) -> PendingCommand | None:
        """The timed-out command a late answer with `message_id` belongs to, once; else None."""
        for n, command in enumerate(self.late):
            if command.message_id == message_id:
                return self.late.pop(n)
        return None

    async def close(self) -> None:
        """The CP went: stop sending, and answer what is still queued so nobody waits."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._queued:
            message = self._queued.pop(0)
            if message.reply_to:
                await self._bus.reply(
                    message.reply_to, message.correlation_id, CommandOutcome(status="disconnected")
                )

    async def _worker(self) -> None:
        try:
            while self._queued:
                message = self._queued.pop(0)
                outcome = await self._send(message)
                if message.reply_to:
                    await self._bus.reply(message.reply_to, message.correlation_id, outcome)
        finally:
            self._task = None

    async def _send(self, message: AbstractIncomingMessage) -> CommandOutcome:
        """Send one command to the CP and wait for its answer: the outcome for the asker."""
        # The command's id is its correlation id (command-api): on every line logged meanwhile.
        parent = extract(message.headers)
        with tracer.start_as_current_span("send command", context=parent, kind=SpanKind.CONSUMER):
            with bound(command_id=message.correlation_id, trace_id=trace_id()):
                return await self._send_now(message)

    async def _send_now(self, message: AbstractIncomingMessage) -> CommandOutcome:
        try:
            command = CommandRequest.decode(message.body)
        except BadEnvelope as exc:
            log.error("%s: refused a malformed command: %s", self._cp_id, exc)
            return CommandOutcome(status="rejected", reason=f"malformed command: {exc}")
        action, payload = command.action, command.payload
        timeout = command.timeout or self._timeout
        version = self._version
        if command.ocpp_version is not None and command.ocpp_version != version:
            return CommandOutcome(
                status="rejected",
                reason=f"checked against OCPP {command.ocpp_version}, but the charge point is"
                f" connected with OCPP {version}",
            )
        spec = catalog(version).spec(action)
        if spec is None or action not in catalog(version).to_station:
            other = other_versions_action(version, action)
            return CommandOutcome(
                status="rejected",
                reason=f"unknown action {action!r} in OCPP {version}"
                + (f" (it is an OCPP {other} action)" if other else ""),
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._boot.pending:
            # Not before the CP holds its BootNotification's answer (boot_gate.py); the wait
            # counts against the command's own timeout.
            HELD_FOR_BOOT.inc()
            try:
                await asyncio.wait_for(self._boot.wait(), timeout)
            except TimeoutError:
                COMMANDS_OUT.labels(action, "timeout").inc()
                return CommandOutcome(status="timeout")
        message_id = (message.correlation_id or uuid.uuid4().hex)[:36]
        future: asyncio.Future[CallResult | CallError] = loop.create_future()
        carried = carried_secrets(action, payload, self._log.secrets)
        pending = self.pending = PendingCommand(message_id, action, future, carried)
        sent_at = loop.time()
        try:
            call = Call(message_id, action, payload)
            data = call.to_json()
            self._log.frame_out(self._cp_id, self._connection_id, call, data, action)
            await self._ws.send(data, text=True)
            answer = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except TimeoutError:
            COMMANDS_OUT.labels(action, "timeout").inc()
            self.late = [*self.late[-(LATE_KEPT - 1) :], pending]
            return CommandOutcome(status="timeout")
        except ConnectionClosed:
            COMMANDS_OUT.labels(action, "disconnected").inc()
            return CommandOutcome(status="disconnected")
        finally:
            self.pending = None
        latency_ms = round((loop.time() - sent_at) * 1000, 3)
        if isinstance(answer, CallError):
            COMMANDS_OUT.labels(action, "error").inc()
            return CommandOutcome(
                status="error",
                error_code=str(answer.error_code),
                error_description=redact_echo(answer.error_description, carried),
                error_details=redact_echo(answer.error_details, carried),
                latency_ms=latency_ms,
            )
        # A CP may repeat what the command carried anywhere in a schema-valid answer (a new
        # key in setVariableResult[].attributeStatusInfo.additionalInfo): never kept or shown.
        response = redact_echo(answer.payload, carried) if carried else answer.payload
        try:
            validate_payload(spec.response, answer.payload)
        except OcppError as exc:
            COMMANDS_OUT.labels(action, "invalid").inc()
            return CommandOutcome(
                status="invalid",
                error_code=str(exc.code),
                error_description=redact_echo(
                    f"The charge point's answer breaks the schema: {exc}", carried
                ),
                response=response,
                latency_ms=latency_ms,
            )
        COMMANDS_OUT.labels(action, "result").inc()
        return CommandOutcome(status="result", response=response, latency_ms=latency_ms)
