"""Tariffs (sender): each tariff the session-service announces is published as an OCPI Tariff
(session fee FLAT, energy per kWh by the Wh, time per hour by the second, its validity and
name), PUT to every tariffs receiver and listed for pull; a deleted one is DELETEd and no
longer listed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx

from csms_shared.bus.router import Context
from csms_shared.contracts.session_events import TariffChanged
from roaming import follow_tariffs
from roaming.db import outbox
from roaming.pushes import PushDelivery
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, header

from .test_locations import deliver, delivery
from .test_tokens import registered

__all__ = ["delivery"]

_IDS = itertools.count(90_000)


def tariff(tariff_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "tariffId": tariff_id,
        "name": "Evening AC",
        "pricePerKwh": 0.39,
        "sessionFee": 1.5,
        "perMinuteFee": 0.05,
        "currency": "EUR",
        "validFrom": "2026-12-01T00:00:00Z",
        "isDefault": False,
        "chargePointIds": [],
        "tags": ["public"],
        "createdAt": "2026-11-27T00:00:00Z",
        "updatedAt": "2026-11-27T00:00:00Z",
    } | fields


async def announce(sessions: Any, settings: Settings, event: TariffChanged) -> None:
    async with sessions.begin() as session:
        await follow_tariffs.tariff_changed(
            event, Context(session=session, settings=settings, outbox=outbox)
        )


async def test_a_tariff_is_published_pushed_and_withdrawn(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    emsp, ours = await registered(csms, hosts, settings, sessions)
    await deliver(delivery)
    emsp.received.clear()
    tariff_id = next(_IDS)
    created = TariffChanged.model_validate(
        {"tariffId": tariff_id, "change": "created", "tariff": tariff(tariff_id)}
    )
    await announce(sessions, settings, created)
    await deliver(delivery)
    ((method, path, document, routing),) = emsp.received
    assert (method, path) == ("PUT", f"/tariffs/DE/CSM/T{tariff_id}")
    assert routing["ocpi-to-party-id"] == emsp.party_id
    assert document["currency"] == "EUR" and document["start_date_time"] == "2026-12-01T00:00:00Z"
    assert document["tariff_alt_text"] == [{"language": "en", "text": "Evening AC"}]
    assert document["elements"] == [
        {
            "price_components": [
                {"type": "FLAT", "price": 1.5, "step_size": 1},
                {"type": "ENERGY", "price": 0.39, "step_size": 1},
                {"type": "TIME", "price": 3, "step_size": 1},
                # The fee per minute runs while parked too (OCPI's TIME counts only charging).
                {"type": "PARKING_TIME", "price": 3, "step_size": 1},
            ]
        }
    ]
    listed = await csms.get("/ocpi/2.2.1/tariffs?limit=100", headers=header(ours))
    assert listed.status_code == 200, listed.text
    total = int(listed.headers["x-total-count"])
    assert f"T{tariff_id}" in [t["id"] for t in listed.json()["data"]] or total > 100

    changed = TariffChanged.model_validate(
        {
            "tariffId": tariff_id,
            "change": "updated",
            "tariff": tariff(tariff_id, pricePerKwh=0.45, perMinuteFee=0),
        }
    )
    await announce(sessions, settings, changed)
    await announce(
        sessions,
        settings,
        TariffChanged.model_validate({"tariffId": tariff_id, "change": "deleted"}),
    )
    await deliver(delivery)
    # The update was still pending when the tariff went: only the DELETE is sent.
    assert [(m, p) for m, p, _, _ in emsp.received[1:]] == [
        ("DELETE", f"/tariffs/DE/CSM/T{tariff_id}")
    ]
    since = datetime(2026, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = await csms.get(f"/ocpi/2.2.1/tariffs?limit=100&date_from={since}", headers=header(ours))
    assert f"T{tariff_id}" not in [t["id"] for t in after.json()["data"]]
