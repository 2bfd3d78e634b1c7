"""Handshake admission: cache misses that queue behind busy requests leave together."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from csms_shared.bus.rpc import RpcUnavailable
from csms_shared.contracts.rpc import Handshake, RegistryRpc, RpcMethod
from shared.tests.fakes import until
from ws_gateway.auth import HandshakeAuthorizer


class FakeRpc:
    """The registry's admission RPC, answered when the test releases it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def call(self, method: RpcMethod[Any, Any], params: Any, timeout: float = 5.0) -> Any:
        self.calls.append((method.name, params))
        self.asked.set()
        await self.release.wait()
        assert method is RegistryRpc.authorize_connections
        return method.decode_result({"decisions": [self._one(h) for h in params.handshakes]})

    @staticmethod
    def _one(handshake: Handshake) -> dict[str, Any]:
        if handshake.id.startswith("BAD"):
            return {"allowed": False, "status": 401, "reason": "wrong AuthorizationKey"}
        return {"allowed": True, "securityProfile": 0, "registrationStatus": "Accepted"}


async def test_handshakes_queued_behind_busy_requests_are_admitted_in_one() -> None:
    rpc = FakeRpc()
    authorizer = HandshakeAuthorizer(rpc, ttl=60, in_flight=1)  # type: ignore[arg-type]
    first = asyncio.create_task(authorizer.decide("CP-0", None, False, None))
    await rpc.asked.wait()  # the only request allowed out is out
    later = [
        asyncio.create_task(authorizer.decide(cp, "secret", False, None))
        for cp in ("CP-1", "BAD-2", "CP-3")
    ]
    await until(lambda: authorizer.queued == 3)
    rpc.release.set()
    decisions = await asyncio.gather(first, *later)
    assert [d.allowed for d in decisions] == [True, True, False, True]
    assert decisions[2].status == 401
    assert [(m, [h.id for h in p.handshakes]) for m, p in rpc.calls] == [
        ("authorize_connections", ["CP-0"]),
        ("authorize_connections", ["CP-1", "BAD-2", "CP-3"]),
    ]
    # A yes is remembered (by a digest of the password, never the password); a no is not.
    assert (await authorizer.decide("CP-1", "secret", False, None)).allowed
    assert len(rpc.calls) == 2
    await authorizer.decide("BAD-2", "secret", False, None)
    assert len(rpc.calls) == 3


async def test_an_admission_that_takes_too_long_is_unavailable() -> None:
    rpc = FakeRpc()
    authorizer = HandshakeAuthorizer(rpc, ttl=60, timeout=0.1)  # type: ignore[arg-type]
    with pytest.raises(RpcUnavailable):
        await authorizer.decide("CP-slow", None, False, None)
