"""The session-service's calls in groups (group commit) against its real schema: a group of
Authorize, StartTransaction or StopTransaction calls answered from one transaction gets exactly
the answers the same calls would have got one after the other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.events import ConnectorStatus
from csms_shared.db import create_engine, session_factory
from csms_shared.ocpp.v16.messages import (
    AuthorizeRequest,
    StartTransactionRequest,
    StopTransactionRequest,
)
from csms_shared.ocpp.version import OcppVersion
from session_service import reservations
from session_service.app import migrate
from session_service.db import outbox
from session_service.follow_commands_connectors import connectors_status
from session_service.router import router
from session_service.settings import Settings
from tests.integration.groups import CountingUnitOfWork, call, in_one_group
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)

Schema = tuple[async_sessionmaker[AsyncSession], Settings]


@pytest.fixture(scope="module")
async def schema(infra: Infra) -> AsyncIterator[Schema]:
    settings = Settings(database_url=infra.database_url)  # unknown idTags: Invalid
    await asyncio.to_thread(migrate, settings)
    engine = create_engine(infra.database_url, pool_size=2)
    yield session_factory(engine), settings
    await engine.dispose()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    yield conn
    await conn.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=[True, False], ids=["batch", "one-call"])
def batch(request: pytest.FixtureRequest) -> bool:
    """Whether a group goes to the action's set-based batch handler or to its one-call handler
    call after call: both must give what the tests expect."""
    return bool(request.param)


async def in_one_transaction(
    schema: Schema, action: str, calls: list[tuple[str, Any]], batch: bool = True
) -> tuple[list[dict[str, Any]], int]:
    """Run (cp, request) calls of `action` as one group of the runtime's group commit (one
    transaction); the answers as payloads, and the events emitted."""
    sessions, settings = schema
    uow = CountingUnitOfWork(sessions, settings, outbox)
    group = [call(cp, r, NOW) for cp, r in calls]
    bodies = await in_one_group(uow, router.calls[f"v16.{action}"], group, batch=batch)
    assert uow.commits == 1
    return [body["payload"] for body in bodies], uow.emitted


def start(tag: str, meter: int, *, connector: int = 1, at: datetime = NOW) -> Any:
    return StartTransactionRequest.model_validate(
        {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": at.isoformat()}
    )


def stop(tx_id: int, meter: int, *, tag: str | None = None, at: datetime = NOW) -> Any:
    payload: dict[str, Any] = {
        "transactionId": tx_id,
        "meterStop": meter,
        "timestamp": at.isoformat(),
    }
    if tag is not None:
        payload["idTag"] = tag
    return StopTransactionRequest.model_validate(payload)


async def test_a_group_of_authorize_answers_as_each_call_alone(
    schema: Schema, db: asyncpg.Connection, batch: bool
) -> None:
    group, member, blocked, expired = (unique(p) for p in ("GRP", "MEM", "BLK", "EXP"))
    await db.execute(
        "INSERT INTO sessions.id_tags (id_tag, status, expiry_date, parent_id_tag) VALUES"
        " ($1, 'Blocked', NULL, NULL), ($2, 'Accepted', NULL, $1),"
        " ($3, 'Blocked', NULL, NULL), ($4, 'Accepted', $5, NULL)",
        group,
        member,
        blocked,
        expired,
        NOW - timedelta(days=1),
    )
    reserved_cp = unique("cp-res")
    await db.execute(
        "INSERT INTO sessions.reservations (charge_point_id, reservation_id, connector_id,"
        " id_tag, expiry_date, status, command_id, reserved_at)"
        " VALUES ($1, 1, 0, 'SOMEONE-ELSE', $2, 'Active', 'c', $3)",
        reserved_cp,
        NOW + timedelta(hours=1),
        NOW,
    )
    calls = [
        (unique("cp"), AuthorizeRequest(id_tag=member.lower())),  # any case; blocked group
        (unique("cp"), AuthorizeRequest(id_tag=blocked)),
        (unique("cp"), AuthorizeRequest(id_tag=expired)),
        (unique("cp"), AuthorizeRequest(id_tag="NOT-LISTED")),
        (reserved_cp, AuthorizeRequest(id_tag="NOT-LISTED")),
    ]
    together, _ = await in_one_transaction(schema, "Authorize", calls, batch=batch)
    alone = [
        (await in_one_transaction(schema, "Authorize", [one], batch=batch))[0][0] for one in calls
    ]
    assert together == alone
    assert [a["idTagInfo"]["status"] for a in together] == [
        "Blocked",
        "Blocked",
        "Expired",
        "Invalid",
        "Invalid",
    ]


async def test_a_group_of_starts_opens_one_transaction_each_and_knows_re_sends(
    schema: Schema, db: asyncpg.Connection, batch: bool
) -> None:
    cps = [unique("cp-start") for _ in range(3)]
    tags = [unique("T") for _ in range(3)]
    for tag in tags:
        await db.execute("INSERT INTO sessions.id_tags (id_tag) VALUES ($1)", tag)
    calls = [
        (cps[0], start(tags[0], 100)),
        (cps[1], start(tags[1], 200)),
        (cps[0], start(tags[0], 100)),  # the same StartTransaction again: a re-send
        (cps[2], start(tags[2], 300)),
    ]
    answers, emitted = await in_one_transaction(schema, "StartTransaction", calls, batch=batch)
    ids = [a["transactionId"] for a in answers]
    assert ids[0] == ids[2] and len({ids[0], ids[1], ids[3]}) == 3
    assert {a["idTagInfo"]["status"] for a in answers} == {"Accepted"}
    assert emitted == 3  # transaction.started once per transaction
    rows = await db.fetch(
        "SELECT id, charge_point_id, id_tag, meter_start FROM sessions.transactions"
        " WHERE charge_point_id = ANY($1::varchar[]) ORDER BY id",
        cps,
    )
    # Handled in charge point order (the group's lock order), so ids follow the CPs' ids.
    assert [(r["charge_point_id"], r["id_tag"], r["meter_start"]) for r in rows] == sorted(
        [(cps[0], tags[0], 100), (cps[1], tags[1], 200), (cps[2], tags[2], 300)]
    )


async def test_a_tags_limit_holds_inside_one_group(
    schema: Schema, db: asyncpg.Connection, batch: bool
) -> None:
    tag = unique("LIM")
    await db.execute("INSERT INTO sessions.id_tags (id_tag, max_concurrent_tx) VALUES ($1, 1)", tag)
    calls = [(unique("cp-lim"), start(tag, 0)), (unique("cp-lim"), start(tag.lower(), 0))]
    answers, _ = await in_one_transaction(schema, "StartTransaction", calls, batch=batch)
    # As one after the other (in charge point order): the second start finds the first one open.
    first = 0 if calls[0][0] < calls[1][0] else 1
    assert answers[first]["idTagInfo"]["status"] == "Accepted"
    assert answers[1 - first]["idTagInfo"]["status"] == "ConcurrentTx"


async def test_a_tags_limit_does_not_count_what_an_earlier_start_of_the_group_superseded(
    schema: Schema, db: asyncpg.Connection, batch: bool
) -> None:
    tag, other = unique("LIM"), unique("OTH")
    await db.execute(
        "INSERT INTO sessions.id_tags (id_tag, max_concurrent_tx) VALUES ($1, 1), ($2, NULL)",
        tag,
        other,
    )
    cp = unique("cp-cut")
    calls = [(cp + "-B", start(tag, 0)), (cp + "-B", start(other, 0)), (cp + "-C", start(tag, 0))]
    answers, _ = await in_one_transaction(schema, "StartTransaction", calls, batch=batch)
    # Call after call: the second start on B's connector supersedes the tag's first transaction,
    # so the third start, on C, finds the tag within its limit.
    assert [a["idTagInfo"]["status"] for a in answers] == ["Accepted"] * 3


async def test_a_start_in_a_group_supersedes_what_is_open_on_its_connector(
    schema: Schema, db: asyncpg.Connection, batch: bool
) -> None:
    cp, other = unique("cp-sup"), unique("cp-sup")
    opened, _ = await in_one_transaction(
        schema,
        "StartTransaction",
        [(cp, start("OLD", 5, at=NOW - timedelta(hours=2)))],
        batch=batch,
    )
    first = opened[0]["transactionId"]
    answers, _ = await in_one_transaction(
        schema, "StartTransaction", [(cp, start("NEW", 9)), (other, start("NEW2", 1))], batch=batch
    )
    superseded = await db.fetchval(
        "SELECT superseded_by FROM sessions.transactions WHERE id = $1", first
    )
    assert superseded == answers[0]["transactionId"]
    audit = await db.fetchval(
        "SELECT count(*) FROM sessions.transaction_audit WHERE transaction_id = $1"
        " AND action = 'superseded'",
        first,
    )
    assert audit == 1


async def test_a_group_of_stops_closes_each_once_and_keeps_the_odd_ones(
    schema: Schema, db: asyncpg.Connection, batch: bool
) -> None:
    cps = [unique("cp-stop") for _ in range(3)]
    tag = unique("ST")
    await db.execute("INSERT INTO sessions.id_tags (id_tag) VALUES ($1)", tag)
    opened, _ = await in_one_transaction(
        schema,
        "StartTransaction",
        [(cp, start(tag if n == 0 else f"{tag}{n}", 1000 * n)) for n, cp in enumerate(cps)],
        batch=batch,
    )
    a, b, c = (o["transactionId"] for o in opened)
    later = NOW + timedelta(minutes=30)
    calls = [
        (cps[0], stop(a, 1500, tag=tag.lower(), at=later)),
        (cps[1], stop(b, 1200, at=later)),
        (cps[0], stop(a, 1500, tag=tag, at=later)),  # the same stop again: a re-send
        (cps[1], stop(b, 1300, at=later)),  # a different second stop: kept for review
        (cps[2], stop(a, 9999, at=later)),  # another CP's transaction
        (cps[2], stop(2_000_000_000, 1, at=later)),  # no such transaction
        (cps[2], stop(c, 2100, at=later)),
    ]
    answers, emitted = await in_one_transaction(schema, "StopTransaction", calls, batch=batch)
    assert answers[0] == answers[2] == {"idTagInfo": {"status": "Accepted"}}
    assert answers[1:2] + answers[3:] == [{}, {}, {}, {}, {}]
    # transaction.stopped once each for a, b and c, and with each a session.warning: their
    # timestamps are 30 minutes ahead of the clock.
    assert emitted == 6
    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT id, meter_stop, energy_wh, stop_id_tag FROM sessions.transactions"
            " WHERE id = ANY($1::int[])",
            [a, b, c],
        )
    }
    assert (rows[a]["meter_stop"], rows[a]["energy_wh"], rows[a]["stop_id_tag"]) == (
        1500,
        1500,
        tag.lower(),
    )
    assert (rows[b]["meter_stop"], rows[b]["energy_wh"]) == (1200, 200)
    assert (rows[c]["meter_stop"], rows[c]["energy_wh"]) == (2100, 100)
    kept = await db.fetch(
        "SELECT kind, transaction_id FROM sessions.unmatched_stops"
        " WHERE charge_point_id = ANY($1::varchar[]) ORDER BY id",
        cps,
    )
    assert sorted((k["kind"], k["transaction_id"]) for k in kept) == [
        ("already_stopped", b),
        ("other_charge_point", a),
        ("unknown_transaction", 2_000_000_000),
    ]


async def test_connector_reports_followed_in_a_group_are_stored_once(
    schema: Schema, db: asyncpg.Connection
) -> None:
    cp = unique("cp-conn")
    # (A body with a connectorId that is no integer never gets here: the runtime dead-letters
    # it, contracts/events.py.)
    events = [
        ConnectorStatus(
            charge_point_id=cp,
            connector_id=n,
            status="Available",
            error_code="NoError",
            ocpp_version=OcppVersion.V16,
        )
        for n in (
            2,
            1,
            2,  # the same connector again
            0,  # the whole CP: not a connector
        )
    ]
    sessions, settings = schema
    async with sessions() as session, session.begin():
        ctx = Context(session=session, settings=settings, outbox=outbox)
        await connectors_status(events, ctx)
    for callback in ctx.committed:
        callback()
    stored = await db.fetch(
        "SELECT connector_id FROM sessions.connectors WHERE charge_point_id = $1 ORDER BY 1", cp
    )
    assert [r["connector_id"] for r in stored] == [1, 2]
    # Known now: reporting them again costs no statement.
    assert reservations.connector_known(cp, 1) and reservations.connector_known(cp, 2)
