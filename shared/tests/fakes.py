"""Fakes for the pipeline's unit tests: deliveries, DB sessions that log their outcome, and an
outbound that records what would be published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson

from csms_shared.bus.access import ROLES
from csms_shared.bus.bundle import encode_bundle
from csms_shared.bus.router import Router
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import HEADER_BUNDLE, HEADER_CHARGE_POINT, HEADER_GATEWAY
from csms_shared.contracts.envelopes import BundledCall


class FakeSession:
    """Records its transaction's outcome in the log it shares with its siblings."""

    def __init__(self, n: int, log: list[str]) -> None:
        self.n = n
        self.log = log

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            self.log.append(f"rollback {self.n}")
            raise
        self.log.append(f"commit {self.n}")

    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeSessions:
    """A session factory numbering its sessions 1, 2, ..."""

    def __init__(self, log: list[str]) -> None:
        self.kw: dict[str, Any] = {}
        self.opened = 0
        self.log = log

    def __call__(self) -> FakeSession:
        self.opened += 1
        return FakeSession(self.opened, self.log)


class Recorder:
    """An Outbound that keeps replies (decoded) and re-sent bundle items."""

    def __init__(self, *, fail_republish: bool = False) -> None:
        self.replies: list[tuple[str | None, Any]] = []
        self.republished: list[tuple[str, dict[str, Any], Any]] = []
        self.fail_republish = fail_republish

    async def reply(self, to: str, correlation_id: str | None, body: bytes) -> None:
        self.replies.append((correlation_id, orjson.loads(body)))

    async def republish(self, routing_key: str, headers: Any, payload: Any) -> None:
        if self.fail_republish:
            raise ConnectionError("broker gone")
        self.republished.append((routing_key, dict(headers), payload))


class FakeMessage:
    """An AMQP delivery of one call (or, with `items`, a bundle of them) from a gateway."""

    def __init__(
        self,
        action: str,
        cp: str,
        payload: Any = None,
        *,
        reply_to: str | None = None,
        items: list[tuple[str, Any]] | None = None,
        body: bytes | None = None,
        log: list[str] | None = None,
    ) -> None:
        self.cp = cp
        self.log = log if log is not None else []
        self.exchange = "ocpp.calls"
        self.user_id: str | None = "guest"
        self.routing_key = f"v16.{action}"
        self.reply_to = reply_to
        self.correlation_id = f"corr-{cp}" if reply_to else None
        self.type: str | None = None
        self.headers: dict[str, Any] = {HEADER_CHARGE_POINT: cp}
        self.body = orjson.dumps(payload)
        if items is not None:
            self.headers = {HEADER_BUNDLE: len(items), HEADER_GATEWAY: "gw-1"}
            self.body = encode_bundle(
                [
                    BundledCall(cp=c, id=f"m-{c}", at="2026-01-01T00:00:00.250000+00:00", payload=p)
                    for c, p in items
                ]
            )
        if body is not None:
            self.body = body
        self.outcome: str | None = None

    def _settle(self, outcome: str) -> None:
        assert self.outcome is None, f"settled twice: {self.outcome}, {outcome}"
        self.outcome = outcome
        self.log.append(f"{outcome} {self.cp}")

    async def ack(self) -> None:
        self._settle("ack")

    async def nack(self, *, requeue: bool = True) -> None:
        self._settle(f"nack requeue={requeue}")

    async def reject(self, *, requeue: bool = False) -> None:
        self._settle(f"reject requeue={requeue}")


def fake_runtime(
    router: Router, log: list[str], outbound: Recorder | None = None, **options: Any
) -> ServiceRuntime:
    """A runtime of `router` on fake DB sessions and a recording outbound, never connected."""
    runtime = ServiceRuntime(
        router,
        settings=None,
        broker_url="amqp://unused",
        sessions=FakeSessions(log),  # type: ignore[arg-type]
        outbound=outbound or Recorder(),
        **options,
    )
    runtime.broker_users = dict.fromkeys(ROLES, "guest")  # one trust domain, as in dev
    return runtime


async def until(condition: Callable[[], bool], turns: int = 10_000, seconds: float = 5.0) -> None:
    """Let the other tasks run (event-loop turns, no timed wait) until `condition` holds; fail
    once `turns` turns and `seconds` of loop time have both gone by. The time matters: a bulk
    group lingers 20 ms for company (`GROUP_LINGER`), and a fast machine turns the loop 10,000
    times within that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    turned = 0
    while not condition():
        if turned >= turns and loop.time() >= deadline:
            raise AssertionError("the condition never held")
        turned += 1
        await asyncio.sleep(0)
