"""The registry's BootNotification group against the real schema: a reconnect storm's boots are
upserted in one statement per round, and each CP gets the answer it would have got alone."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from csms_shared.bus.router import CallContext, Context
from csms_shared.ocpp.v16.messages import BootNotificationRequest
from station_registry.db import outbox
from station_registry.handlers import boot_notification_group
from station_registry.settings import UnknownChargePointPolicy
from tests.integration.conftest import RegistrySchema

pytestmark = pytest.mark.integration


def boot(model: str) -> BootNotificationRequest:
    return BootNotificationRequest(charge_point_vendor="ACME", charge_point_model=model)


async def test_a_group_of_boots_is_one_upsert_and_each_cp_its_own_answer(
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

    event.listen(engine, "before_cursor_execute", record)
    try:
        async with sessions() as session, session.begin():
            ctx = Context(session=session, settings=pending, outbox=outbox)
            pairs = [
                (
                    request,
                    CallContext(
                        session=session, settings=pending, outbox=outbox, charge_point_id=cp
                    ),
                )
                for cp, request in calls
            ]
            answers = await boot_notification_group(pairs, ctx)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # An Accepted CP stays Accepted; new ones get the policy's status and its interval.
    assert [a.status.value for a in answers] == ["Pending", "Accepted", "Pending", "Pending"]
    assert answers[1].interval == pending.heartbeat_interval
    assert answers[0].interval == pending.pending_interval
    # Two rounds (new_a twice): two upserts, and one INSERT of the four station.booted events.
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
