"""Decorator routing: one typed async function per OCPP action, RPC method or event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ..ocpp._base import OcppModel
from ..ocpp.v16.actions import ACTIONS, Action
from .access import ROLES, check_roles
from .outbox import emit, emit_many

SettingsT = TypeVar("SettingsT")


@dataclass(slots=True)
class Context(Generic[SettingsT]):
    """What a handler gets besides its input: the DB session of this message and the settings.

    Generic in the service's settings class: a handler that takes `Context[Settings]` reads
    `ctx.settings.heartbeat_interval` typed, without a cast."""

    session: AsyncSession
    settings: SettingsT
    outbox: Table | None = None
    emitted: int = 0
    # Run by the runtime once this message's (or batch's) transaction committed.
    committed: list[Callable[[], None]] = field(default_factory=list)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after the commit (metrics, caches); never if it rolls back."""
        self.committed.append(callback)

    async def emit(self, routing_key: str, body: dict[str, Any]) -> None:
        """Publish an event if, and only if, this message's transaction commits."""
        assert self.outbox is not None, "this service has no outbox table"
        await emit(self.session, self.outbox, routing_key, body)
        self.emitted += 1

    async def emit_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """`emit` for several events in one statement."""
        assert self.outbox is not None, "this service has no outbox table"
        if events:
            await emit_many(self.session, self.outbox, events)
            self.emitted += len(events)


@dataclass(slots=True)
class CallContext(Context[SettingsT]):
    """Context of a CP's CALL: who sent it, which message, when the gateway received it."""

    charge_point_id: str = ""
    message_id: str = ""
    gateway_id: str = ""
    received_at: datetime | None = None


CallHandler = Callable[[Any, "CallContext[Any]"], Awaitable[OcppModel]]
# Notifications of one action handled together: (request, its own context) pairs whose contexts
# share the batch's session; the batch's Context collects what they emit.
BatchHandler = Callable[[list[tuple[Any, "CallContext[Any]"]], "Context[Any]"], Awaitable[None]]
# Decision calls of one action answered together: (request, its own context) pairs sharing the
# group's session; one response per call, in order.
GroupHandler = Callable[
    [list[tuple[Any, "CallContext[Any]"]], "Context[Any]"], Awaitable[list[OcppModel]]
]
RpcHandler = Callable[[dict[str, Any], "Context[Any]"], Awaitable[Any]]
EventHandler = Callable[[dict[str, Any], "Context[Any]"], Awaitable[None]]
# Events of one pattern followed together (set-based statements), in the group's transaction.
EventGroupHandler = Callable[[list[dict[str, Any]], "Context[Any]"], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


T = TypeVar("T")


def rounds(items: list[T], keys: Callable[[T], Iterable[Hashable]]) -> list[list[T]]:
    """`items` in rounds that share no key, in order: each item goes to the first round after
    every earlier item it shares a key with.

    A set-based group handler writes a round in one statement; items that touch the same row
    (the same charge point, idTag, transaction) land in later rounds, which then see what the
    earlier ones wrote, as if the calls had come one after the other.
    """
    result: list[list[T]] = []
    last_round: dict[Hashable, int] = {}
    for item in items:
        item_keys = list(keys(item))
        n = max((last_round[k] + 1 for k in item_keys if k in last_round), default=0)
        if n == len(result):
            result.append([])
        result[n].append(item)
        for k in item_keys:
            last_round[k] = n
    return result


R = TypeVar("R")


async def in_rounds(
    items: list[T],
    keys: Callable[[T], Iterable[Hashable]],
    handle: Callable[[list[T]], Awaitable[list[R]]],
) -> list[R]:
    """`handle` each of the `rounds` of `items` in turn; its results in the items' order."""
    if len(items) == 1:
        return await handle(items)
    indexed = list(enumerate(items))
    results: dict[int, R] = {}
    for group in rounds(indexed, lambda pair: keys(pair[1])):
        answers = await handle([item for _, item in group])
        results.update(zip((n for n, _ in group), answers, strict=True))
    return [results[n] for n in range(len(items))]


@dataclass(frozen=True, slots=True)
class CallRoute:
    """An action this service owns, with the models the runtime validates against."""

    action: str
    request: type[OcppModel]
    response: type[OcppModel]
    handler: CallHandler
    # Set by Router.on_batch: notifications (no reply expected) of this action are gathered and
    # written in one transaction; `handler` stays the per-message fallback.
    batch: BatchHandler | None = None
    # Set by Router.on_group: decision calls answered from one transaction are handed over
    # together (set-based statements) instead of one by one.
    group: GroupHandler | None = None


@dataclass(slots=True)
class Router:
    """The entrypoints of a service; its queues and bindings are derived from them."""

    service: str
    calls: dict[str, CallRoute] = field(default_factory=dict)
    rpcs: dict[str, RpcHandler] = field(default_factory=dict)
    # RPC method -> the roles (bus/access.py) whose broker users may call it.
    rpc_callers: dict[str, frozenset[str]] = field(default_factory=dict)
    events: dict[str, EventHandler] = field(default_factory=dict)
    event_groups: dict[str, EventGroupHandler] = field(default_factory=dict)

    def on(self, action: Action) -> Callable[[F], F]:
        """Own the CP's CALLs of `action`."""
        spec = ACTIONS[action.value]

        def register(handler: F) -> F:
            if action.value in self.calls:
                raise ValueError(f"{action.value} already has a handler")
            self.calls[action.value] = CallRoute(action.value, spec.request, spec.response, handler)
            return handler

        return register

    def on_batch(self, action: Action) -> Callable[[F], F]:
        """Handle notifications of `action` in batches (after `on(action)` registered its
        per-message handler, which a failed batch falls back to, one message at a time)."""

        def register(handler: F) -> F:
            route = self.calls.get(action.value)
            if route is None:
                raise ValueError(f"{action.value} needs a per-message handler before a batch one")
            self.calls[action.value] = replace(route, batch=handler)
            return handler

        return register

    def on_group(self, action: Action) -> Callable[[F], F]:
        """Answer decision calls of `action` that share a transaction together (after
        `on(action)` registered the handler of one call, used when a group fails)."""

        def register(handler: F) -> F:
            route = self.calls.get(action.value)
            if route is None:
                raise ValueError(f"{action.value} needs a per-call handler before a group one")
            self.calls[action.value] = replace(route, group=handler)
            return handler

        return register

    def rpc(self, method: str, *, callers: Iterable[str] = ROLES) -> Callable[[F], F]:
        """Answer the RPC `method` on `<service>.rpc` to the `callers` roles only.

        The default exchange cannot be split per queue by broker permissions, so any user of
        the vhost can reach this queue: the runtime checks each message's verified user_id.
        """
        roles = check_roles(callers)

        def register(handler: F) -> F:
            self.rpcs[method] = handler
            self.rpc_callers[method] = roles
            return handler

        return register

    def event(self, pattern: str) -> Callable[[F], F]:
        """Follow events whose routing key matches `pattern` (topic syntax)."""

        def register(handler: F) -> F:
            self.events[pattern] = handler
            return handler

        return register

    def on_event_group(self, pattern: str) -> Callable[[F], F]:
        """Follow the events of `pattern` that share a transaction together (after `event`
        registered the handler of one, used when a group fails)."""

        def register(handler: F) -> F:
            if pattern not in self.events:
                raise ValueError(f"{pattern} needs a handler of one event before a group one")
            self.event_groups[pattern] = handler
            return handler

        return register
