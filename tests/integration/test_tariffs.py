"""Tariffs as data: assigned to a CP, to a tag, or the default; a transaction keeps the prices
it started under; the energy report groups by tariff; bad bodies are problem+json 422s; a VAT
rate bills the driver with VAT and reaches the eMSP's Tariff and CDRs."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.conftest import Suite
from tests.integration.ocpi_platform import PlatformDouble
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_sessions_charging import iso
from tests.integration.test_v201_transactions import tx_event

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


def _name(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:10]}"


async def _tag(api: httpx.AsyncClient) -> str:
    tag = "T" + uuid.uuid4().hex[:12].upper()
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    return tag


async def _tariff(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await api.post("/tariffs", json={"name": _name("tariff")} | body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _session(
    cp: ChargePointClient, tag: str, start: str, stop: str, meter_start: int, meter_stop: int
) -> int:
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": meter_start, "timestamp": start},
    )
    transaction_id = int(started["transactionId"])
    await cp.call(
        "StopTransaction",
        {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": stop},
    )
    return transaction_id


async def _stopped(api: httpx.AsyncClient, transaction_id: int) -> dict[str, Any]:
    async def read() -> dict[str, Any] | None:
        doc: dict[str, Any] = (await api.get(f"/transactions/{transaction_id}")).json()
        return doc if doc.get("active") is False else None

    stopped: dict[str, Any] = await eventually(read)
    return stopped


async def test_a_tariff_assigned_to_a_cp_prices_its_next_transaction_for_good(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = await _tag(api)
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", BOOT)
    tariff = await _tariff(
        api,
        pricePerKwh=0.5,
        sessionFee=1,
        perMinuteFee=0.1,
        currency="CHF",
        chargePointIds=[cp_id],
    )
    assert tariff["chargePointIds"] == [cp_id] and tariff["tags"] == []
    applied = (await api.get(f"/charge-points/{cp_id}/tariff")).json()
    assert applied["source"] == "chargePoint"
    assert applied["tariff"]["tariffId"] == tariff["tariffId"]
    assert (applied["pricePerKwh"], applied["currency"]) == (0.5, "CHF")

    # Started under the tariff; the price changes while it charges; it keeps what it started with.
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": "2026-11-20T10:00:00Z"},
    )
    transaction_id = int(started["transactionId"])
    changed = await api.patch(
        f"/tariffs/{tariff['tariffId']}", json={"pricePerKwh": 0.9, "vat": 20}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["pricePerKwh"], changed.json()["vat"]) == (0.9, 20)
    await cp.call(
        "StopTransaction",
        {"transactionId": transaction_id, "meterStop": 11000, "timestamp": "2026-11-20T10:10:00Z"},
    )
    transaction = await _stopped(api, transaction_id)
    assert transaction["tariffId"] == tariff["tariffId"]
    assert (transaction["pricePerKwh"], transaction["perMinuteFee"]) == (0.5, 0.1)
    # 1 (session) + 10 kWh x 0.50 + 10 min x 0.10; no VAT was stated when it started.
    assert (transaction["cost"], transaction["currency"]) == (7, "CHF")
    assert (transaction["costExclVat"], "vat" in transaction) == (7, False)

    # The next one gets the new price and the VAT rate.
    second = await _session(cp, tag, "2026-11-20T11:00:00Z", "2026-11-20T11:30:00Z", 11000, 12000)
    # 1 + 1 kWh x 0.90 + 30 min x 0.10 = 4.90, 5.88 with 20 % VAT: what the driver pays.
    priced = await _stopped(api, second)
    assert (priced["cost"], priced["costExclVat"], priced["costInclVat"]) == (5.88, 4.9, 5.88)

    report = (
        await api.get(
            "/reports/energy",
            params={
                "chargePointId": cp_id,
                "from": "2026-11-20T00:00:00Z",
                "to": "2026-11-21T00:00:00Z",
            },
        )
    ).json()
    rows = [
        (r["tariffId"], r["tariffName"], r["currency"], r["cost"], r["costExclVat"])
        for r in report["items"]
    ]
    assert rows == [(tariff["tariffId"], tariff["name"], "CHF", 12.88, 11.9)]
    by_tariff = [(t["tariffId"], t["transactions"], t["cost"]) for t in report["byTariff"]]
    assert by_tariff == [(tariff["tariffId"], 2, 12.88)]

    refused = await api.delete(f"/tariffs/{tariff['tariffId']}")
    assert refused.status_code == 409
    assert "validTo" in refused.json()["detail"]
    listed = (await api.get("/tariffs", params={"chargePointId": cp_id})).json()
    assert [t["tariffId"] for t in listed["items"]] == [tariff["tariffId"]]


async def test_a_tag_tariff_applies_to_its_cps_and_a_cp_tariff_wins_over_it(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = await _tag(api)
    cp = await connect_cp(cp_id, 1)
    await cp.call("BootNotification", BOOT)
    site = _name("site")
    by_tag = await _tariff(api, pricePerKwh=0.42, currency="EUR", tags=[site])
    # The registry owns the tags; the session-service learns them from charge_point.updated.
    assert (await api.patch(f"/charge-points/{cp_id}", json={"tags": [site]})).status_code == 200

    async def priced_by(source: str) -> dict[str, Any] | None:
        applied: dict[str, Any] = (await api.get(f"/charge-points/{cp_id}/tariff")).json()
        return applied if applied["source"] == source else None

    applied = await eventually(lambda: priced_by("tag"))
    assert (applied["tag"], applied["tariff"]["tariffId"]) == (site, by_tag["tariffId"])
    first = await _session(cp, tag, "2026-11-20T12:00:00Z", "2026-11-20T12:05:00Z", 0, 10_000)
    stopped = await _stopped(api, first)
    assert (stopped["tariffId"], stopped["cost"]) == (by_tag["tariffId"], 4.2)

    own = await _tariff(api, pricePerKwh=0.2, currency="EUR", chargePointIds=[cp_id])
    applied = await eventually(lambda: priced_by("chargePoint"))
    assert applied["tariff"]["tariffId"] == own["tariffId"]

    # Untagged, the CP's own tariff still applies; with it gone, SESSION_TARIFF_* does.
    assert (await api.patch(f"/charge-points/{cp_id}", json={"tags": []})).status_code == 200
    cleared = await api.patch(f"/tariffs/{own['tariffId']}", json={"chargePointIds": []})
    assert cleared.json()["chargePointIds"] == []
    applied = await eventually(lambda: priced_by("environment"))
    assert (applied["tariff"], applied["pricePerKwh"], applied["currency"]) == (None, 0.3, "EUR")
    assert (await api.delete(f"/tariffs/{own['tariffId']}")).status_code == 204
    assert (await api.get(f"/tariffs/{own['tariffId']}")).status_code == 404


async def test_a_default_tariff_prices_the_cps_no_other_names_within_its_window(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    # A day long past, its own each run, so these defaults price no other test's transactions.
    day = datetime(1971, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(9000))

    def at(hours: int) -> str:
        return format_datetime(day + timedelta(hours=hours))

    default = await _tariff(
        api, pricePerKwh=0.11, currency="SEK", isDefault=True, validFrom=at(0), validTo=at(12)
    )
    later = await _tariff(
        api, pricePerKwh=0.12, currency="SEK", isDefault=True, validFrom=at(12), validTo=at(24)
    )
    tag = await _tag(api)
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", BOOT)

    async def applied(hours: int) -> dict[str, Any]:
        response = await api.get(f"/charge-points/{cp_id}/tariff", params={"at": at(hours)})
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    morning = await applied(6)
    assert (morning["source"], morning["tariff"]["tariffId"]) == ("default", default["tariffId"])
    # The default valid from the end of the first takes over then: a scheduled price change.
    assert (await applied(18))["tariff"]["tariffId"] == later["tariffId"]
    assert (await applied(24))["source"] == "environment"

    transaction_id = await _session(cp, tag, at(6), at(7), 0, 1000)
    stopped = await _stopped(api, transaction_id)
    assert (stopped["tariffId"], stopped["currency"], stopped["cost"]) == (
        default["tariffId"],
        "SEK",
        0.11,
    )
    for hours, tariff, other in ((11, default, later), (13, later, default)):
        in_force = (await api.get("/tariffs", params={"inForceAt": at(hours)})).json()
        ids = {t["tariffId"] for t in in_force["items"]}
        assert tariff["tariffId"] in ids and other["tariffId"] not in ids
    before = (await api.get("/tariffs", params={"inForceAt": at(-1)})).json()
    assert not {default["tariffId"], later["tariffId"]} & {t["tariffId"] for t in before["items"]}


async def test_one_default_at_a_time(api: httpx.AsyncClient) -> None:
    # Days of their own (after test_a_default_tariff_...'s), so no other default overlaps.
    day = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(8000))

    def at(hours: int) -> str:
        return format_datetime(day + timedelta(hours=hours))

    default = await _tariff(
        api, pricePerKwh=0.2, currency="DKK", isDefault=True, validFrom=at(0), validTo=at(48)
    )
    name = _name("overlapping")
    second = await api.post(
        "/tariffs",
        json={
            "name": name,
            "pricePerKwh": 0.3,
            "currency": "DKK",
            "isDefault": True,
            "validFrom": at(12),
            "validTo": at(24),
        },
    )
    assert second.status_code == 409, second.text
    assert second.headers["content-type"].startswith("application/problem+json")
    assert f"default tariff {default['tariffId']}" in second.json()["detail"]
    assert default["name"] in second.json()["detail"]
    # Nothing was stored: the name is still free.
    listed = (await api.get("/tariffs", params={"inForceAt": at(13)})).json()["items"]
    assert name not in {t["name"] for t in listed}

    # A change of default price: the first ends where the next begins.
    ended = await api.patch(f"/tariffs/{default['tariffId']}", json={"validTo": at(12)})
    assert ended.status_code == 200, ended.text
    later = await _tariff(
        api,
        name=name,
        pricePerKwh=0.3,
        currency="DKK",
        isDefault=True,
        validFrom=at(12),
        validTo=at(48),
    )
    assert later["isDefault"] is True

    # Neither may stretch over the other, nor a plain tariff of that time become a default.
    back = await api.patch(f"/tariffs/{default['tariffId']}", json={"validTo": at(13)})
    assert back.status_code == 409, back.text
    assert f"default tariff {later['tariffId']}" in back.json()["detail"]
    plain = await _tariff(api, pricePerKwh=0.4, currency="DKK", validFrom=at(2), validTo=at(3))
    promoted = await api.patch(f"/tariffs/{plain['tariffId']}", json={"isDefault": True})
    assert promoted.status_code == 409, promoted.text
    assert f"default tariff {default['tariffId']}" in promoted.json()["detail"]
    assert (await api.get(f"/tariffs/{plain['tariffId']}")).json()["isDefault"] is False
    kept = (await api.get(f"/tariffs/{default['tariffId']}")).json()
    assert kept["validTo"] == at(12)


@pytest.mark.parametrize(
    "body",
    [
        {"pricePerKwh": -1, "currency": "EUR"},
        {"pricePerKwh": 0.3, "currency": "eur"},
        {"pricePerKwh": 0.12345, "currency": "EUR"},
        {"pricePerKwh": 0.3},
        {"pricePerKwh": 0.3, "currency": "EUR", "sessionFee": 0.001},
        {
            "pricePerKwh": 0.3,
            "currency": "EUR",
            "validFrom": "2027-01-02T00:00:00Z",
            "validTo": "2027-01-01T00:00:00Z",
        },
        {"pricePerKwh": 0.3, "currency": "EUR", "tags": ["has space"]},
        {"pricePerKwh": 0.3, "currency": "EUR", "colour": "red"},
        {"pricePerKwh": "cheap", "currency": "EUR"},
        {"pricePerKwh": 0.3, "currency": "EUR", "vat": 100.5},
        {"pricePerKwh": 0.3, "currency": "EUR", "vat": -1},
        {"pricePerKwh": 0.3, "currency": "EUR", "vat": 7.125},
    ],
)
async def test_bad_tariffs_are_a_problem_422_and_change_nothing(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    name = _name("bad")
    response = await api.post("/tariffs", json={"name": name, **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    # Nothing was stored: the name is still free.
    assert (await _tariff(api, name=name, pricePerKwh=0, currency="EUR"))["name"] == name


async def test_tariff_changes_that_do_not_fit_are_refused(api: httpx.AsyncClient) -> None:
    tariff = await _tariff(api, pricePerKwh=0.3, currency="EUR", validFrom="2030-01-01T00:00:00Z")
    path = f"/tariffs/{tariff['tariffId']}"
    assert (await api.patch(path, json={"name": None})).status_code == 422
    # validTo before the stored validFrom: the service refuses it, nothing changes.
    before = await api.patch(path, json={"validTo": "2029-01-01T00:00:00Z"})
    assert before.status_code == 422, before.text
    assert (await api.get(path)).json()["validTo"] is None
    cleared = await api.patch(path, json={"validFrom": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["validFrom"] is None
    other = await _tariff(api, pricePerKwh=0.3, currency="EUR")
    taken = await api.patch(path, json={"name": other["name"]})
    assert taken.status_code == 409
    assert (await api.post("/tariffs", json={**other, "tariffId": None})).status_code == 422
    assert (await api.get("/tariffs/2147483647")).status_code == 404
    assert (await api.get("/tariffs/0")).status_code == 422


async def test_only_admins_create_change_or_delete_tariffs(api: httpx.AsyncClient) -> None:
    tariff = await _tariff(api, pricePerKwh=0.3, currency="EUR")
    path = f"/tariffs/{tariff['tariffId']}"
    created = await api.post("/api-keys", json={"name": _name("op"), "role": "operator"})
    operator = {"Authorization": f"Bearer {created.json()['key']}"}
    name = _name("by-operator")
    new = {"name": name, "pricePerKwh": 0.1, "currency": "EUR"}
    assert (await api.post("/tariffs", json=new, headers=operator)).status_code == 403
    patched = await api.patch(path, json={"pricePerKwh": 0.1}, headers=operator)
    assert patched.status_code == 403
    assert (await api.delete(path, headers=operator)).status_code == 403
    # Reading stays open to them; nothing changed.
    read = await api.get(path, headers=operator)
    assert read.status_code == 200 and read.json()["pricePerKwh"] == 0.3
    assert (await _tariff(api, name=name, pricePerKwh=0, currency="EUR"))["name"] == name


def _evse(cp: str) -> dict[str, Any]:
    return {
        "chargePointId": cp,
        "evseId": 1,
        "connectors": [
            {
                "connectorId": 1,
                "standard": "IEC_62196_T2",
                "format": "SOCKET",
                "powerType": "AC_3_PHASE",
                "maxVoltage": 230,
                "maxAmperage": 32,
            }
        ],
    }


async def test_a_vat_tariff_bills_the_driver_with_vat_and_its_emsp_gets_both_figures(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """A tariff with a VAT rate prices a roaming driver's sessions at either version: the REST
    transaction has its cost excl. and incl. VAT, the 2.0.1 station is told the total incl. VAT,
    and the eMSP gets the Tariff with the rate on each price component and CDRs whose total_cost
    has both, the session-service's own figures."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "VAT"})).json()
    uid = f"VT{cp_id[-8:].upper()}"
    v201_id = f"{cp_id}-2"
    t0 = utcnow().replace(microsecond=0) - timedelta(hours=2)
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        await emsp.push(client, suite.roaming_url, ours, uid)
        site = {
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "evses": [_evse(cp_id), _evse(v201_id)],
        }
        put = await api.put(f"/roaming/locations/VAT-{cp_id[3:]}", json=site)
        assert put.status_code == 200, put.text
        tariff = await _tariff(
            api,
            pricePerKwh=0.3,
            sessionFee=1,
            currency="EUR",
            vat=19,
            chargePointIds=[cp_id, v201_id],
        )
        ocpi_id = f"T{tariff['tariffId']}"
        assert tariff["vat"] == 19

        def received(method: str, path: str) -> list[dict[str, Any]]:
            return [b for m, p, b, _ in emsp.received if (m, p) == (method, path)]

        async def tariff_there() -> bool:
            return bool(received("PUT", f"/tariffs/DE/CSM/{ocpi_id}"))

        assert await eventually(tariff_there)
        (published,) = received("PUT", f"/tariffs/DE/CSM/{ocpi_id}")
        components = published["elements"][0]["price_components"]
        assert [(c["type"], c["price"], c["vat"]) for c in components] == [
            ("FLAT", 1, 19),
            ("ENERGY", 0.3, 19),
        ]

        v16 = await connect_cp(cp_id, 0)
        assert (await v16.call("BootNotification", BOOT))["status"] == "Accepted"

        async def accepted() -> bool:
            answer = await v16.call("Authorize", {"idTag": uid})
            return bool(answer["idTagInfo"]["status"] == "Accepted")

        assert await eventually(accepted)
        start = {"connectorId": 1, "idTag": uid, "meterStart": 1000, "timestamp": iso(t0)}
        started = await v16.call("StartTransaction", start)
        assert started["idTagInfo"]["status"] == "Accepted", started
        stop = {
            "transactionId": started["transactionId"],
            "meterStop": 13345,
            "timestamp": iso(t0 + timedelta(seconds=3725)),
        }
        assert await v16.call("StopTransaction", stop) == {}

        v201 = await connect_cp(v201_id, 1, subprotocols=["ocpp2.0.1"])
        boot201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
        assert (await v201.call("BootNotification", boot201))["status"] == "Accepted"
        token = {"idToken": uid, "type": "ISO14443"}
        first = tx_event(
            "Started", 0, t0, "VAT-TX", 500, evse={"id": 1, "connectorId": 1}, idToken=token
        )
        assert (await v201.call("TransactionEvent", first))["idTokenInfo"]["status"] == "Accepted"
        last = tx_event(
            "Ended", 1, t0 + timedelta(minutes=30), "VAT-TX", 5500, context="Transaction.End"
        )
        told = await v201.call("TransactionEvent", last)
        (tx201,) = (await api.get("/transactions", params={"chargePointId": v201_id})).json()[
            "items"
        ]
        ids = {str(started["transactionId"]), str(tx201["transactionId"])}

        async def billed() -> bool:
            return ids <= {c["id"] for c in received("POST", "/cdrs")}

        assert await eventually(billed)
        cdrs = {c["id"]: c for c in received("POST", "/cdrs")}

    # 1.6: 1 + 12.345 kWh x 0.30 = 4.70 net, 5.59 with 19 % VAT (5.593).
    tx16 = await _stopped(api, int(started["transactionId"]))
    assert (tx16["vat"], tx16["costExclVat"], tx16["costInclVat"], tx16["cost"]) == (
        19,
        4.7,
        5.59,
        5.59,
    )
    # 2.0.1: 1 + 5 kWh x 0.30 = 2.50 net, 2.98 with 19 % (2.975 rounds half up); the station is
    # told what the driver pays.
    tx201 = await _stopped(api, int(tx201["transactionId"]))
    assert (tx201["costExclVat"], tx201["costInclVat"], told["totalCost"]) == (2.5, 2.98, 2.98)
    for tx in (tx16, tx201):
        cdr = cdrs[str(tx["transactionId"])]
        # The session-service's figures, not recomputed by the roaming service.
        assert cdr["total_cost"] == {"excl_vat": tx["costExclVat"], "incl_vat": tx["costInclVat"]}
        (priced_by,) = cdr["tariffs"]
        assert priced_by["id"] == ocpi_id
        assert {c["vat"] for c in priced_by["elements"][0]["price_components"]} == {19}
