"""VAT in what eMSPs get: a tariff's VAT rate on each price component of its OCPI Tariff (pushed
and pulled), and a Session's and CDR's `total_cost` as the session-service computed it, excl.
VAT and incl. VAT when the tariff stated a rate; nothing priced a second time here."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from csms_shared.contracts.resources import Transaction
from csms_shared.contracts.session_events import (
    TariffChanged,
    TransactionStarted,
    TransactionStopped,
)
from roaming import session_documents, tariff_documents
from roaming.location_documents import Publisher
from roaming.pushes import PushDelivery
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, header

from .test_locations import deliver, delivery, publish, station
from .test_sessions import emsp_with_token, follow, transaction
from .test_tariffs import announce, tariff
from .test_tokens import registered

__all__ = ["delivery"]

_IDS = itertools.count(95_000)
PUBLISHER = Publisher(country_code="DE", party_id="CSM", business_name="CSM")
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _ended(**fields: Any) -> Transaction:
    return Transaction.model_validate(transaction("CP", "TAG", ended=True, **fields))


@pytest.mark.parametrize(
    ("fields", "price"),
    [
        # 9.42 net at 19 %: the session-service's 11.21, taken as it is.
        ({"costExclVat": 9.42, "costInclVat": 11.21, "cost": 11.21, "vat": 19}, (9.42, 11.21)),
        # No rate stated: excl. VAT only.
        ({"costExclVat": 9.42}, (9.42, None)),
        # An event of a session-service from before VAT: its cost had none.
        ({}, (9.42, None)),
    ],
)
def test_total_cost_is_the_session_services_figures(
    fields: dict[str, Any], price: tuple[float, float | None]
) -> None:
    excl, incl = price
    expected: dict[str, Any] = {"excl_vat": excl} | ({"incl_vat": incl} if incl else {})
    assert session_documents.total_cost(_ended(**fields)) == expected


def test_a_transaction_without_cost_has_no_total() -> None:
    assert session_documents.total_cost(_ended(cost=None)) is None


def test_each_price_component_carries_the_rate_and_the_prices_stay_excl_vat() -> None:
    def components(vat: Decimal | None) -> list[dict[str, Any]]:
        document = tariff_documents.tariff(
            PUBLISHER,
            tariff_id=3,
            currency="EUR",
            session_fee=Decimal("1.5"),
            price_per_kwh=Decimal("0.39"),
            per_minute_fee=Decimal("0.05"),
            last_updated=AT,
            vat=vat,
        ).wire()
        found: list[dict[str, Any]] = document["elements"][0]["price_components"]
        return found

    assert components(Decimal("7.7")) == [
        {"type": "FLAT", "price": 1.5, "vat": 7.7, "step_size": 1},
        {"type": "ENERGY", "price": 0.39, "vat": 7.7, "step_size": 1},
        {"type": "TIME", "price": 3, "vat": 7.7, "step_size": 1},
        {"type": "PARKING_TIME", "price": 3, "vat": 7.7, "step_size": 1},
    ]
    # A rate of 0 is a rate stated; none is none.
    assert {c["vat"] for c in components(Decimal(0))} == {0}
    assert not [c for c in components(None) if "vat" in c]


async def test_a_vat_tariff_is_pushed_and_listed_with_its_rate(
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
        {"tariffId": tariff_id, "change": "created", "tariff": tariff(tariff_id, vat=19)}
    )
    await announce(sessions, settings, created)
    await deliver(delivery)
    ((method, path, document, _),) = emsp.received
    assert (method, path) == ("PUT", f"/tariffs/DE/CSM/T{tariff_id}")
    ((element,),) = [document["elements"]]
    assert [(c["type"], c["price"], c["vat"]) for c in element["price_components"]] == [
        ("FLAT", 1.5, 19),
        ("ENERGY", 0.39, 19),
        ("TIME", 3, 19),
        ("PARKING_TIME", 3, 19),
    ]
    listed = await csms.get("/ocpi/2.2.1/tariffs?limit=100", headers=header(ours))
    pulled = [t for t in listed.json()["data"] if t["id"] == f"T{tariff_id}"]
    assert [t["elements"] for t in pulled] in ([document["elements"]], [])  # [] past the page


async def test_a_vat_sessions_total_cost_reaches_its_emsp_in_the_session_and_cdr(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp = station()
    uid = f"V{cp}"
    emsp, _ = await emsp_with_token(csms, hosts, settings, sessions, uid)
    await publish(sessions, settings, f"VAT-{cp}", cp)
    await deliver(delivery)
    started = TransactionStarted.model_validate(transaction(cp, uid, vat=19))
    await follow(sessions, settings, started)
    # The session-service's figures: 9.42 net, 11.21 with 19 % (what the station was told).
    costs = {"costExclVat": 9.42, "costInclVat": 11.21, "cost": 11.21, "vat": 19}
    ended = TransactionStopped.model_validate(
        transaction(cp, uid, ended=True, transaction_id=started.transaction_id, **costs)
    )
    await follow(sessions, settings, ended)
    emsp.received.clear()
    await deliver(delivery)
    tx_id = str(started.transaction_id)
    sent = {(m, p): body for m, p, body, _ in emsp.received}
    completed, cdr = sent["PUT", f"/sessions/DE/CSM/{tx_id}"], sent["POST", "/cdrs"]
    assert completed["total_cost"] == {"excl_vat": 9.42, "incl_vat": 11.21}
    assert cdr["total_cost"] == {"excl_vat": 9.42, "incl_vat": 11.21}
    # The tariff it was priced by, with the rate it copied at its start.
    ((element,),) = [t["elements"] for t in cdr["tariffs"]]
    assert {c["vat"] for c in element["price_components"]} == {19}
