"""Property: a group of Authorize, StartTransaction, MeterValues or StopTransaction calls gets from
its set-based batch handler the answers, rows and events the one-call handler gives the same group
call after call (both in one transaction, in the group's order), whatever the mix of tags,
reservations, limits, re-sends and unmatched stops; a 1.6 transaction's whole lifecycle (start,
supersede, reservation used, alive again, stop, a stop after an operator's close) goes through
the side effects both versions share (session_service/tx_lifecycle.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.db import create_engine, session_factory
from csms_shared.ocpp.v16.messages import (
    AuthorizeRequest,
    MeterValuesRequest,
    StartTransactionRequest,
    StopTransactionRequest,
)
from session_service.app import migrate
from session_service.db import outbox
from session_service.router import router
from session_service.settings import Settings
from tests.integration.groups import CountingUnitOfWork, call, in_one_group
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
UNKNOWN_TX = 2_000_000_000

Schema = tuple[async_sessionmaker[AsyncSession], Settings]

PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
async def schema(infra: Infra) -> AsyncIterator[Schema]:
    settings_ = Settings(database_url=infra.database_url)  # unknown idTags: Invalid
    await asyncio.to_thread(migrate, settings_)
    engine = create_engine(infra.database_url, pool_size=2)
    yield session_factory(engine), settings_
    await engine.dispose()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    yield conn
    await conn.close()


async def run_group(
    schema: Schema, action: str, calls: list[tuple[str, Any]], *, batch: bool
) -> tuple[list[dict[str, Any]], int]:
    """(cp, request) calls as one group of the runtime's group commit: the answers' payloads,
    and the events emitted."""
    sessions, settings_ = schema
    uow = CountingUnitOfWork(sessions, settings_, outbox)
    group = [call(cp, request, NOW) for cp, request in calls]
    bodies = await in_one_group(uow, router.calls[f"v16.{action}"], group, batch=batch)
    assert uow.commits == 1
    return [body["payload"] for body in bodies], uow.emitted


# Authorize writes nothing: both handlers answer the same group against the same rows.
TAGS = ("OK", "LIM", "MEM", "EXP", "BLK", "NOPE")
CPS = ("A", "B", "R1", "R2")


async def seed_authorize(db: asyncpg.Connection, p: str) -> None:
    """Tags of every kind; LIM (limit 1) holds a transaction open on A; R1 (one connector) is
    reserved for OK, R2 (two connectors) has one of them reserved for somebody else."""
    await db.execute(
        "INSERT INTO sessions.id_tags (id_tag, status, expiry_date, parent_id_tag,"
        " max_concurrent_tx) VALUES ($1 || 'OK', 'Accepted', NULL, NULL, NULL),"
        " ($1 || 'LIM', 'Accepted', NULL, NULL, 1), ($1 || 'GRP', 'Blocked', NULL, NULL, NULL),"
        " ($1 || 'MEM', 'Accepted', NULL, $1 || 'GRP', NULL),"
        " ($1 || 'EXP', 'Accepted', $2, NULL, NULL), ($1 || 'BLK', 'Blocked', NULL, NULL, NULL)",
        p,
        NOW - timedelta(days=1),
    )
    await db.execute(
        "INSERT INTO sessions.transactions (charge_point_id, connector_id, id_tag,"
        " id_tag_status, meter_start, start_time, price_per_kwh, session_fee, currency,"
        " last_seen_at, ocpp_version)"
        " VALUES ($1 || 'A', 1, $1 || 'LIM', 'Accepted', 0, $2, 0.3, 0, 'EUR', $2, '1.6')",
        p,
        NOW,
    )
    await db.execute(
        "INSERT INTO sessions.connectors (charge_point_id, connector_id)"
        " VALUES ($1 || 'R1', 1), ($1 || 'R2', 1), ($1 || 'R2', 2)",
        p,
    )
    await db.execute(
        "INSERT INTO sessions.reservations (charge_point_id, reservation_id, connector_id,"
        " id_tag, expiry_date, status, command_id, reserved_at)"
        " VALUES ($1 || 'R1', 1, 0, $1 || 'OK', $2, 'Active', 'c1', $3),"
        " ($1 || 'R2', 1, 1, 'SOMEONE-ELSE', $2, 'Active', 'c2', $3)",
        p,
        NOW + timedelta(hours=1),
        NOW,
    )


@PROPERTY
@given(
    st.lists(
        st.tuples(st.sampled_from(CPS), st.sampled_from(TAGS), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
async def test_a_group_of_authorize_gets_the_one_call_answers(
    schema: Schema, db: asyncpg.Connection, asked: list[tuple[str, str, bool]]
) -> None:
    p = f"au-{uuid.uuid4().hex[:6]}-"
    await seed_authorize(db, p)
    calls = [
        (p + cp, AuthorizeRequest(id_tag=(p + tag).lower() if lower else p + tag))
        for cp, tag, lower in asked
    ]
    batched = await run_group(schema, "Authorize", calls, batch=True)
    one_call = await run_group(schema, "Authorize", calls, batch=False)
    assert batched == one_call
    assert {a["idTagInfo"]["status"] for a in batched[0]} <= {
        "Accepted",
        "Blocked",
        "Expired",
        "Invalid",
        "ConcurrentTx",
    }


# Starts, meter values and stops write: each mode gets CPs and tags of its own (same suffixes),
# and what the two leave is compared with the prefixes cut off and transaction ids named by the
# start that opened them. T0 has a limit of one, T1 none, T2 is not on the list; connector 1 of A
# is reserved for T1. Two transactions are there before: one the stale monitor flagged, open on
# connector 2 of C (a start there supersedes it, meter values wake it), and one an operator
# closed on connector 2 of B (B's stop replaces the operator's figures).
a_start = st.tuples(
    st.sampled_from(("A", "B", "C")),  # CP
    st.integers(1, 2),  # connector
    st.integers(0, 2),  # tag
    st.integers(0, 2),  # meterStart, hundreds of Wh
    st.integers(0, 2),  # timestamp, minutes before now
)
a_stop = st.tuples(
    st.sampled_from(("A", "B", "C")),  # CP
    st.integers(0, 9),  # the transaction (`TX_INDEX`)
    st.integers(0, 3),  # meterStop, hundreds of Wh above 1,000
    st.sampled_from((None, 0, 1, 2)),  # idTag
    st.booleans(),  # with transactionData
)
a_reading = st.tuples(
    st.sampled_from(("A", "B", "C")),  # CP
    st.integers(0, 9),  # the transaction (`TX_INDEX`)
    st.integers(0, 3),  # register, hundreds of Wh above 500
)
# A stop's or a reading's transaction: 0-6 the start of that index (modulo), 7 none such, 8 the
# stale one, 9 the one an operator closed.
UNKNOWN, STALE, CLOSED = 7, 8, 9


async def seed_sessions(db: asyncpg.Connection, p: str) -> dict[int, int]:
    """The tags, the reservation, and the stale and closed transactions (their ids by index)."""
    await db.execute(
        "INSERT INTO sessions.id_tags (id_tag, max_concurrent_tx)"
        " VALUES ($1 || 'T0', 1), ($1 || 'T1', NULL)",
        p,
    )
    await db.execute(
        "INSERT INTO sessions.reservations (charge_point_id, reservation_id, connector_id,"
        " id_tag, expiry_date, status, command_id, reserved_at)"
        " VALUES ($1 || 'A', 1, 1, $1 || 'T1', $2, 'Active', 'c', $3)",
        p,
        NOW + timedelta(hours=1),
        NOW - timedelta(hours=1),
    )
    stale = await db.fetchval(
        "INSERT INTO sessions.transactions (charge_point_id, connector_id, id_tag, id_tag_status,"
        " meter_start, start_time, price_per_kwh, session_fee, currency, last_seen_at,"
        " stale_since, ocpp_version) VALUES ($1 || 'C', 2, $1 || 'T1', 'Accepted', 0, $2, 0.3, 0,"
        " 'EUR', $3, $3, '1.6') RETURNING id",
        p,
        NOW - timedelta(hours=2),
        NOW,
    )
    closed = await db.fetchval(
        "INSERT INTO sessions.transactions (charge_point_id, connector_id, id_tag, id_tag_status,"
        " meter_start, start_time, price_per_kwh, session_fee, currency, last_seen_at,"
        " stale_since, meter_stop, stop_time, stopped_by, close_reason, energy_wh, cost,"
        " ocpp_version) VALUES ($1 || 'B', 2, $1 || 'T1', 'Accepted', 0, $2, 0.3, 0, 'EUR', $3,"
        " $3, 500, $3, 'operator', 'gone', 500, 0.15, '1.6') RETURNING id",
        p,
        NOW - timedelta(hours=2),
        NOW - timedelta(hours=1),
    )
    return {STALE: stale, CLOSED: closed}


def transaction_for(n: int, ids: list[int], seeded: dict[int, int]) -> int:
    """The transaction id `TX_INDEX` n names."""
    if n == UNKNOWN:
        return UNKNOWN_TX
    return seeded[n] if n in seeded else ids[n % len(ids)]


def reading_request(connector: int, tx_id: int, wh: int) -> Any:
    return MeterValuesRequest.model_validate(
        {
            "connectorId": connector,
            "transactionId": tx_id,
            "meterValue": [
                {
                    "timestamp": (NOW - timedelta(seconds=30)).isoformat(),
                    "sampledValue": [
                        {"value": str(500 + wh * 100), "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        }
    )


def start_request(p: str, connector: int, tag: int, meter: int, minutes: int) -> Any:
    return StartTransactionRequest.model_validate(
        {
            "connectorId": connector,
            "idTag": f"{p}T{tag}",
            "meterStart": meter * 100,
            "timestamp": (NOW - timedelta(minutes=minutes)).isoformat(),
        }
    )


def stop_request(p: str, tx_id: int, meter: int, tag: int | None, data: bool) -> Any:
    payload: dict[str, Any] = {
        "transactionId": tx_id,
        "meterStop": 1000 + meter * 100,
        "timestamp": NOW.isoformat(),
    }
    if tag is not None:
        payload["idTag"] = f"{p}T{tag}"
    if data:
        payload["transactionData"] = [
            {"timestamp": NOW.isoformat(), "sampledValue": [{"value": str(1000 + meter * 100)}]}
        ]
    return StopTransactionRequest.model_validate(payload)


async def left_behind(db: asyncpg.Connection, p: str, names: dict[int, int]) -> dict[str, Any]:
    """What the mode's CPs have in the session-service's tables, prefixes cut off."""
    cut = len(p)

    def named(tx_id: int | None) -> object:
        return names.get(tx_id, tx_id) if tx_id is not None else None

    def unprefixed(value: str | None) -> str | None:
        return value[cut:] if value is not None and value.lower().startswith(p) else value

    like = p + "%"
    transactions = await db.fetch(
        "SELECT id, charge_point_id, connector_id, id_tag, id_tag_status, meter_start,"
        " start_time, reservation_id, meter_stop, stop_time, stop_id_tag, stopped_by, energy_wh,"
        " cost, superseded_by, warnings, stale_since IS NOT NULL AS stale, close_reason,"
        " last_meter_wh, parking_seconds FROM sessions.transactions WHERE charge_point_id LIKE $1",
        like,
    )
    unmatched = await db.fetch(
        "SELECT charge_point_id, transaction_id, kind, id_tag, meter_stop"
        " FROM sessions.unmatched_stops WHERE charge_point_id LIKE $1",
        like,
    )
    audits = await db.fetch(
        "SELECT a.transaction_id, a.action FROM sessions.transaction_audit a"
        " JOIN sessions.transactions t ON t.id = a.transaction_id WHERE t.charge_point_id LIKE $1",
        like,
    )
    readings = await db.fetch(
        "SELECT transaction_id, value, source FROM sessions.meter_values"
        " WHERE charge_point_id LIKE $1",
        like,
    )
    reservations = await db.fetch(
        "SELECT status, transaction_id FROM sessions.reservations WHERE charge_point_id LIKE $1",
        like,
    )
    return {
        "transactions": sorted(
            repr(
                dict(t)
                | {
                    "id": named(t["id"]),
                    "charge_point_id": unprefixed(t["charge_point_id"]),
                    "id_tag": unprefixed(t["id_tag"]),
                    "stop_id_tag": unprefixed(t["stop_id_tag"]),
                    "superseded_by": named(t["superseded_by"]),
                }
            )
            for t in transactions
        ),
        "unmatched": sorted(
            repr(
                dict(u)
                | {
                    "charge_point_id": unprefixed(u["charge_point_id"]),
                    "transaction_id": named(u["transaction_id"]),
                    "id_tag": unprefixed(u["id_tag"]),
                }
            )
            for u in unmatched
        ),
        "audits": sorted(repr((named(a["transaction_id"]), a["action"])) for a in audits),
        "readings": sorted(
            repr(dict(r) | {"transaction_id": named(r["transaction_id"])}) for r in readings
        ),
        "reservations": sorted(
            repr((r["status"], named(r["transaction_id"]))) for r in reservations
        ),
    }


@PROPERTY
@given(
    st.lists(a_start, min_size=1, max_size=6),
    st.lists(a_reading, max_size=4),
    st.lists(a_stop, min_size=1, max_size=6),
)
# Each shared side effect once: T1's start on A uses its reservation, one on C's connector 2
# supersedes the stale transaction, C's reading wakes it, B's stop replaces an operator's close.
@example(
    [("A", 1, 1, 0, 0), ("C", 2, 0, 1, 1)],
    [("C", STALE, 1), ("A", 0, 2)],
    [("B", CLOSED, 1, None, True), ("A", 0, 2, 1, False), ("C", STALE, 0, None, False)],
)
async def test_groups_of_starts_readings_and_stops_leave_what_the_one_call_handlers_leave(
    schema: Schema,
    db: asyncpg.Connection,
    starts: list[tuple[str, int, int, int, int]],
    readings: list[tuple[str, int, int]],
    stops: list[tuple[str, int, int, int | None, bool]],
) -> None:
    uid = uuid.uuid4().hex[:6]

    async def run(batch: bool) -> tuple[Any, ...]:
        p = f"{'b' if batch else 'o'}-{uid}-"
        seeded = await seed_sessions(db, p)
        started, started_events = await run_group(
            schema,
            "StartTransaction",
            [(p + cp, start_request(p, *rest)) for cp, *rest in starts],
            batch=batch,
        )
        ids = [answer["transactionId"] for answer in started]
        names = {tx_id: n for n, tx_id in reversed(list(enumerate(ids)))}
        names |= {tx_id: n for n, tx_id in seeded.items()}
        reading_calls = [
            (
                p + cp,
                reading_request(2 if n in seeded else 1, transaction_for(n, ids, seeded), wh),
            )
            for cp, n, wh in readings
        ]
        metered, metered_events = (
            await run_group(schema, "MeterValues", reading_calls, batch=batch)
            if reading_calls
            else ([], 0)
        )
        stop_calls = [
            (p + cp, stop_request(p, transaction_for(n, ids, seeded), *rest))
            for cp, n, *rest in stops
        ]
        stopped, stopped_events = await run_group(
            schema, "StopTransaction", stop_calls, batch=batch
        )
        answers = [answer | {"transactionId": names[answer["transactionId"]]} for answer in started]
        return (
            answers,
            started_events,
            metered,
            metered_events,
            stopped,
            stopped_events,
            await left_behind(db, p, names),
        )

    batched = await run(batch=True)
    assert batched == await run(batch=False)
    # The shared side effects happened (tx_lifecycle.py), not merely the same in both modes.
    audits = batched[-1]["audits"]
    if any(cp == "C" and connector == 2 for cp, connector, *_ in starts):
        assert repr((STALE, "superseded")) in audits
    if any(cp == "C" and n == STALE for cp, n, _ in readings):
        assert repr((STALE, "alive_again")) in audits
    if any(cp == "B" and n == CLOSED for cp, n, *_ in stops):
        assert repr((CLOSED, "stopped_after_operator_close")) in audits
