"""A gateway's CALLs out: notifications, transactions' ends taken, decision calls, and their
answers. `GatewayBus` (bus.py) adds the connection, its queue and what comes in on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import aiormq
from aio_pika.exceptions import DeliveryError
from aiormq.exceptions import ChannelInvalidStateError

from csms_shared import tracing
from csms_shared.bus.bundle import BUNDLE_MAX
from csms_shared.bus.client import BusClient
from csms_shared.bus.owners import Owners
from csms_shared.bus.topology import CALLS, action_of
from csms_shared.contracts.envelopes import CallReply
from csms_shared.ocpp import JsonObject
from csms_shared.ocpp.version import OcppVersion

from .call_messages import (
    IN_ORDER,
    call_message,
    handling_deadline,
    lane,
    read_replies,
    routing_key_of,
)
from .call_refusals import (
    BrokerAway,
    Overloaded,
    Ownerless,
    Unroutable,
    count_owner_processes,
)
from .gather import Gatherer, Waiting, settle

log = logging.getLogger(__name__)


class CallsOut:
    """The CALLs a gateway sends on `client`, gathered per action and version (gather.py)."""

    def __init__(
        self,
        client: BusClient,
        instance_id: str,
        owners: Owners | None,
        bundle: bool,
        bundle_wait: float,
        bundle_requests: bool,
        request_bundles_in_flight: int,
        refuse_calls_behind: float,
    ) -> None:
        self.client = client
        self.instance_id = instance_id
        # Who consumes which calls, from the owner beacons (None: not checked).
        self.owners = owners
        # The connection went and is not back yet: CALLs are answered at once (BrokerAway).
        self._broker_away = False
        # CALLs ready in one turn of the event loop (or within the wait) leave in one message
        # per action: notifications, and decision calls answered from one transaction.
        # Off (`bundle=False`, `bundle_requests=False`): each leaves alone, for services that
        # do not read bundles yet; the path is the same.
        self._notifications = Gatherer(
            "notification",
            self._publish_notifications,
            most=BUNDLE_MAX if bundle else 1,
            wait=bundle_wait,
        )
        self._requests = Gatherer(
            "request",
            self._publish_requests,
            most=BUNDLE_MAX if bundle_requests else 1,
            in_flight=max(1, request_bundles_in_flight) if bundle_requests else 0,
        )
        # A transaction's end, taken at once (`take`): paced like notifications, never held
        # back by answers still due (it is taken once the broker has it).
        self._takes = Gatherer(
            "take", self._publish_takes, most=BUNDLE_MAX if bundle_requests else 1, wait=bundle_wait
        )
        # Per (version, action) of a transaction's end: until when (loop time) its owner counts
        # as late, so its ends are answered apart at once (`forwarding.answer_taken`).
        self.late_ends: dict[tuple[OcppVersion, str], float] = {}
        # Decision calls of an action whose oldest unanswered call has waited this long are
        # refused at once (0: never); see `Overloaded`.
        self._refuse_behind = refuse_calls_behind

    @property
    def broker_away(self) -> bool:
        """The broker connection went and is not back yet."""
        return self._broker_away

    def abandon_unsent(self, error: BaseException) -> int:
        """The connection went: fail the CALLs waiting to leave or for the broker's confirm
        (their reply queue, exclusive, went with it). Decision calls already sent are not
        failed: the owner may still commit one, and a CP re-sending it at once could race the
        original (they wait for their answer or the call timeout). How many."""
        failed = sum(
            gatherer.abandon(key, error)
            for gatherer in (self._notifications, self._takes)
            for key in gatherer.pending()
        )
        return failed + sum(
            self._requests.abandon(key, error, sent=False) for key in self._requests.pending()
        )

    def fail_ownerless(self) -> int:
        """Fail the decision calls waiting for a key nobody can take now (`Ownerless`): their
        CPs are answered at once, and their bundles' in-flight places free. How many."""
        if self.owners is None:
            return 0
        now = asyncio.get_running_loop().time()
        self.owners.forget_expired()
        count_owner_processes(self.owners)
        failed = 0
        for key in self._requests.pending():
            exchange, routing_key = lane(key)
            verdict = self.owners.verdict(exchange, routing_key, now)
            if verdict is not None:
                # Only those not sent yet: a sent one may still be committed by an owner back
                # soon, and its CP's re-send must not race it (it waits for its answer or the
                # call timeout, as before).
                failed += self._requests.abandon(
                    key, Ownerless(action_of(routing_key), verdict), sent=False
                )
        if failed:
            log.warning("failed %d waiting calls: their owners are gone or not ready", failed)
        return failed

    async def notify(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: JsonObject,
        received: datetime,
        version: OcppVersion,
    ) -> None:
        """Publish a notification; returns once the broker has confirmed it (raises Unroutable,
        BrokerAway). Gathered with the notifications of the same action and version (one
        routing key)."""
        if self._broker_away:
            raise BrokerAway("the broker connection is down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        tp = tracing.traceparent()
        self._notifications.add(
            routing_key_of(action, version),
            Waiting(cp_id, message_id, received.isoformat(), payload, future, traceparent=tp),
        )
        await future

    async def _publish_notifications(self, routing_key: str, waiting: list[Waiting]) -> None:
        """One confirmed message for the notifications; settle each CP's wait."""
        body, properties = call_message(self.instance_id, waiting)
        try:
            await self.client.publish(CALLS.name, routing_key, body, properties)
        except asyncio.CancelledError:
            for item in waiting:
                item.future.cancel()
            raise
        except Exception as exc:
            settle(waiting, failure(action_of(routing_key), exc))
            return
        settle(waiting, [None] * len(waiting))

    async def take(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: JsonObject,
        received: datetime,
        timeout: float,
        version: OcppVersion,
    ) -> asyncio.Future[CallReply]:
        """Publish a transaction's end persistently on `ocpp.calls`, behind its station's bulk
        data, with no deadline (its owner handles it however late); returns once the broker
        has confirmed it, with the future of the owner's answer (raises Unroutable,
        BrokerAway). It is taken: nothing acknowledged is lost, and its answer may come from
        elsewhere (`forwarding.answer_taken`). Gathered with the ends of the same action and
        version; not refused when its owner is behind or gone (it waits in its queue)."""
        if self._broker_away:
            raise BrokerAway("the broker connection is down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[asyncio.Future[CallReply]] = loop.create_future()
        tp = tracing.traceparent()
        self._takes.add(
            IN_ORDER + routing_key_of(action, version),
            Waiting(cp_id, message_id, received.isoformat(), payload, future, timeout, 0, tp, 0.0),
        )
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().cancel()  # taken as its CP went: nobody will read the answer
            raise

    async def _publish_takes(self, key: str, waiting: list[Waiting]) -> None:
        """One persistent message for the ends, without a deadline: each CP's wait settles on
        the broker's confirm with the future of its answer, which settles on the reply."""
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[CallReply]] = [loop.create_future() for _ in waiting]
        body, properties = call_message(self.instance_id, waiting, taken=True)
        taken = False

        def published() -> None:
            nonlocal taken
            taken = True
            gone = [item.future.done() for item in waiting]  # their CPs stopped waiting
            settle(waiting, answers)
            for answer, went in zip(answers, gone, strict=True):
                if went:
                    answer.cancel()  # nobody will read it

        try:
            results = await self._replies(key, waiting, body, properties, published)
        except asyncio.CancelledError:
            for answer in answers:
                answer.cancel()
            raise
        if not taken:
            settle(waiting, results)
            return
        for n, answer in enumerate(answers):
            if answer.done():  # its CP was answered otherwise and stopped waiting
                continue
            if isinstance(results, BaseException):
                answer.set_exception(results)
            else:
                answer.set_result(results[n])

    async def request(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: JsonObject,
        received: datetime,
        timeout: float,
        version: OcppVersion,
    ) -> CallReply:
        """Publish a decision call on `ocpp.decisions`, await the owner's reply (raises
        Unroutable, TimeoutError, Overloaded, Ownerless, BrokerAway). Gathered with the calls
        of the same action and version (one routing key). A transaction's end is not one: it
        is taken (`take`)."""
        now = asyncio.get_running_loop().time()
        routing_key = routing_key_of(action, version)
        if self._broker_away:
            raise BrokerAway("the broker connection is down")
        if self.owners is not None:
            exchange, key = lane(routing_key)
            verdict = self.owners.verdict(exchange, key, now)
            if verdict is not None:
                raise Ownerless(action, verdict)
        if self._refuse_behind:
            behind = self._requests.behind(routing_key, now)
            if behind >= self._refuse_behind:
                raise Overloaded(action, behind)
        future: asyncio.Future[CallReply] = asyncio.get_running_loop().create_future()
        deadline = handling_deadline(timeout)
        tp = tracing.traceparent()
        self._requests.add(
            routing_key,
            Waiting(
                cp_id, message_id, received.isoformat(), payload, future, timeout, deadline, tp, now
            ),
        )
        # The whole wait, queued behind busy bundles included, is bounded by `timeout`; a call
        # that expired while queued is not sent (see Gatherer._flush).
        return await asyncio.wait_for(future, timeout)

    async def _publish_requests(self, key: str, waiting: list[Waiting]) -> None:
        """One message for the decision calls; each gets its own answer."""
        deadline = min(item.deadline for item in waiting)
        body, properties = call_message(self.instance_id, waiting, deadline)
        settle(waiting, await self._replies(key, waiting, body, properties))

    async def _replies(
        self,
        key: str,
        waiting: list[Waiting],
        body: bytes,
        properties: aiormq.spec.Basic.Properties,
        on_published: Callable[[], None] | None = None,
    ) -> list[CallReply] | BaseException:
        """Send one bundle of CALLs request/reply: each CALL's answer, or what failed them
        all (cancelled: each CP's wait is)."""
        exchange, routing_key = lane(key)
        action = action_of(routing_key)
        timeout = max(item.timeout for item in waiting)
        try:
            reply = await self.client.request(
                exchange,
                routing_key,
                body,
                properties,
                timeout,
                expires=False,
                on_published=on_published,
            )
            return read_replies(action, reply, len(waiting))
        except asyncio.CancelledError:
            for item in waiting:
                item.future.cancel()
            raise
        except Exception as exc:
            return failure(action, exc)


def failure(action: str, exc: Exception) -> Exception:
    """What a bundle's CALLs fail with when sending it raised `exc`: Unroutable when the broker
    returned it; BrokerAway when the connection went under it, or the channel with it (the
    loss reaches `GatewayBus._lost` a moment later: a publish in flight meanwhile fails with
    aiormq's own error, and its CPs are told the same as those that come after); else `exc`
    itself (a channel the broker closed for what was sent is no broker gone)."""
    if isinstance(exc, DeliveryError):
        return Unroutable(action)
    # aiormq's connection errors are ConnectionErrors; BrokerAway is one already.
    if isinstance(exc, ChannelInvalidStateError) or (
        isinstance(exc, ConnectionError) and not isinstance(exc, BrokerAway)
    ):
        away = BrokerAway(f"the broker connection went: {exc!r}")
        away.__cause__ = exc
        return away
    return exc
