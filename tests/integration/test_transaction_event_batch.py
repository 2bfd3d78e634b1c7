"""The session-service's 2.0.1 TransactionEvents and MeterValues against its real schema, one by
one and as a group: a group of TransactionEvents (plain Updated events written together, the
others one by one in the same transaction) leaves the rows, answers and events the same calls
leave one by one, whatever the mix of Started, Updated and Ended, copies, idTokens,
chargingStates and order; a group of MeterValues likewise."""

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
from csms_shared.ocpp.v201.messages import MeterValuesRequest, TransactionEventRequest
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
    await maintain_partitions(sessions, settings)  # this month's, for calls received now
    yield sessions, settings
    await engine.dispose()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    yield conn
    await conn.close()


def event(
    kind: str,
    station_tx: str,
    seq: int,
    minute: int,
    wh: int | None,
    token: str | None,
    charging: str | None = None,
) -> TransactionEventRequest:
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
        "triggerReason": {"Started": "Authorized", "Ended": "EVDeparted"}.get(
            kind, "MeterValuePeriodic"
        ),
        "seqNo": seq,
        "transactionInfo": {"transactionId": station_tx},
    }
    if charging is not None:
        payload["transactionInfo"]["chargingState"] = charging
    if kind == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    if wh is not None:
        payload["meterValue"] = [
            {
                "timestamp": payload["timestamp"],
                "sampledValue": [
                    {"value": wh, "measurand": "Energy.Active.Import.Register"},
                    {"value": 7400, "measurand": "Power.Active.Import"},
                ],
            }
        ]
    return TransactionEventRequest.model_validate(payload)


# (station, transaction, kind, seqNo, minute, register reading, idToken, received +s,
# chargingState: a change is announced, by the one-event path)
an_event = st.tuples(
    st.sampled_from(["A", "B"]),
    st.sampled_from(["tx1", "tx2"]),
    st.sampled_from(["Started", "Updated", "Updated", "Updated", "Ended"]),
    st.integers(0, 4),
    st.integers(0, 30),
    st.one_of(st.none(), st.integers(0, 5).map(lambda n: n * 1000)),
    st.sampled_from([None, None, None, "CARD-1", "CARD-UNKNOWN"]),
    st.integers(0, 2),
    st.sampled_from([None, None, "Charging", "SuspendedEV"]),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# tx1 of each station before the group: none, open, open and flagged stale (an event that does
# not end it wakes it), or closed by an operator (its Ended replaces the operator's figures).
@given(
    st.lists(an_event, min_size=1, max_size=10),
    st.sampled_from(["none", "open", "stale", "closed"]),
)
# A plain Updated, then one of the same transaction that changes its chargingState: the second
# is the one-event path's, after the first was written as the group holds it.
@example(
    [
        ("A", "tx1", "Updated", 1, 1, 1000, None, 0, None),
        ("A", "tx1", "Updated", 2, 2, 2000, None, 0, "Charging"),
    ],
    "open",
)
# A stale tx1 woken by a plain Updated (the one-event path's), then ended; a closed one's Ended.
@example(
    [
        ("A", "tx1", "Updated", 1, 1, 1000, None, 0, None),
        ("A", "tx1", "Ended", 2, 2, 2000, None, 0, None),
    ],
    "stale",
)
@example([("B", "tx1", "Ended", 3, 3, 3000, None, 0, None)], "closed")
async def test_a_group_leaves_the_rows_answers_and_events_of_the_same_calls_one_by_one(
    schema: Any, db: asyncpg.Connection, events: list[Any], before: str
) -> None:
    sessions, settings_ = schema
    route = router.calls["v201.TransactionEvent"]
    uid = uuid.uuid4().hex[:8]
    # Received now: a session-service another test left running sweeps transactions silent for
    # a day, and must find none of these to flag.
    received = datetime.now(UTC).replace(microsecond=0)

    async def run(mode: str, uow: CountingUnitOfWork) -> tuple[list[Any], dict[str, Any]]:
        cps = {cp: f"txe-{uid}-{mode}-{cp}" for cp in ("A", "B")}
        await db.execute(
            "INSERT INTO sessions.id_tags (id_tag, status) VALUES ($1, 'Accepted')"
            " ON CONFLICT DO NOTHING",
            "CARD-1",
        )
        if before != "none":  # Updated events of an open tx1 take the fast path
            for cp in cps.values():
                opening = event("Started", "tx1", 0, 0, 0, None)
                await one_by_one(uow, route, [call(cp, opening, received)])
        if before == "stale":
            await db.execute(
                "UPDATE sessions.transactions SET stale_since = $2"
                " WHERE charge_point_id = ANY($1::varchar[]) AND station_transaction_id = 'tx1'",
                list(cps.values()),
                received,
            )
        if before == "closed":
            await db.execute(
                "UPDATE sessions.transactions SET meter_stop = 0, stop_time = $2,"
                " stopped_by = 'operator', close_reason = 'gone', energy_wh = 0, cost = 0"
                " WHERE charge_point_id = ANY($1::varchar[]) AND station_transaction_id = 'tx1'",
                list(cps.values()),
                T0 + timedelta(minutes=1),
            )
        calls = [
            call(
                cps[cp],
                event(kind, f"{tx}", seq, minute, wh, token, charging),
                received + timedelta(seconds=seconds),
            )
            for cp, tx, kind, seq, minute, wh, token, seconds, charging in events
        ]
        answers = await (
            in_one_group(uow, route, calls) if mode == "batch" else one_by_one(uow, route, calls)
        )
        names = {cp_id: cp for cp, cp_id in cps.items()}
        transactions = await db.fetch(
            "SELECT * FROM sessions.transactions WHERE charge_point_id = ANY($1::varchar[])"
            " ORDER BY charge_point_id, station_transaction_id",
            list(cps.values()),
        )
        ids = {
            t["id"]: (names[t["charge_point_id"]], t["station_transaction_id"])
            for t in transactions
        }
        rows = await db.fetch(
            "SELECT charge_point_id, connector_id, transaction_id, timestamp, value, measurand,"
            " source, received_at FROM sessions.meter_values"
            " WHERE charge_point_id = ANY($1::varchar[])",
            list(cps.values()),
        )
        applied = await db.fetch(
            "SELECT charge_point_id, station_transaction_id, seq_no, transaction_id, event_type,"
            " summary, response, digest FROM sessions.transaction_events"
            " WHERE charge_point_id = ANY($1::varchar[])",
            list(cps.values()),
        )

        audits = await db.fetch(
            "SELECT a.transaction_id, a.action, a.reason"
            " FROM sessions.transaction_audit a JOIN sessions.transactions t"
            " ON t.id = a.transaction_id WHERE t.charge_point_id = ANY($1::varchar[])",
            list(cps.values()),
        )

        def named(record: asyncpg.Record) -> str:
            values = dict(record)
            values["charge_point_id"] = names[values["charge_point_id"]]
            if "transaction_id" in values:
                values["transaction_id"] = ids.get(values["transaction_id"])
            return repr(values)

        state = {
            "transactions": [
                named(t)
                for t in (
                    {
                        k: v
                        for k, v in dict(t).items()
                        if k not in ("id", "created_at", "superseded_by")
                    }
                    | {"superseded_by": ids.get(t["superseded_by"])}
                    for t in transactions
                )
            ],
            "rows": sorted(named(r) for r in rows),
            "events": sorted(named(e) for e in applied),
            "audits": sorted(
                repr((ids.get(a["transaction_id"]), a["action"], a["reason"])) for a in audits
            ),
            # The transactions an Ended event was applied to (one re-using an applied seqNo is
            # answered as that one was, and ends nothing).
            "ended": sorted(
                repr((names[e["charge_point_id"]], e["station_transaction_id"]))
                for e in applied
                if e["event_type"] == "Ended"
            ),
        }
        return answers, state

    alone = CountingUnitOfWork(sessions, settings_, outbox)
    together = CountingUnitOfWork(sessions, settings_, outbox)
    one_answers, one_state = await run("alone", alone)
    many_answers, many_state = await run("batch", together)
    assert many_answers == one_answers
    assert together.emitted == alone.emitted
    assert many_state == one_state
    # The shared side effects happened (tx_lifecycle.py), not merely the same in both ways.
    for cp in ("A", "B"):
        later = [kind for c, tx, kind, seq, *_ in events if (c, tx) == (cp, "tx1") and seq != 0]
        if before == "stale" and later and later[0] != "Ended":
            assert (
                repr(((cp, "tx1"), "alive_again", "a TransactionEvent arrived"))
                in many_state["audits"]
            )
        if before == "closed" and repr((cp, "tx1")) in many_state["ended"]:
            after_close = ((cp, "tx1"), "stopped_after_operator_close")
            assert any(audit.startswith(repr(after_close)[:-1]) for audit in many_state["audits"])


# -- 2.0.1 MeterValues ----------------------------------------------------------------------

# (station, EVSE, register reading, minute, received +s); repeats make copies.
a_reading = st.tuples(
    st.sampled_from(["A", "B"]),
    st.integers(0, 2),
    st.integers(0, 2).map(lambda n: n * 1000),
    st.integers(0, 2),
    st.integers(0, 1),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(a_reading, min_size=1, max_size=8))
async def test_a_group_of_meter_values_leaves_what_they_leave_one_by_one(
    schema: Any, db: asyncpg.Connection, readings: list[Any]
) -> None:
    sessions, settings_ = schema
    route = router.calls["v201.MeterValues"]
    uid = uuid.uuid4().hex[:8]
    received = datetime.now(UTC).replace(microsecond=0)

    async def run(mode: str, uow: CountingUnitOfWork) -> tuple[list[Any], list[str]]:
        cps = {cp: f"mv2-{uid}-{mode}-{cp}" for cp in ("A", "B")}
        calls = [
            call(
                cps[cp],
                MeterValuesRequest.model_validate(
                    {
                        "evseId": evse,
                        "meterValue": [
                            {
                                "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
                                "sampledValue": [
                                    {"value": wh},
                                    {"value": 16, "measurand": "Current.Import"},
                                ],
                            }
                        ],
                    }
                ),
                received + timedelta(seconds=seconds),
            )
            for cp, evse, wh, minute, seconds in readings
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
        names = {cp_id: cp for cp, cp_id in cps.items()}
        return answers, sorted(
            repr(dict(r) | {"charge_point_id": names[r["charge_point_id"]]}) for r in rows
        )

    alone = CountingUnitOfWork(sessions, settings_, outbox)
    together = CountingUnitOfWork(sessions, settings_, outbox)
    one_answers, one_rows = await run("alone", alone)
    many_answers, many_rows = await run("batch", together)
    assert many_answers == one_answers == [{"payload": {}}] * len(readings)
    assert together.commits == 1 and alone.commits == len(readings)
    assert together.emitted == alone.emitted
    assert many_rows == one_rows and one_rows


async def test_plain_updates_of_one_transaction_are_written_as_one_group(
    schema: Any, db: asyncpg.Connection
) -> None:
    """Several plain Updated events of one transaction in a group: the group commits them (it
    does not fail over to handling each alone) and the transaction ends up as they describe."""
    sessions, settings_ = schema
    route = router.calls["v201.TransactionEvent"]
    cp = f"txe-{uuid.uuid4().hex[:8]}-plain"
    received = datetime.now(UTC).replace(microsecond=0)
    uow = CountingUnitOfWork(sessions, settings_, outbox)
    await one_by_one(uow, route, [call(cp, event("Started", "tx1", 0, 0, 0, None), received)])
    updates = [call(cp, event("Updated", "tx1", n, n, n * 1000, None), received) for n in (1, 2, 3)]
    commits = uow.commits
    assert await in_one_group(uow, route, updates) == [{"payload": {}}] * 3
    assert uow.commits == commits + 1
    row = await db.fetchrow(
        "SELECT last_meter_wh FROM sessions.transactions WHERE charge_point_id = $1", cp
    )
    assert row is not None and row["last_meter_wh"] == 3000
    applied = await db.fetchval(
        "SELECT count(*) FROM sessions.transaction_events WHERE charge_point_id = $1", cp
    )
    assert applied == 4
