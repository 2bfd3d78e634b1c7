"""The OCPP message log, gateway side: every frame and connection event, redacted, bundled.

Recording is an append to a bounded list: the CP's traffic never waits for the log. A flusher
publishes the records in bundles to `ocpp.log` with at most a few bundles unconfirmed; a full
list, a broker that refuses a bundle (the writer's queue is full) or no broker at all drop
records, counted per CP and shown in the log as a `gap` record once there is room again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import aiormq
from aio_pika import DeliveryMode
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from prometheus_client import Counter, Gauge

from csms_shared.bus.message_log import (
    HEADER_RECORDS,
    LEVEL_CHANGED,
    EventDetails,
    GapDetails,
    MessageLogLevel,
    Record,
    RecordKind,
    encode_records,
    wanted,
)
from csms_shared.bus.publish import publish
from csms_shared.bus.rpc import RpcClient, RpcError, RpcUnavailable
from csms_shared.bus.topology import EVENTS, MESSAGE_LOG, gateway_queue
from csms_shared.contracts.events import MessageLogLevelChanged
from csms_shared.contracts.rpc import MessageLogRpc, NoParams
from csms_shared.ocpp.framing import Call, CallError, CallResult
from csms_shared.ocpp.redaction import (
    names_secret,
    redact_echo,
    redact_request,
    redact_response,
    secret_keys,
)
from csms_shared.ocpp.url_passwords import REDACTED, redact_url_passwords

from .settings import Settings

log = logging.getLogger(__name__)

RECORDED = Counter(
    "csms_gateway_message_log_records_total", "Records put in the message log buffer"
)
DROPPED = Counter(
    "csms_gateway_message_log_dropped_total", "Message log records dropped", ["reason"]
)
PUBLISHED = Counter("csms_gateway_message_log_bundles_total", "Message log bundles confirmed")
BUFFERED = Gauge("csms_gateway_message_log_buffered", "Message log records waiting to leave")
_DROPPED_FULL = DROPPED.labels("buffer_full")
_DROPPED_REFUSED = DROPPED.labels("broker_refused")

WRITER = "message-log"
PERSISTENT = int(DeliveryMode.PERSISTENT)
Frame = Call | CallResult | CallError


class MessageLog:
    """This gateway's side of the log: levels per CP, the buffer, the flusher."""

    def __init__(self, settings: Settings, gateway: str) -> None:
        self.gateway = gateway
        self.default_level = settings.message_log_level
        self.overrides: dict[str, MessageLogLevel] = {}
        self.secrets = secret_keys(settings.secret_configuration_keys)
        self._raw_max = settings.message_log_raw_max_bytes
        self._capacity = settings.message_log_buffer
        self._bundle_max = settings.message_log_bundle_max
        self._wait = settings.message_log_bundle_wait_ms / 1000
        self._refresh = settings.message_log_refresh_seconds
        self._slots = asyncio.Semaphore(settings.message_log_in_flight)
        self._buffer: list[Record] = []
        self._recorded = 0
        self._dropped: dict[str, tuple[int, float]] = {}
        self._wake = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._rpc: RpcClient | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- levels ----------------------------------------------------------------------------

    def level_of(self, cp_id: str) -> MessageLogLevel:
        """The CP's level: an admin's override, else the gateway's default."""
        return self.overrides.get(cp_id, self.default_level)

    async def _load_overrides(self) -> None:
        assert self._rpc is not None
        try:
            result = await self._rpc.call(MessageLogRpc.levels_list, NoParams(), timeout=5.0)
            self.overrides = dict(result.levels)
        except (RpcError, RpcUnavailable) as exc:
            log.warning("message log levels not loaded (%s); default %s", exc, self.default_level)

    async def _refresh_overrides(self) -> None:
        # Events say at once; the periodic read catches any missed while the broker was away.
        while True:
            await self._load_overrides()
            await asyncio.sleep(self._refresh)

    async def _on_level_changed(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            try:
                event = MessageLogLevelChanged.model_validate_json(message.body)
                if event.level is None:
                    self.overrides.pop(event.charge_point_id, None)
                else:
                    self.overrides[event.charge_point_id] = MessageLogLevel(event.level)
            except ValueError:  # pydantic's ValidationError included
                log.warning("ignored a malformed %s event", LEVEL_CHANGED)

    # -- recording -------------------------------------------------------------------------

    def pending(self) -> list[Record]:
        """The records waiting to leave, oldest first (a copy)."""
        return list(self._buffer)

    def _add(self, record: Record) -> None:
        cp_id = record[0]
        if len(self._buffer) >= self._capacity:
            self._drop(cp_id, 1, record[1])
            _DROPPED_FULL.inc()
            return
        if self._dropped:
            self._mark_gaps()
        self._buffer.append(record)
        # Counted here, added to the metric by the flusher: a lock per record costs.
        self._recorded += 1
        if not self._wake.is_set():
            self._wake.set()

    def _drop(self, cp_id: str, count: int, at: float) -> None:
        before, since = self._dropped.get(cp_id, (0, at))
        self._dropped[cp_id] = (before + count, min(since, at))

    def _mark_gaps(self) -> None:
        """One `gap` record per CP that lost records, where they would have been."""
        now = time.time()
        for cp_id, (count, since) in self._dropped.items():
            payload = GapDetails(dropped=count, since=round(since * 1000))
            self._buffer.append(
                (cp_id, now, RecordKind.GAP, None, None, None, None, payload, None, 0, None)
            )
        self._dropped.clear()

    def frame_in(
        self,
        cp_id: str,
        connection_id: str,
        frame: Frame,
        data: str | bytes,
        action: str | None,
        carried: list[str] | None = None,
    ) -> None:
        """A frame the CP sent (its text `data`); `action` names the CALL a CALLRESULT or
        CALLERROR answers, `carried` the secrets that CALL carried (redacted if echoed)."""
        if isinstance(frame, Call):
            action = frame.action
        if not wanted(self.overrides.get(cp_id, self.default_level), action):
            return
        self._add(self._frame(cp_id, connection_id, "in", frame, data, action, carried))

    def frame_out(
        self, cp_id: str, connection_id: str, frame: Frame, data: str | bytes, action: str | None
    ) -> None:
        """A frame the gateway sent the CP (its text `data`): its answers and the commands it
        relays."""
        if isinstance(frame, Call):
            action = frame.action
        if not wanted(self.overrides.get(cp_id, self.default_level), action):
            return
        self._add(self._frame(cp_id, connection_id, "out", frame, data, action, None))

    def _frame(
        self,
        cp_id: str,
        connection_id: str,
        direction: str,
        frame: Frame,
        data: str | bytes,
        action: str | None,
        carried: list[str] | None,
    ) -> Record:
        payload: Any
        # Only a frame whose text holds a URL can hold a URL's password: most frames are not
        # walked at all.
        urls = (b"://" in data) if isinstance(data, bytes) else ("://" in data)
        if isinstance(frame, Call):
            mt, payload = 2, redact_request(frame.action, frame.payload, self.secrets, urls=urls)
        elif isinstance(frame, CallResult):
            # Only a GetConfiguration answer lists configuration values.
            mt, payload = 3, redact_response(frame.payload, self.secrets, urls=urls, action=action)
            if carried:
                payload = redact_echo(payload, carried)
        else:
            mt, payload = 4, [str(frame.error_code), frame.error_description, frame.error_details]
            if carried or urls:
                payload = redact_echo(payload, carried or [])
        return (
            cp_id,
            time.time(),
            RecordKind.FRAME,
            direction,
            mt,
            frame.message_id,
            action,
            payload,
            None,
            len(data),
            connection_id,
        )

    def malformed(self, cp_id: str, connection_id: str, data: str | bytes) -> None:
        """A frame that is not OCPP-J, as its text (truncated; hidden if it names a secret,
        URL passwords redacted)."""
        if not wanted(self.overrides.get(cp_id, self.default_level), None):
            return
        raw = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if names_secret(raw, self.secrets):
            text = f"{REDACTED}: the frame names a secret configuration key"
        else:
            # Redacted before it is cut: a cut through a URL could hide its "@".
            text = redact_url_passwords(raw)[: self._raw_max]
        self._add(
            (
                cp_id,
                time.time(),
                RecordKind.MALFORMED,
                "in",
                None,
                None,
                None,
                None,
                text,
                len(data),
                connection_id,
            )
        )

    def event(
        self,
        cp_id: str,
        kind: RecordKind,
        details: EventDetails,
        connection_id: str | None = None,
    ) -> None:
        """A connection's event: connected, closed, refused, takeover."""
        if not wanted(self.overrides.get(cp_id, self.default_level), None):
            return
        self._add(
            (cp_id, time.time(), kind, None, None, None, None, details, None, 0, connection_id)
        )

    # -- publishing ------------------------------------------------------------------------

    async def start(self, connection: AbstractConnection, rpc: RpcClient) -> None:
        """Open the log's channel, follow level changes, start flushing; `rpc` (the gateway
        bus's) reads the levels."""
        self._channel = await connection.channel(publisher_confirms=True)
        await self._channel.declare_exchange(MESSAGE_LOG.name, MESSAGE_LOG.type, durable=True)
        self._rpc = rpc
        events_channel = await connection.channel(publisher_confirms=False)
        queue = await events_channel.declare_queue(
            gateway_queue(self.gateway) + ".message-log", exclusive=True, auto_delete=True
        )
        await queue.bind(EVENTS.name, LEVEL_CHANGED)
        await queue.consume(self._on_level_changed)
        # The overrides are read beside: a writer that is down must not hold the gateway's start.
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="message-log-flush"),
            asyncio.create_task(self._refresh_overrides(), name="message-log-levels"),
        ]

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            # Gather a little: one bundle per many records, as notifications do.
            await asyncio.sleep(self._wait)
            self._wake.clear()
            RECORDED.inc(self._recorded)
            self._recorded = 0
            while self._buffer:
                await self._slots.acquire()
                batch = self._buffer[: self._bundle_max]
                del self._buffer[: self._bundle_max]
                BUFFERED.set(len(self._buffer))
                task = asyncio.create_task(self._publish(batch))
                self._publishing.add(task)
                task.add_done_callback(self._publishing.discard)

    async def _publish(self, batch: list[Record]) -> None:
        assert self._channel is not None
        try:
            properties = aiormq.spec.Basic.Properties(
                content_type="application/json",
                delivery_mode=PERSISTENT,
                # The writer stores a bundle once, however often it is delivered.
                message_id=uuid.uuid4().hex,
                headers={HEADER_RECORDS: len(batch)},
            )
            confirmation = await asyncio.wait_for(
                publish(
                    self._channel,
                    encode_records(self.gateway, batch),
                    exchange=MESSAGE_LOG.name,
                    routing_key="",
                    properties=properties,
                    mandatory=True,
                ),
                timeout=10.0,
            )
            if confirmation is not None and not isinstance(confirmation, aiormq.spec.Basic.Ack):
                raise RuntimeError("the broker refused the bundle (the writer's queue is full)")
            PUBLISHED.inc()
        except Exception as exc:
            # Unroutable (no writer ever declared its queue), refused, broker away: counted.
            log.debug("message log bundle of %d records dropped: %s", len(batch), exc)
            _DROPPED_REFUSED.inc(len(batch))
            for record in batch:
                self._drop(record[0], 1, record[1])
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Stop flushing and send what is buffered (within a few seconds), then stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dropped:
            self._mark_gaps()
        RECORDED.inc(self._recorded)
        self._recorded = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                while self._buffer and self._channel is not None:
                    await self._slots.acquire()
                    batch = self._buffer[: self._bundle_max]
                    del self._buffer[: self._bundle_max]
                    await self._publish(batch)
                await asyncio.gather(*self._publishing, return_exceptions=True)


__all__ = ["MessageLog"]
