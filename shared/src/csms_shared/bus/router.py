"""Decorator routing: one typed async function per OCPP action, RPC method or event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ..contracts.events import Event
from ..contracts.rpc import RpcMethod
from ..contracts.rpc_base import P, R
from ..ocpp import v16, v201
from ..ocpp._base import OcppModel
from ..ocpp.catalog import catalog
from ..ocpp.version import OcppVersion
from .access import ROLES, check_roles
from .outbox import emit, emit_many
from .stations import ACTION_KEYED, ACTION_NAME, StationBindings
from .topology import call_routing_key

if TYPE_CHECKING:
    from .rpc import RpcClient

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
    # The per-station bindings of the service's events queue, when its router has patterns
    # followed per station (bus/stations.py); None before the runtime started, and in tests.
    stations: StationBindings | None = None
    # Another service's RPC methods, for a service that asks them (`serve(rpc_client=True)`);
    # None otherwise, and in tests that give none.
    rpc: RpcClient | None = None

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after the commit (metrics, caches); never if it rolls back."""
        self.committed.append(callback)

    async def emit(self, event: Event) -> None:
        """Publish an event if, and only if, this message's transaction commits."""
        assert self.outbox is not None, "this service has no outbox table"
        await emit(self.session, self.outbox, event)
        self.emitted += 1

    async def emit_many(self, events: list[Event]) -> None:
        """`emit` for several events in one statement."""
        assert self.outbox is not None, "this service has no outbox table"
        if events:
            await emit_many(self.session, self.outbox, events)
            self.emitted += len(events)


@dataclass(slots=True)
class CallContext(Context[SettingsT]):
    """Context of a CP's CALL: who sent it, which message, when the gateway received it, and
    the OCPP version its connection speaks (the version of the action's route)."""

    charge_point_id: str = ""
    message_id: str = ""
    gateway_id: str = ""
    received_at: datetime | None = None
    # Required: no version is assumed below the handshake (the route's travels with the call).
    ocpp_version: OcppVersion = field(kw_only=True)


CallHandler = Callable[[Any, "CallContext[Any]"], Awaitable[OcppModel]]
# A group of one action's calls handled together by set-based statements: (request, its own
# context) pairs whose contexts share the group's session; one response per call, in order (or
# None when every answer is the action's empty response: a notification).
BatchHandler = Callable[
    [list[tuple[Any, "CallContext[Any]"]], "Context[Any]"], Awaitable[list[OcppModel] | None]
]
# Handed the params validated against the method's model (contracts/rpc.py).
RpcHandler = Callable[[Any, "Context[Any]"], Awaitable[Any]]
# Handed the body validated against its event's model (contracts/events.py).
EventHandler = Callable[[Any, "Context[Any]"], Awaitable[None]]
# Events of one pattern followed together (set-based statements), in the group's transaction.
EventGroupHandler = Callable[[list[Any], "Context[Any]"], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True, slots=True)
class CallRoute:
    """An action of one OCPP version this service owns, with the models the runtime validates
    against."""

    action: str
    request: type[OcppModel]
    response: type[OcppModel]
    handler: CallHandler
    version: OcppVersion
    # Set by Router.on_batch: a group of this action's calls (group commit) is handed to one
    # set-based handler instead of `handler` one call after the other; `handler` answers a
    # call alone, and every call of a group that failed.
    batch: BatchHandler | None = None


@dataclass(slots=True)
class Router:
    """The entrypoints of a service; its queues and bindings are derived from them."""

    service: str
    # By the call's routing key (`v16.BootNotification`, `v201.BootNotification`).
    calls: dict[str, CallRoute] = field(default_factory=dict)
    rpcs: dict[str, RpcHandler] = field(default_factory=dict)
    # RPC method name -> the method: its params' model (validated before the handler runs)
    # and its result's (what the handler returns).
    rpc_methods: dict[str, RpcMethod[Any, Any]] = field(default_factory=dict)
    # RPC method -> the roles (bus/access.py) whose broker users may call it.
    rpc_callers: dict[str, frozenset[str]] = field(default_factory=dict)
    events: dict[str, EventHandler] = field(default_factory=dict)
    event_groups: dict[str, EventGroupHandler] = field(default_factory=dict)
    # Patterns followed for the stations the service binds only (bus/stations.py).
    station_events: set[str] = field(default_factory=set)
    # The patterns followed for some actions only: bound by those actions' keys alone.
    event_actions: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def on(self, action: v16.Action | v201.Action) -> Callable[[F], F]:
        """Own the CP's CALLs of `action`, of the version whose `Action` it is (a 1.6 and a
        2.0.1 action of the same name are two routes)."""
        version = _version(action)
        spec = catalog(version).actions[action.value]
        key = call_routing_key(action.value, version)

        def register(handler: F) -> F:
            if key in self.calls:
                raise ValueError(f"{key} already has a handler")
            self.calls[key] = CallRoute(action.value, spec.request, spec.response, handler, version)
            return handler

        return register

    def on_batch(self, action: v16.Action | v201.Action) -> Callable[[F], F]:
        """Hand a group of `action`'s calls to one set-based handler (after `on(action)`
        registered the handler of one call, which answers a call alone and every call of a
        group that failed). Only where the benchmark shows it pays; a test proves it leaves
        the same rows and answers as the one-call handler run call after call."""

        key = call_routing_key(action.value, _version(action))

        def register(handler: F) -> F:
            route = self.calls.get(key)
            if route is None:
                raise ValueError(f"{key} needs a one-call handler before a batch one")
            self.calls[key] = replace(route, batch=handler)
            return handler

        return register

    def rpc(
        self, method: RpcMethod[P, R], *, callers: Iterable[str] = ROLES
    ) -> Callable[[Callable[[P, Any], Awaitable[R]]], Callable[[P, Any], Awaitable[R]]]:
        """Answer the RPC `method` (of contracts/rpc.py's catalogue) on `<service>.rpc` to the
        `callers` roles only; the handler gets the params as the method's model and returns
        its result's model (mypy checks both against the method).

        The default exchange cannot be split per queue by broker permissions, so any user of
        the vhost can reach this queue: the runtime checks each message's verified user_id.
        """
        roles = check_roles(callers)
        if method.service != self.service:
            raise ValueError(f"{method.name} is not an RPC method of {self.service}")

        def register(handler: Callable[[P, Any], Awaitable[R]]) -> Callable[[P, Any], Awaitable[R]]:
            if method.name in self.rpcs:
                raise ValueError(f"{method.name} already has a handler")
            self.rpcs[method.name] = handler
            self.rpc_methods[method.name] = method
            self.rpc_callers[method.name] = roles
            return handler

        return register

    def event(
        self, pattern: str, *, per_station: bool = False, actions: Iterable[str] = ()
    ) -> Callable[[F], F]:
        """Follow events whose routing key matches `pattern` (topic syntax); the handler gets
        each body as the model of its routing key (contracts/events.py). `per_station`: only
        those of the stations the service follows (`Context.stations`, bus/stations.py).
        `actions`: only the outcomes of these commands (`pattern` is `command.completed`, bound
        by their action keys alone, bus/stations.py); the handler must not need the others."""
        wanted = tuple(sorted(set(actions)))
        if wanted and (pattern not in ACTION_KEYED or per_station):
            raise ValueError(f"{pattern} is not routed by action; follow it whole")
        if odd := [a for a in wanted if not ACTION_NAME.fullmatch(a)]:
            raise ValueError(f"{odd} are no action names")

        def register(handler: F) -> F:
            # A queue gets an event once and the runtime hands it to the first pattern that
            # matches: a second follower of the same events would silently get none of them.
            taken = next((p for p in self.events if patterns_overlap(p, pattern)), None)
            if taken is not None:
                raise ValueError(
                    f"{pattern} overlaps {taken}, which already has a handler in"
                    f" {self.service}: one handler per event, so fold them into one"
                )
            self.events[pattern] = handler
            if per_station:
                self.station_events.add(pattern)
            if wanted:
                self.event_actions[pattern] = wanted
            return handler

        return register

    def on_event_group(self, pattern: str) -> Callable[[F], F]:
        """Follow the events of `pattern` that share a transaction together (after `event`
        registered the handler of one, used when a group fails)."""

        def register(handler: F) -> F:
            if pattern not in self.events:
                raise ValueError(f"{pattern} needs a handler of one event before a group one")
            if pattern in self.event_groups:
                raise ValueError(f"{pattern} already has a group handler")
            self.event_groups[pattern] = handler
            return handler

        return register


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some routing key matches both topic patterns (`*` one word, `#` any number)."""
    left, right = a.split("."), b.split(".")

    @cache
    def meet(i: int, j: int) -> bool:
        if i < len(left) and left[i] == "#":
            return meet(i + 1, j) or (j < len(right) and meet(i, j + 1))
        if j < len(right) and right[j] == "#":
            return meet(i, j + 1) or (i < len(left) and meet(i + 1, j))
        if i == len(left) or j == len(right):
            return i == len(left) and j == len(right)
        word = left[i] == right[j] or "*" in (left[i], right[j])
        return word and meet(i + 1, j + 1)

    return meet(0, 0)


def _version(action: v16.Action | v201.Action) -> OcppVersion:
    return OcppVersion.V201 if isinstance(action, v201.Action) else OcppVersion.V16
