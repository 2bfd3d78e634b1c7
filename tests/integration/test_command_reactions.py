"""The registry's reactions to accepted commands do not depend on the order their events arrive
in: a command that completed earlier never overwrites what a later one stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from csms_shared.bus.router import Context
from csms_shared.contracts.events import CommandCompleted
from station_registry.db import outbox
from station_registry.follow_commands import command_completed
from tests.integration.conftest import RegistrySchema

pytestmark = pytest.mark.integration

T1 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T2 = T1 + timedelta(seconds=1)


def completed(cp: str, at: datetime, action: str, request: Any, response: Any) -> CommandCompleted:
    return CommandCompleted(
        at=at,
        command_id=uuid.uuid4().hex,
        charge_point_id=cp,
        action=action,
        request=request,
        status="result",
        response=response,
    )


def changed(cp: str, key: str, value: str) -> CommandCompleted:
    """A ChangeConfiguration of `key` the station accepted at T2."""
    return completed(
        cp, T2, "ChangeConfiguration", {"key": key, "value": value}, {"status": "Accepted"}
    )


async def follow(schema: RegistrySchema, *events: CommandCompleted) -> None:
    sessions, settings = schema
    for event in events:
        async with sessions() as session, session.begin():
            await command_completed(
                event, Context(session=session, settings=settings, outbox=outbox)
            )


async def test_a_snapshot_read_earlier_does_not_undo_a_later_change(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    cp = f"REACT-{uuid.uuid4().hex[:8]}"
    read = completed(
        cp,
        T1,
        "GetConfiguration",
        {},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["MeterValueSampleInterval"],
        },
    )
    change = changed(cp, "HeartbeatInterval", "60")
    interval = changed(cp, "MeterValueSampleInterval", "30")
    await follow(registry_schema, change, interval, read)  # the read's event arrives last
    rows = dict(
        await db.fetch(
            "SELECT key, value FROM registry.configuration WHERE charge_point_id = $1", cp
        )
    )
    assert rows == {"HeartbeatInterval": "60", "MeterValueSampleInterval": "30"}


async def test_an_earlier_change_of_availability_does_not_undo_a_later_one(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    cp = f"AVAIL-{uuid.uuid4().hex[:8]}"
    later = completed(
        cp,
        T2,
        "ChangeAvailability",
        {"connectorId": 0, "type": "Inoperative"},
        {"status": "Accepted"},
    )
    earlier = completed(
        cp,
        T1,
        "ChangeAvailability",
        {"connectorId": 1, "type": "Operative"},
        {"status": "Accepted"},
    )
    await follow(registry_schema, later, earlier)
    rows = dict(
        await db.fetch(
            "SELECT connector_id, availability FROM registry.connectors WHERE charge_point_id = $1",
            cp,
        )
    )
    assert rows == {0: "Inoperative", 1: "Inoperative"}


async def test_a_long_snapshot_is_stored_whole_its_last_listing_of_a_key_winning(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    """A firmware's GetConfiguration lists dozens to hundreds of keys, now and then one twice:
    all are stored (as the last listing of a twice-listed key says), around a key a later
    command changed."""
    cp = f"LONG-{uuid.uuid4().hex[:8]}"
    keys = [{"key": f"Vendor.Key{n}", "readonly": n % 2 == 0, "value": str(n)} for n in range(1500)]
    keys.append({"key": "Vendor.Key7", "readonly": True, "value": "again"})
    keys.append({"key": "HeartbeatInterval", "readonly": False, "value": "300"})
    change = changed(cp, "HeartbeatInterval", "60")
    read = completed(cp, T1, "GetConfiguration", {}, {"configurationKey": keys})
    await follow(registry_schema, change, read)
    rows = {
        r["key"]: (r["value"], r["readonly"])
        for r in await db.fetch(
            "SELECT key, value, readonly FROM registry.configuration WHERE charge_point_id = $1",
            cp,
        )
    }
    assert len(rows) == 1501
    assert rows["Vendor.Key7"] == ("again", True)
    assert rows["Vendor.Key1499"] == ("1499", False)
    assert rows["HeartbeatInterval"] == ("60", None)
