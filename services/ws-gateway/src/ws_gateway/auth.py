"""Handshake admission: HTTP Basic and client certificates, decided by the registry, cached."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from csms_shared.bus.rpc import RpcClient, RpcError

REGISTRY = "station-registry"


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a handshake may proceed, and what the registry knows of the CP."""

    allowed: bool
    status: int = 200
    reason: str = ""
    security_profile: int = 0
    registration_status: str = "Accepted"


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


class HandshakeAuthorizer:
    """Asks the registry whether a CP may connect; remembers yes-answers for a while."""

    def __init__(self, rpc: RpcClient, ttl: float, timeout: float = 5.0) -> None:
        self._rpc = rpc
        self._ttl = ttl
        self._timeout = timeout
        self._cache: dict[tuple[str, str | None, bool, str | None], tuple[float, Decision]] = {}

    async def decide(
        self, cp_id: str, password: str | None, tls: bool, client_cn: str | None
    ) -> Decision:
        """The registry's decision (RpcError or RpcUnavailable when it cannot be asked)."""
        # The cache key holds a digest of the password, never the password.
        digest = hashlib.sha256(password.encode()).hexdigest() if password is not None else None
        key = (cp_id, digest, tls, client_cn)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        params: dict[str, Any] = {"id": cp_id, "tls": tls}
        if password is not None:
            params["password"] = password
        if client_cn is not None:
            params["clientCertCn"] = client_cn
        answer = await self._rpc.call(REGISTRY, "authorize_connection", params, self._timeout)
        if not isinstance(answer, dict):
            raise RpcError("invalid", "authorize_connection answered no object")
        decision = Decision(
            allowed=bool(answer.get("allowed")),
            status=int(answer.get("status", 200)),
            reason=str(answer.get("reason", "")),
            security_profile=int(answer.get("securityProfile", 0)),
            registration_status=str(answer.get("registrationStatus", "Accepted")),
        )
        if decision.allowed and self._ttl > 0:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = (now + self._ttl, decision)
        return decision

    def invalidate(self, cp_id: str) -> None:
        """Forget every cached decision for this CP (its key or profile changed)."""
        for key in [k for k in self._cache if k[0] == cp_id]:
            del self._cache[key]
