"""The car's state on a connector, against the registry's real schema: a 1.6 StatusNotification
keeps it with the status, and `transaction.charging_state_changed`, which the session-service
announces from that very StatusNotification, finds it kept and writes nothing (stored once);
a newer state the event tells is kept, whichever the version."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from csms_shared.bus.router import Context
from csms_shared.contracts.events import ConnectorStatus, TransactionChargingStateChanged
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary import ChargingState
from session_service.charging_states import reported_at
from station_registry.db import outbox
from station_registry.follow_charging import charging_state_changed
from tests.integration.conftest import RegistrySchema
from tests.integration.test_status_batch import T0, run_one_by_one, status

pytestmark = pytest.mark.integration

ROW = (
    "SELECT xmin::text AS version, status, charging_state, charging_state_at"
    " FROM registry.evse_connectors WHERE charge_point_id = $1 AND evse_id = 1"
)


async def test_a_16_state_the_status_kept_is_not_written_again_by_its_event(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    prefix = f"once-{uuid.uuid4().hex[:8]}-"
    cp = prefix + "A"
    [(key, body)] = await run_one_by_one(
        registry_schema, prefix, [("A", status(1, "SuspendedEV", T0), T0 + timedelta(seconds=1))]
    )
    assert key == "connector.status"
    kept = await db.fetchrow(ROW, cp)
    assert (kept["status"], kept["charging_state"], kept["charging_state_at"]) == (
        "Occupied",
        "SuspendedEV",
        T0,
    )
    # The event the session-service announces for the transaction open there, at the time it
    # reads from the `connector.status` it followed.
    followed = ConnectorStatus.model_validate(body)
    event = TransactionChargingStateChanged(
        at=reported_at(followed.timestamp, followed.at),
        charge_point_id=cp,
        connector_id=1,
        evse_connector_id=1,
        transaction_id=7,
        station_transaction_id="7",
        charging_state=ChargingState.SUSPENDED_EV,
        ocpp_version=OcppVersion.V16,
    )
    sessions, settings = registry_schema

    async def follow(changed: TransactionChargingStateChanged) -> None:
        async with sessions() as session, session.begin():
            await charging_state_changed(changed, Context(session, settings, outbox=outbox))

    await follow(event)
    # The same row version: no second write of the same state.
    assert await db.fetchrow(ROW, cp) == kept
    # A newer state the event tells is the connector's (as a 2.0.1 transaction's always is).
    later = T0 + timedelta(minutes=5)
    await follow(event.model_copy(update={"at": later, "charging_state": ChargingState.CHARGING}))
    now = await db.fetchrow(ROW, cp)
    assert (now["status"], now["charging_state"], now["charging_state_at"]) == (
        "Occupied",
        "Charging",
        later,
    )
