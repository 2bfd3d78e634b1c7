"""Events to back offices' URLs: queued in the database from `ocpp.events`, POSTed signed,
retried with exponential backoff, in order per webhook and charge point.

Each webhook is an endpoint with its own queue (its rows) and its own delivery loop in each
replica, sending up to API_WEBHOOK_CONCURRENCY at once: a slow or dead receiver holds only its
own loop. Three failures in a row that say the receiver is unwell (no answer, 5xx, 408, 429;
no success between) pause the whole endpoint (base, doubling with each further one, at most
API_WEBHOOK_RETRY_MAX), then one delivery probes it; a success resumes it at full concurrency.
One CP's event refused among others taken pauses nothing (its own backoff holds it). Failing
for API_WEBHOOK_DISABLE_AFTER, it is disabled (`webhook.disabled`, a metric, the console's
notice) until an admin enables it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import Any

import httpx
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from cachetools import TTLCache
from prometheus_client import Counter, Gauge
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.ack import requeue_later
from csms_shared.bus.topology import EVENTS, quorum_arguments, service_queue
from csms_shared.contracts.events import InvalidEvent, charge_point_of, read_event
from csms_shared.outbound import RefusedTarget, check_target, pinned_request

from . import webhook_queue as queue
from . import webhook_store as store
from .settings import Settings
from .webhook_signing import delivery_headers

log = logging.getLogger(__name__)

QUEUE = service_queue("command-api", "webhook-events")
ATTEMPTS = Counter("csms_webhook_attempts_total", "Webhook POSTs by outcome", ["outcome"])
EVENTS_READ = Counter(
    "csms_webhook_events_total",
    "Events the webhook follower read: queued for a webhook, or matching none (wasted)",
    ["outcome"],
)
DISABLED = Counter("csms_webhook_disables_total", "Webhooks disabled for failing too long")
DISABLED_NOW = Gauge("csms_webhooks_disabled", "Webhooks disabled now (an admin enables them)")
PAUSED = Gauge("csms_webhooks_paused", "Webhooks whose receiver is failing, paused in this replica")
# Events the follower reads before it writes them in one transaction (their order kept).
FOLLOW_BATCH = 200
# Bindings are checked against the webhooks this often (another replica may have changed them).
BINDINGS_EVERY = 30.0
# Replicas change the queue's bindings one at a time (a transaction-scoped advisory lock).
BINDINGS_LOCK = 0x5745_4248  # "WEBH"


class Webhooks:
    """Follows `ocpp.events` into delivery rows, and delivers them (one of each per replica)."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._allowed = settings.webhook_networks()
        self._hooks: TTLCache[str, list[Row[Any]]] = TTLCache(maxsize=1, ttl=1.0)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Each enabled webhook's delivery loop, and what wakes it.
        self._endpoints: dict[str, asyncio.Task[None]] = {}
        # Loops of webhooks disabled or removed: their attempts in flight record what the
        # receiver answered, then the loop ends (cancelled, a delivery the receiver took would
        # stay `cancelled`).
        self._draining: set[asyncio.Task[None]] = set()
        self._wakes: dict[str, asyncio.Event] = {}
        self._paused: set[str] = set()
        self._queue: AbstractQueue | None = None
        self._exchange: AbstractExchange | None = None
        # No kept-alive connections: the pool tells them apart by address alone, and would carry
        # another host's request over a TLS session whose certificate was checked for this one.
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )

    async def start(self, channel: AbstractChannel) -> None:
        """Declare the event queue and run the follower and the deliverer."""
        await channel.set_qos(prefetch_count=100)
        await channel.declare_queue(
            f"{QUEUE}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )
        # One consumer at a time over all replicas: deliveries are queued in event order.
        queue = await channel.declare_queue(
            QUEUE,
            durable=True,
            arguments=quorum_arguments(QUEUE) | {"x-single-active-consumer": True},
        )
        self._queue = queue
        self._exchange = await channel.declare_exchange(EVENTS.name, EVENTS.type, durable=True)
        # Bound only to the events some webhook wants: with none, the queue stays empty and
        # this follower costs nothing (bound to `#`, it read every MeterValues).
        await self.sync_bindings()
        self._tasks = [
            asyncio.create_task(self._follow(queue), name="webhook-events"),
            asyncio.create_task(self._deliver_forever(), name="webhook-deliveries"),
            asyncio.create_task(self._sync_bindings_forever(), name="webhook-bindings"),
        ]

    async def close(self) -> None:
        """Stop the loops and the HTTP client."""
        tasks = [*self._tasks, *self._endpoints.values(), *self._draining]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._endpoints.clear()
        await self._client.aclose()

    def forget_hooks(self) -> None:
        """A webhook was added or removed here: match events against the table again."""
        self._hooks.clear()

    async def hooks_changed(self) -> None:
        """A webhook was added, removed or disabled: match and bind anew.

        A broker outage leaves the bindings to the periodic sync; the change itself stands."""
        self.forget_hooks()
        self.wake()
        try:
            await self.sync_bindings()
            await self.count_disabled()
        except Exception as exc:
            log.warning("webhook bindings not synchronised now (%s); again shortly", exc)

    async def sync_bindings(self) -> None:
        """Bind the event queue to what the enabled webhooks' patterns need; unbind the rest."""
        if self._queue is None or self._exchange is None:
            return
        async with self._sessions() as session, session.begin():
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            await session.execute(lock, {"key": BINDINGS_LOCK})
            wanted = store.binding_keys(p for h in await store.enabled(session) for p in h.events)
            bound = await store.bound_keys(session)
            if wanted == bound:
                return
            for key in sorted(wanted - bound):
                await self._queue.bind(self._exchange, key)
            for key in sorted(bound - wanted):
                await self._queue.unbind(self._exchange, key)
            await store.record_bound_keys(session, wanted)
        log.info("webhook events bound to %s", sorted(wanted) or "nothing")

    async def count_disabled(self) -> None:
        """Refresh the gauge of disabled webhooks."""
        async with self._sessions() as session:
            DISABLED_NOW.set(await store.disabled_count(session))

    async def _sync_bindings_forever(self) -> None:
        while True:
            try:
                await self.count_disabled()
            except Exception as exc:
                log.warning("disabled webhooks not counted (%s); again shortly", exc)
            await asyncio.sleep(BINDINGS_EVERY)
            try:
                await self.sync_bindings()
            except Exception as exc:
                log.warning("webhook bindings not synchronised (%s); again shortly", exc)

    def wake(self, webhook_ids: list[str] | None = None) -> None:
        """Deliveries were queued (for `webhook_ids`; None: any): look for due ones now."""
        self._wake.set()
        for webhook_id in self._wakes if webhook_ids is None else webhook_ids:
            if (event := self._wakes.get(webhook_id)) is not None:
                event.set()

    async def _follow(self, queue: AbstractQueue) -> None:
        while True:
            try:
                await self._follow_once(queue)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The channel closed under the iterator: consume again once it is back.
                log.exception("following events for webhooks stopped; again in a second")
                await asyncio.sleep(1)

    async def _follow_once(self, queue: AbstractQueue) -> None:
        # In event order: one consumer over all replicas, and here one batch after the other,
        # each the messages already delivered (up to FOLLOW_BATCH) written in one transaction.
        arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        tag = await queue.consume(arrived.put)
        try:
            while True:
                batch = [await arrived.get()]
                while len(batch) < FOLLOW_BATCH and not arrived.empty():
                    batch.append(arrived.get_nowait())
                try:
                    await self.queue_events(batch)
                except Exception:
                    log.exception("queueing %d events for webhooks failed; requeued", len(batch))
                    for message in batch:
                        await requeue_later(message)
                    continue
                for message in batch:
                    await message.ack()
        finally:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)

    async def _enabled(self) -> list[Row[Any]]:
        hooks = self._hooks.get("all")
        if hooks is None:
            async with self._sessions() as session:
                hooks = self._hooks["all"] = await store.enabled(session)
        return hooks

    async def queue_event(self, message: AbstractIncomingMessage) -> None:
        """A delivery row for each enabled webhook whose patterns match the event."""
        await self.queue_events([message])

    async def queue_events(self, messages: list[AbstractIncomingMessage]) -> None:
        """`queue_event` for several events, in their order, in one transaction."""
        hooks = await self._enabled()
        rows: list[dict[str, Any]] = []
        for message in messages:
            event_type = message.routing_key or ""
            targets = [h.id for h in hooks if store.matches(h.events, event_type)]
            EVENTS_READ.labels("queued" if targets else "unmatched").inc()
            if not targets:
                continue
            try:
                event = read_event(event_type, message.body)
            except InvalidEvent as exc:
                # Not ours to mend (its consumers dead-letter it): back offices get facts only.
                log.warning("event %s not delivered to webhooks: %s", message.message_id, exc)
                continue
            event_id = message.message_id or hashlib.sha256(message.body).hexdigest()
            rows.extend(
                {
                    "webhook_id": target,
                    "event_id": event_id[:100],
                    "event_type": event_type[:100],
                    # Delivered in order per charge point ("": events of none, a gateway's own).
                    "ordering_key": charge_point_of(event)[:100],
                    "body": message.body.decode(),
                }
                for target in targets
            )
        if not rows:
            return
        async with self._sessions() as session, session.begin():
            await queue.enqueue_rows(session, rows)
        self.wake(sorted({row["webhook_id"] for row in rows}))

    async def _deliver_forever(self) -> None:
        """Keep one delivery loop per enabled webhook (and none for the others)."""
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("webhook delivery loops not reconciled; trying again")
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: on 3.11 a wait_for whose event is set as the
                # task is cancelled can swallow the cancellation (a stop that hangs).
                async with asyncio.timeout(self._settings.webhook_poll_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def reconcile(self) -> None:
        """Start the loop of each enabled webhook that has none; stop those of the others."""
        wanted = {hook.id for hook in await self._enabled()}
        for webhook_id in list(self._endpoints):
            task = self._endpoints[webhook_id]
            if webhook_id not in wanted or task.done():
                del self._endpoints[webhook_id]
                wake = self._wakes.pop(webhook_id, None)
                self._paused.discard(webhook_id)
                if not task.done():
                    # It ends by itself once its attempts in flight are recorded.
                    self._draining.add(task)
                    task.add_done_callback(self._draining.discard)
                    if wake is not None:
                        wake.set()
        for webhook_id in wanted - set(self._endpoints):
            self._wakes[webhook_id] = asyncio.Event()
            self._endpoints[webhook_id] = asyncio.create_task(
                self._endpoint(webhook_id), name=f"webhook-{webhook_id}"
            )
        PAUSED.set(len(self._paused))

    async def _endpoint(self, webhook_id: str) -> None:
        """One webhook's deliveries, until it is disabled or removed."""
        wake = self._wakes[webhook_id]
        while self._endpoints.get(webhook_id) is asyncio.current_task():
            try:
                busy = await self.deliver_due(webhook_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook %s deliveries failed; trying again", webhook_id)
                busy = False
            if not busy:
                wake.clear()
                try:
                    async with asyncio.timeout(self._settings.webhook_poll_interval):
                        await wake.wait()
                except TimeoutError:
                    pass

    async def deliver_due(self, webhook_id: str) -> bool:
        """Claim one webhook's due deliveries, POST them concurrently, record each; False if
        none (or it is paused)."""
        settings = self._settings
        async with self._sessions() as session, session.begin():
            claimed = await queue.claim(
                session, webhook_id, settings.webhook_concurrency, settings.webhook_timeout + 30
            )
        if not claimed:
            return False
        await asyncio.gather(*(self._attempt(d) for d in claimed))
        return True

    async def post(self, url: str, secret: str, event_id: str, event_type: str, body: bytes) -> int:
        """POST one event to an address its host was checked to resolve to; its HTTP status
        (RefusedTarget, httpx.HTTPError on failures)."""
        addresses = await check_target(url, self._allowed)
        headers = delivery_headers(secret, event_id, event_type, body, int(time.time()))
        # A refused connection sent nothing: the next address (another family, say) may answer.
        for address in addresses[:-1]:
            with contextlib.suppress(httpx.ConnectError):
                request = pinned_request(self._client, url, address, headers, body)
                return (await self._client.send(request)).status_code
        request = pinned_request(self._client, url, addresses[-1], headers, body)
        return (await self._client.send(request)).status_code

    async def _attempt(self, delivery: Row[Any]) -> None:
        settings = self._settings
        status_code: int | None = None
        try:
            status_code = await self.post(
                delivery.url,
                delivery.secret,
                delivery.event_id,
                delivery.event_type,
                delivery.body.encode(),
            )
            error = "" if 200 <= status_code < 300 else f"HTTP {status_code}"
            unwell = status_code >= 500 or status_code in (408, 429)
        except (RefusedTarget, httpx.HTTPError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            # Not reached, or no answer in time; a refused target is the URL's fault, not its.
            unwell = not isinstance(exc, RefusedTarget)
        ATTEMPTS.labels("delivered" if not error else "failed").inc()
        async with self._sessions() as session, session.begin():
            # The paused set is of the loops running; a let-go loop's last attempt leaves it.
            running = delivery.webhook_id in self._endpoints
            if not error:
                await queue.delivered(session, delivery, status_code or 0)
                self._paused.discard(delivery.webhook_id)
                return
            reason = await queue.failed(
                session,
                delivery,
                status_code=status_code,
                error=error,
                retry_in=self.backoff(delivery.attempts),
                disable_after=settings.webhook_disable_after,
                pause=self.backoff if unwell else None,
            )
        if unwell and running:
            self._paused.add(delivery.webhook_id)
        if reason is not None:
            log.warning("webhook %s disabled: %s", delivery.webhook_id, reason)
            DISABLED.inc()
            await self.hooks_changed()

    def backoff(self, failures: int) -> float:
        """Seconds to wait after `failures` failed attempts (of a delivery, or of an endpoint
        in a row): base x 2^(failures - 1), at most API_WEBHOOK_RETRY_MAX."""
        settings = self._settings
        wait: float = settings.webhook_retry_base * 2 ** min(max(failures, 1) - 1, 30)
        return min(wait, settings.webhook_retry_max)
