"""BootNotifications of a group (group commit) against the real schema: one transaction, one
upsert a round (boot_notification_batch), and each CP the answer it would have got alone."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from csms_shared.ocpp.v16.messages import BootNotificationRequest
from station_registry.action_boot import router
from station_registry.db import outbox
from station_registry.settings import UnknownChargePointPolicy
from tests.integration.conftest import RegistrySchema
from tests.integration.groups import CountingUnitOfWork, call, in_one_group, one_by_one

pytestmark = pytest.mark.integration


def boot(model: str) -> BootNotificationRequest:
    return BootNotificationRequest(charge_point_vendor="ACME", charge_point_model=model)


async def test_a_group_of_boots_is_one_upsert_a_round_and_each_cp_its_own_answer(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    sessions, settings = registry_schema
    pending = settings.model_copy(
        update={"unknown_charge_points": UnknownChargePointPolicy.PENDING}
    )
    run = uuid.uuid4().hex[:6]
    known, new_a, new_b = (f"CP-BG-{run}-{n}" for n in ("known", "a", "b"))
    await db.execute(
        "INSERT INTO registry.charge_points (id, registration_status) VALUES ($1, 'Accepted')",
        known,
    )
    calls = [(new_a, boot("A1")), (known, boot("K1")), (new_b, boot("B1")), (new_a, boot("A2"))]
    statements: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    uow = CountingUnitOfWork(sessions, pending, outbox)
    event.listen(engine, "before_cursor_execute", record)
    try:
        answers = await in_one_group(
            uow, router.calls["v16.BootNotification"], [call(cp, request) for cp, request in calls]
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # An Accepted CP stays Accepted; new ones get the policy's status and its interval.
    assert [a["payload"]["status"] for a in answers] == [
        "Pending",
        "Accepted",
        "Pending",
        "Pending",
    ]
    assert answers[1]["payload"]["interval"] == pending.heartbeat_interval
    assert answers[0]["payload"]["interval"] == pending.pending_interval
    # One transaction, an upsert per round (new_a twice: two rounds), and one INSERT of the four
    # station.booted events at the commit.
    assert uow.commits == 1 and uow.emitted == 4
    upserts = [s for s in statements if "INSERT INTO registry.charge_points" in s]
    assert len(upserts) == 2
    assert sum("INSERT INTO registry.outbox" in s for s in statements) == 1
    models = dict(
        await db.fetch(
            "SELECT id, model FROM registry.charge_points WHERE id = ANY($1::varchar[])",
            [known, new_a, new_b],
        )
    )
    assert models == {known: "K1", new_a: "A2", new_b: "B1"}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["known", "new1", "new2"]), st.sampled_from(["M1", "M2"])),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(list(UnknownChargePointPolicy)),
)
async def test_a_batch_leaves_the_rows_and_answers_of_the_same_boots_one_by_one(
    registry_schema: RegistrySchema,
    db: asyncpg.Connection,
    boots: list[tuple[str, str]],
    policy: UnknownChargePointPolicy,
) -> None:
    sessions, settings_ = registry_schema
    configured = settings_.model_copy(update={"unknown_charge_points": policy})
    route = router.calls["v16.BootNotification"]
    uid = uuid.uuid4().hex[:6]

    async def run(mode: str) -> tuple[list[Any], list[Any]]:
        cps = {name: f"BGP-{uid}-{mode}-{name}" for name in ("known", "new1", "new2")}
        await db.execute(
            "INSERT INTO registry.charge_points (id, registration_status) VALUES ($1, 'Accepted')",
            cps["known"],
        )
        uow = CountingUnitOfWork(sessions, configured, outbox)
        calls = [call(cps[name], boot(model)) for name, model in boots]
        if mode == "batch":
            bodies = await in_one_group(uow, route, calls)
        else:
            bodies = await one_by_one(uow, route, calls)
        answers = [
            {k: v for k, v in body["payload"].items() if k != "currentTime"} for body in bodies
        ]
        rows = await db.fetch(
            "SELECT right(id, 4) AS name, registration_status, vendor, model, online"
            " FROM registry.charge_points WHERE id = ANY($1::varchar[]) ORDER BY id",
            list(cps.values()),
        )
        return [*answers, uow.emitted], [dict(r) for r in rows]

    assert await run("batch") == await run("alone")
