"""Handshake admission: HTTP Basic and client certificates, decided by the registry, cached."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from dataclasses import dataclass

from cachetools import TTLCache
from prometheus_client import Histogram

from csms_shared.bus.rpc import RpcClient, RpcError, RpcUnavailable
from csms_shared.contracts.rpc import (
    AdmissionDecision,
    AuthorizeConnections,
    ChargePointIds,
    Handshake,
    RegistryRpc,
)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a handshake may proceed, and what the registry knows of the CP."""

    allowed: bool
    status: int = 200
    reason: str = ""
    security_profile: int = 0
    registration_status: str = "Accepted"
    # The CP proved its identity (its key or its client certificate), as profiles 1-3 ask.
    authenticated: bool = False
    # The id is a charge point the registry knows.
    known: bool = False


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic …` header, or None."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


# Handshakes one admission request asks about, at most (the registry takes up to 500).
ADMISSION_BATCH = 200
ADMISSION_SECONDS = Histogram(
    "csms_gateway_admission_request_seconds",
    "Round trip of one admission request (a batch of handshakes) to the registry",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)

_Asked = tuple[Handshake, tuple[str, str | None, bool, str | None], "asyncio.Future[Decision]"]


class HandshakeAuthorizer:
    """Asks the registry whether a CP may connect; remembers yes-answers for a while.

    Handshakes the cache cannot answer leave together: one request (`authorize_connections`)
    unless `in_flight` of them are out, then with those that queued meanwhile when one comes
    back. A reconnect storm costs the registry one read per batch instead of one per CP.
    """

    def __init__(
        self, rpc: RpcClient, ttl: float, timeout: float = 5.0, in_flight: int = 2
    ) -> None:
        self._rpc = rpc
        self._ttl = ttl
        self._timeout = timeout
        self._in_flight = in_flight
        self._cache: dict[tuple[str, str | None, bool, str | None], tuple[float, Decision]] = {}
        # Ids the registry said it knows, lately: a refusal before the registry is asked (a
        # wrong subprotocol, a throttle) is recorded for a real CP, never for a made-up id.
        self._known: TTLCache[str, bool] = TTLCache(200_000, ttl=3600)
        self._unknown: TTLCache[str, bool] = TTLCache(100_000, ttl=60)
        self._waiting: list[_Asked] = []
        self._out = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def decide(
        self,
        cp_id: str,
        password: str | None,
        tls: bool,
        client_cn: str | None,
        address: str | None = None,
    ) -> Decision:
        """The registry's decision (RpcError or RpcUnavailable when it cannot be asked);
        `address`, the client's, lets it record a refusal once per address a minute."""
        # The cache key holds a digest of the password, never the password.
        digest = hashlib.sha256(password.encode()).hexdigest() if password is not None else None
        key = (cp_id, digest, tls, client_cn)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        params = Handshake(
            id=cp_id,
            tls=tls,
            password=password,
            client_cert_cn=client_cn,
            address=address[:64] if address is not None else None,
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._waiting.append((params, key, future))
        if len(self._waiting) == 1 or len(self._waiting) >= ADMISSION_BATCH:
            loop.call_soon(self._send)
        try:
            # Queued behind busy requests or not, the whole wait is bounded (a timeout, not
            # wait_for: no task of its own per handshake).
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError:
            raise RpcUnavailable("timeout", f"no admission within {self._timeout:g} s") from None

    @property
    def queued(self) -> int:
        """Handshakes not yet asked about: they leave together when a request to the registry
        comes back (or at once when fewer than `in_flight` are out)."""
        return len(self._waiting)

    def _send(self) -> None:
        while self._waiting and self._out < self._in_flight:
            batch = [asked for asked in self._waiting[:ADMISSION_BATCH] if not asked[2].done()]
            del self._waiting[:ADMISSION_BATCH]
            if not batch:
                continue
            self._out += 1
            task = asyncio.create_task(self._ask(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ask(self, batch: list[_Asked]) -> None:
        try:
            with ADMISSION_SECONDS.time():
                answers = await self._answers([params for params, _, _ in batch])
        except asyncio.CancelledError:
            for _, _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            now = time.monotonic()
            for (_, key, future), answer in zip(batch, answers, strict=True):
                decision = Decision(
                    allowed=answer.allowed,
                    status=answer.status,
                    reason=answer.reason,
                    security_profile=answer.security_profile,
                    registration_status=answer.registration_status,
                    authenticated=answer.authenticated,
                    known=answer.known,
                )
                if decision.known:
                    self._known[key[0]] = True
                if decision.allowed and self._ttl > 0:
                    if len(self._cache) > 100_000:
                        self._cache.clear()
                    self._cache[key] = (now + self._ttl, decision)
                if not future.done():
                    future.set_result(decision)
        finally:
            self._out -= 1
            self._send()

    async def _answers(self, handshakes: list[Handshake]) -> list[AdmissionDecision]:
        """The registry's answer to each handshake, in order (raises RpcError)."""
        result = await self._rpc.call(
            RegistryRpc.authorize_connections,
            AuthorizeConnections(handshakes=handshakes),
            self._timeout,
        )
        if len(result.decisions) != len(handshakes):
            raise RpcError("invalid", "authorize_connections answered no decision per handshake")
        return result.decisions

    def knows(self, cp_id: str) -> bool:
        """Whether the registry said lately that it knows this id."""
        return cp_id in self._known

    async def look_up(self, cp_id: str) -> bool:
        """Whether the registry knows this id, asked unless it said so lately (a no is kept a
        minute: a stranger repeating a made-up id asks once a minute); False if it cannot
        answer."""
        if cp_id in self._known:
            return True
        if cp_id in self._unknown:
            return False
        try:
            result = await self._rpc.call(
                RegistryRpc.known_charge_points, ChargePointIds(ids=[cp_id]), self._timeout
            )
        except (RpcError, RpcUnavailable):
            return False
        known = cp_id in result.known
        (self._known if known else self._unknown)[cp_id] = True
        return known

    def clear(self) -> None:
        """Forget every cached decision (events that would have invalidated some may be lost)."""
        self._cache.clear()

    def invalidate(self, cp_id: str) -> None:
        """Forget every cached decision for this CP (its key or profile changed)."""
        for key in [k for k in self._cache if k[0] == cp_id]:
            del self._cache[key]
