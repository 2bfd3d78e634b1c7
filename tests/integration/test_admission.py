"""The registry's admission of many handshakes at once (a gateway's batch), against its real
schema: one decision per handshake, in order, each what the handshake alone would get."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from csms_shared.bus.router import Context
from csms_shared.bus.rpc import RpcError, read_params
from csms_shared.contracts.rpc import AuthorizeConnections
from station_registry.db import outbox
from station_registry.rpc_security import authorize_connections
from tests.integration.conftest import RegistrySchema

pytestmark = pytest.mark.integration


def pbkdf2_hash(key: str) -> str:
    """A key hashed as the registry's previous versions stored it."""
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, 1000)
    return (
        f"pbkdf2_sha256$1000${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


async def test_a_batch_of_handshakes_gets_the_decisions_each_would_get_alone(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    sessions, settings = registry_schema
    run = uuid.uuid4().hex[:6]
    basic, tls_only, fresh = (f"ADM-{run}-{n}" for n in ("basic", "tls", "new"))
    await db.execute(
        "INSERT INTO registry.charge_points (id, registration_status, security_profile,"
        " auth_key_hash) VALUES ($1, 'Accepted', 1, $2), ($3, 'Pending', 2, $2)",
        basic,
        pbkdf2_hash("correct-horse-battery"),
        tls_only,
    )
    handshakes: list[dict[str, Any]] = [
        {"id": basic, "tls": False, "password": "correct-horse-battery"},
        {"id": basic, "tls": False, "password": "wrong-wrong-wrong"},
        {"id": basic, "tls": False},
        {"id": tls_only, "tls": False, "password": "correct-horse-battery"},
        {"id": fresh, "tls": False},
    ]
    async with sessions() as session, session.begin():
        ctx = Context(session=session, settings=settings, outbox=outbox)
        params = AuthorizeConnections.model_validate({"handshakes": handshakes})
        together = (await authorize_connections(params, ctx)).decisions
    alone = []
    for handshake in handshakes:
        async with sessions() as session, session.begin():
            ctx = Context(session=session, settings=settings, outbox=outbox)
            alone_params = AuthorizeConnections.model_validate({"handshakes": [handshake]})
            one = await authorize_connections(alone_params, ctx)
            alone.extend(one.decisions)
    assert together == alone
    assert [(d.allowed, d.status) for d in together] == [
        (True, 200),
        (False, 401),
        (False, 401),
        (False, 403),
        (True, 200),
    ]
    assert together[0].registration_status == "Accepted"
    # Every refusal is a security event of its CP, twice (together, then alone): one row each
    # counting both, as refusals within a minute are (two rows if a minute turned between).
    counted: dict[str, int] = {}
    for r in await db.fetch(
        "SELECT type, count FROM registry.security_events"
        " WHERE charge_point_id = ANY($1::varchar[]) ORDER BY id",
        [basic, tls_only],
    ):
        counted[r["type"]] = counted.get(r["type"], 0) + r["count"]
    assert counted == {"InvalidCredentials": 2, "MissingCredentials": 2, "InsecureConnection": 2}


def test_a_malformed_batch_is_refused() -> None:
    # As the runtime reads a request's params before authorize_connections runs.
    for params in ({"handshakes": "CP-1"}, {"handshakes": [1, 2]}, {}):
        with pytest.raises(RpcError) as refused:
            read_params(AuthorizeConnections, orjson.dumps(params))
        assert refused.value.code == "invalid" and "handshakes" in refused.value.message
    too_many = {"handshakes": [{"id": f"CP-{n}"} for n in range(501)]}
    with pytest.raises(RpcError, match="handshakes: List should have at most 500 items"):
        read_params(AuthorizeConnections, orjson.dumps(too_many))
