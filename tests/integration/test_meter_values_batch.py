"""The session-service's MeterValues against its real schema, one by one and batched: copies
stored once (also inside one batch), every row of every message stored, transactions' register
and last seen; a batch leaves what the same calls leave one by one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import CallContext, Context
from csms_shared.db import create_engine, session_factory
from csms_shared.ocpp.v16.messages import MeterValuesRequest
from csms_shared.ocpp.version import OcppVersion
from session_service.action_authorize_meter_values import meter_values, meter_values_batch
from session_service.app import migrate
from session_service.db import outbox
from session_service.meter_partitions import maintain as maintain_partitions
from session_service.router import router
from session_service.settings import Settings
from tests.integration.groups import CountingUnitOfWork, call, in_one_group, one_by_one
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def schema(infra: Infra) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Settings]]:
    settings = Settings(database_url=infra.database_url)
    await asyncio.to_thread(migrate, settings)
    engine = create_engine(infra.database_url, pool_size=2)
    sessions = session_factory(engine)
    # Meter values are partitioned by the month received: T0's month must have its partition.
    await maintain_partitions(sessions, settings, today=T0.date())
    await maintain_partitions(sessions, settings)  # and this month's, for calls received now
    yield sessions, settings
    await engine.dispose()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    yield conn
    await conn.close()


async def new_transaction(
    db: asyncpg.Connection, cp: str, *, stale: bool = False, seen: datetime = T0
) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO sessions.transactions (charge_point_id, connector_id, id_tag,"
            " id_tag_status, meter_start, start_time, price_per_kwh, session_fee, currency,"
            " last_seen_at, stale_since, ocpp_version) VALUES ($1, 1, 'TAG', 'Accepted', 0, $2,"
            " 0.3, 0, 'EUR', $3, $4, '1.6') RETURNING id",
            cp,
            T0,
            seen,
            T0 if stale else None,
        )
    )


def message(tx_id: int | None, *readings: tuple[datetime, int]) -> MeterValuesRequest:
    payload: dict[str, Any] = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": at.isoformat(),
                "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "16", "measurand": "Current.Import", "unit": "A"},
                ],
            }
            for at, wh in readings
        ],
    }
    if tx_id is not None:
        payload["transactionId"] = tx_id
    return MeterValuesRequest.model_validate(payload)


async def run_batch(
    schema: tuple[async_sessionmaker[AsyncSession], Settings],
    calls: list[tuple[str, MeterValuesRequest]],
    *,
    received: datetime | None = None,
) -> int:
    """Run one batch; how many events it emitted."""
    sessions, settings = schema
    async with sessions() as session, session.begin():
        ctx = Context(session=session, settings=settings, outbox=outbox)
        pairs = [
            (
                request,
                CallContext(
                    session=session,
                    settings=settings,
                    outbox=outbox,
                    charge_point_id=cp,
                    received_at=received or datetime.now(UTC),
                    ocpp_version=OcppVersion.V16,
                ),
            )
            for cp, request in calls
        ]
        await meter_values_batch(pairs, ctx)
    return ctx.emitted


async def stored(db: asyncpg.Connection, cp: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT transaction_id, value FROM sessions.meter_values WHERE charge_point_id = $1"
            " ORDER BY id",
            cp,
        )
    )


async def test_a_batch_stores_every_message_once(schema: Any, db: asyncpg.Connection) -> None:
    tx_a = await new_transaction(db, "batch-a")
    tx_b = await new_transaction(db, "batch-b")
    first = message(tx_a, (T0 + timedelta(minutes=1), 1000))
    calls = [
        ("batch-a", first),
        ("batch-a", message(tx_a, (T0 + timedelta(minutes=1), 1000))),  # a copy in the batch
        ("batch-a", message(tx_a, (T0 + timedelta(minutes=2), 1500))),
        ("batch-a", message(tx_b, (T0 + timedelta(minutes=3), 7))),  # another CP's transaction
        ("batch-a", message(None, (T0 + timedelta(minutes=3), 8))),
        ("batch-b", message(tx_b, (T0 + timedelta(minutes=1), 300))),
        ("batch-b", message(987654321, (T0 + timedelta(minutes=1), 9))),  # no such transaction
    ]
    emitted = await run_batch(schema, calls)
    # Six messages stored, each published as meter.values and, as each one's newest reading has
    # a Current.Import, followed by its meter.current.
    assert emitted == 12
    rows_a = await stored(db, "batch-a")
    assert [(r["transaction_id"], r["value"]) for r in rows_a] == [
        (tx_a, "1000"),
        (tx_a, "16"),
        (tx_a, "1500"),
        (tx_a, "16"),
        (None, "7"),
        (None, "16"),
        (None, "8"),
        (None, "16"),
    ]
    rows_b = await stored(db, "batch-b")
    assert [(r["transaction_id"], r["value"]) for r in rows_b] == [
        (tx_b, "300"),
        (tx_b, "16"),
        (None, "9"),
        (None, "16"),
    ]
    a = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", tx_a)
    assert (a["last_meter_wh"], a["last_meter_at"]) == (Decimal(1500), T0 + timedelta(minutes=2))
    assert a["last_seen_at"] > T0
    b = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", tx_b)
    assert b["last_meter_wh"] == Decimal(300)

    # Sent again (a reconnect, a redelivery), alone or in a batch: nothing new.
    assert await run_batch(schema, calls[:3]) == 0
    assert len(await stored(db, "batch-a")) == len(rows_a)


async def test_newest_register_wins_and_a_stale_transaction_is_alive_again(
    schema: Any, db: asyncpg.Connection
) -> None:
    tx_id = await new_transaction(db, "batch-c", stale=True)
    await run_batch(
        schema,
        [
            ("batch-c", message(tx_id, (T0 + timedelta(minutes=5), 500))),
            ("batch-c", message(tx_id, (T0 + timedelta(minutes=4), 400))),  # older, later sent
        ],
    )
    row = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", tx_id)
    assert row["last_meter_wh"] == Decimal(500)
    assert row["stale_since"] is None
    audits = await db.fetch(
        "SELECT action FROM sessions.transaction_audit WHERE transaction_id = $1", tx_id
    )
    assert [a["action"] for a in audits] == ["alive_again"]
    # An older reading in a later batch does not replace the stored one.
    await run_batch(schema, [("batch-c", message(tx_id, (T0 + timedelta(minutes=1), 100)))])
    row = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", tx_id)
    assert row["last_meter_wh"] == Decimal(500)
    assert len(await stored(db, "batch-c")) == 6


async def test_one_message_alone_is_stored_once(schema: Any, db: asyncpg.Connection) -> None:
    sessions, settings = schema
    tx_id = await new_transaction(db, "batch-d")
    request = message(tx_id, (T0 + timedelta(minutes=1), 42))
    for _ in range(2):
        async with sessions() as session, session.begin():
            ctx = CallContext(
                session=session,
                settings=settings,
                outbox=outbox,
                charge_point_id="batch-d",
                ocpp_version=OcppVersion.V16,
            )
            await meter_values(request, ctx)
    assert [r["value"] for r in await stored(db, "batch-d")] == ["42", "16"]
    row = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", tx_id)
    assert row["last_meter_wh"] == Decimal(42)


# -- the batch handler equals the one-call handler, on any sequence of MeterValues -------------

a_message = st.tuples(
    st.sampled_from(["A", "B"]),  # the CP
    st.sampled_from(["own", "other", "unknown", None]),  # whose transaction it names
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=2),
    st.integers(0, 2),  # received, seconds after the test's start
)
UNKNOWN_TX = 2_000_000_000


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(a_message, min_size=1, max_size=8))
async def test_a_batch_leaves_the_rows_and_answers_of_the_same_calls_one_by_one(
    schema: Any, db: asyncpg.Connection, messages: list[Any]
) -> None:
    sessions, settings_ = schema
    route = router.calls["v16.MeterValues"]
    uid = uuid.uuid4().hex[:8]
    # Received now and last seen now: a session-service another test left running sweeps open
    # transactions silent for a day (flagged_stale), and must find none of these to flag.
    received = datetime.now(UTC).replace(microsecond=0)

    async def run(mode: str, uow: CountingUnitOfWork) -> tuple[list[Any], dict[str, Any]]:
        cps = {cp: f"mvp-{uid}-{mode}-{cp}" for cp in ("A", "B")}
        txs = {cp: await new_transaction(db, cps[cp], stale=cp == "B", seen=received) for cp in cps}
        names = {txs[cp]: cp for cp in txs}
        whose = {"own": lambda cp: txs[cp], "other": lambda cp: txs["B" if cp == "A" else "A"]}
        calls = [
            call(
                cps[cp],
                message(
                    UNKNOWN_TX if tx == "unknown" else None if tx is None else whose[tx](cp),
                    *((T0 + timedelta(minutes=at), wh) for at, wh in readings),
                ),
                received + timedelta(seconds=seconds),
            )
            for cp, tx, readings, seconds in messages
        ]
        answers = await (
            in_one_group(uow, route, calls) if mode == "batch" else one_by_one(uow, route, calls)
        )
        rows = await db.fetch(
            "SELECT charge_point_id, connector_id, transaction_id, timestamp, value, measurand,"
            " source, received_at FROM sessions.meter_values"
            " WHERE charge_point_id = ANY($1::varchar[])",
            list(cps.values()),
        )
        transactions = await db.fetch(
            "SELECT id, last_seen_at, last_meter_wh, last_meter_at, stale_since, warnings"
            " FROM sessions.transactions WHERE id = ANY($1::int[]) ORDER BY charge_point_id",
            list(txs.values()),
        )
        audits = await db.fetch(
            "SELECT transaction_id, action FROM sessions.transaction_audit"
            " WHERE transaction_id = ANY($1::int[])",
            list(txs.values()),
        )
        state = {
            "rows": sorted(
                repr(
                    dict(r)
                    | {
                        "charge_point_id": r["charge_point_id"][-1],
                        "transaction_id": names.get(r["transaction_id"], r["transaction_id"]),
                    }
                )
                for r in rows
            ),
            "transactions": [dict(t) | {"id": names[t["id"]]} for t in transactions],
            "audits": sorted((names[a["transaction_id"]], a["action"]) for a in audits),
        }
        return answers, state

    alone = CountingUnitOfWork(sessions, settings_, outbox)
    together = CountingUnitOfWork(sessions, settings_, outbox)
    one_answers, one_state = await run("alone", alone)
    many_answers, many_state = await run("batch", together)
    assert many_answers == one_answers == [{"payload": {}}] * len(messages)
    assert together.commits == 1 and alone.commits == len(messages)
    assert together.emitted == alone.emitted
    assert many_state == one_state
