"""Sessions and CDRs (sender): a transaction started with an eMSP's token becomes a Session
pushed to that eMSP at its start and end, and one CDR with the session-service's cost; kWh are
kWh (not Wh), a redelivered event sends nothing twice, and an eMSP reads only its own."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.session_events import (
    MeterValues,
    TransactionStarted,
    TransactionStopped,
)
from roaming import follow_transactions
from roaming.db import cdrs, outbox
from roaming.db import sessions as sessions_table
from roaming.ocpi_client import OcpiClient
from roaming.pushes import PushDelivery
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble, header

from .test_locations import deliver, publish, station
from .test_tokens import registered, token

_TX = itertools.count(int(datetime.now(UTC).timestamp()) * 1000)
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def transaction(cp: str, id_tag: str, *, ended: bool = False, **fields: Any) -> dict[str, Any]:
    """A transaction on EVSE 1 of `cp`, as the session-service publishes it."""
    tx: dict[str, Any] = {
        "transactionId": fields.pop("transaction_id", None) or next(_TX),
        "chargePointId": cp,
        "ocppVersion": "1.6",
        "stationTransactionId": "1",
        "connectorId": 1,
        "idTag": id_tag,
        "meterStart": 1000,
        "startTime": START,
        "currency": "EUR",
        "tariffId": 7,
        "pricePerKwh": 0.39,
        "sessionFee": 1.5,
        "perMinuteFee": 0.05,
        "active": not ended,
        "stale": False,
        "lastSeen": START,
        "warnings": [],
    }
    if ended:
        tx |= {
            "meterStop": 13345,
            "stopTime": START + timedelta(seconds=3725),
            "energyWh": 12345,
            "durationSeconds": 3725,
            # The session-service's cost: 1.50 + 12.345 kWh x 0.39 + 3725 s x 0.05 / 60 s.
            "cost": 9.42,
        }
    return tx | fields


async def follow(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, event: Any
) -> None:
    handler = (
        follow_transactions.transaction_started
        if isinstance(event, TransactionStarted)
        else follow_transactions.transaction_stopped
    )
    async with sessions.begin() as session:
        await handler(event, Context(session=session, settings=settings, outbox=outbox))


async def emsp_with_token(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any, uid: str
) -> tuple[PlatformDouble, str]:
    emsp, ours = await registered(csms, hosts, settings, sessions)
    pushed = await csms.put(
        f"/ocpi/2.2.1/tokens/NL/{emsp.party_id}/{uid}",
        headers=header(ours),
        json=token(emsp.party_id, uid),
    )
    assert pushed.status_code == 200, pushed.text
    return emsp, ours


@pytest.fixture
async def delivery(hosts: Hosts, settings: Settings, sessions: Any) -> Any:
    client = OcpiClient(5.0, None, transport=hosts)
    yield PushDelivery(sessions, client, settings)
    await client.close()


async def test_a_roaming_transaction_is_a_session_then_one_cdr(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp = station()
    uid = f"R{cp}"
    emsp, ours = await emsp_with_token(csms, hosts, settings, sessions, uid)
    await publish(sessions, settings, f"SE-{cp}", cp)
    await deliver(delivery)
    emsp.received.clear()

    # A 1.6 id tag in lower case: the token's uid compares without case.
    started = TransactionStarted.model_validate(transaction(cp, uid.lower()))
    await follow(sessions, settings, started)
    await deliver(delivery)
    ((method, path, active, _),) = emsp.received
    tx_id = str(started.transaction_id)
    assert (method, path) == ("PUT", f"/sessions/DE/CSM/{tx_id}")
    assert active["status"] == "ACTIVE" and active["kwh"] == 0
    assert active["cdr_token"] == {
        "country_code": "NL",
        "party_id": emsp.party_id,
        "uid": uid,
        "type": "RFID",
        "contract_id": f"NL-{emsp.party_id}-C12345678-X",
    }
    assert (active["location_id"], active["evse_uid"], active["connector_id"]) == (
        f"SE-{cp}",
        f"DE*CSM*E{cp}*1",
        "1",
    )
    assert active["auth_method"] == "WHITELIST"

    ended = TransactionStopped.model_validate(
        transaction(cp, uid, ended=True, transaction_id=started.transaction_id)
    )
    await follow(sessions, settings, ended)
    await follow(sessions, settings, ended)  # redelivered: nothing new
    await deliver(delivery)
    assert [(m, p) for m, p, _, _ in emsp.received[1:]] == [
        ("PUT", f"/sessions/DE/CSM/{tx_id}"),
        ("POST", "/cdrs"),
    ]
    completed, cdr = emsp.received[1][2], emsp.received[2][2]
    assert completed["status"] == "COMPLETED"
    assert completed["kwh"] == 12.345  # Wh sent as kWh, not 12345
    assert completed["total_cost"] == {"excl_vat": 9.42}
    assert cdr["id"] == tx_id and cdr["session_id"] == tx_id
    assert (cdr["total_energy"], cdr["total_time"], cdr["total_cost"]) == (
        12.345,
        1.0347,
        {"excl_vat": 9.42},
    )
    assert cdr["cdr_location"]["evse_id"] == f"DE*CSM*E{cp}*1"
    assert cdr["cdr_location"]["connector_standard"] == "IEC_62196_T2"
    ((element,),) = [t["elements"] for t in cdr["tariffs"]]
    assert element["price_components"] == [
        {"type": "FLAT", "price": 1.5, "step_size": 1},
        {"type": "ENERGY", "price": 0.39, "step_size": 1},
        {"type": "TIME", "price": 3, "step_size": 1},
        # The fee per minute runs while parked too (OCPI's TIME counts only charging).
        {"type": "PARKING_TIME", "price": 3, "step_size": 1},
    ]
    assert cdr["charging_periods"][0]["dimensions"] == [
        {"type": "ENERGY", "volume": 12.345},
        {"type": "TIME", "volume": 1.0347},
    ]
    async with sessions() as session:
        stored = (await session.execute(select(cdrs.c.document).where(cdrs.c.id == tx_id))).all()
    assert [row.document for row in stored] == [cdr]  # one CDR, the document pushed

    # The eMSP pulls them too; another eMSP sees none of them.
    pulled = await csms.get("/ocpi/2.2.1/cdrs", headers=header(ours))
    assert tx_id in [c["id"] for c in pulled.json()["data"]]
    _, other = await registered(csms, hosts, settings, sessions)
    for module in ("sessions", "cdrs"):
        theirs = await csms.get(f"/ocpi/2.2.1/{module}", headers=header(other))
        assert theirs.status_code == 200 and tx_id not in [x["id"] for x in theirs.json()["data"]]


async def test_transactions_of_other_tokens_or_off_any_location_send_nothing(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp, unpublished = station(), station()
    uid = f"R{cp}"
    emsp, _ = await emsp_with_token(csms, hosts, settings, sessions, uid)
    await publish(sessions, settings, f"NO-{cp}", cp)
    await deliver(delivery)
    emsp.received.clear()
    for where, tag, extra in (
        (cp, "LOCALCARD1", {}),  # not an eMSP's token
        (unpublished, uid, {}),  # an eMSP's, on an EVSE in no location
        (cp, uid, {"idTokenType": "Central"}),  # its uid, but the eMSP's token is an RFID one
        # Its uid, but the operator's list decided (the list wins), or no entry did.
        (cp, uid, {"idTokenSource": "list"}),
        (cp, uid, {"idTokenSource": "none"}),
        # Its uid, authorized by another eMSP's token of that uid.
        (cp, uid, {"idTokenSource": "roaming", "roamingParty": "NL-ZZZ"}),
    ):
        tx = transaction(where, tag, **extra)
        await follow(sessions, settings, TransactionStarted.model_validate(tx))
        stop = transaction(where, tag, ended=True, transaction_id=tx["transactionId"], **extra)
        await follow(sessions, settings, TransactionStopped.model_validate(stop))
    await deliver(delivery)
    assert emsp.received == []


async def test_of_two_emsps_with_one_uid_the_one_that_authorized_it_gets_the_session(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp = station()
    uid = f"W{cp}"
    first, _ = await emsp_with_token(csms, hosts, settings, sessions, uid)
    second, _ = await emsp_with_token(csms, hosts, settings, sessions, uid)
    await publish(sessions, settings, f"TW-{cp}", cp)
    await deliver(delivery)
    first.received.clear()
    second.received.clear()
    tx = transaction(cp, uid, idTokenSource="roaming", roamingParty=f"NL-{second.party_id}")
    await follow(sessions, settings, TransactionStarted.model_validate(tx))
    await deliver(delivery)
    assert first.received == []
    [(method, path, body, _)] = second.received
    assert (method, path) == ("PUT", f"/sessions/DE/CSM/{tx['transactionId']}")
    assert body["cdr_token"]["party_id"] == second.party_id


async def test_a_hub_reads_the_sessions_it_routed_only_and_date_to_is_exclusive(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
) -> None:
    """A hub reads the sessions of every party whose tokens it pushed, never those of an eMSP
    connected to us directly (nor may it stop one)."""
    cp = station()
    direct_uid, routed_uid = f"R{cp}", f"H{cp}"
    await emsp_with_token(csms, hosts, settings, sessions, direct_uid)
    _, hub = await registered(csms, hosts, settings, sessions, role="HUB")
    pushed = await csms.put(
        f"/ocpi/2.2.1/tokens/NL/HBP/{routed_uid}",
        headers=header(hub),
        json=token("HBP", routed_uid),
    )
    assert pushed.status_code == 200, pushed.text
    await publish(sessions, settings, f"HB-{cp}", cp)
    direct = TransactionStarted.model_validate(transaction(cp, direct_uid))
    via_hub = TransactionStarted.model_validate(
        transaction(cp, routed_uid, connectorId=2, stationTransactionId="2")
    )
    for started in (direct, via_hub):
        await follow(sessions, settings, started)
    page = await csms.get(
        "/ocpi/2.2.1/sessions?limit=100&date_from=2026-01-01T00:00:00Z", headers=header(hub)
    )
    assert page.status_code == 200, page.text
    found = {s["id"]: s for s in page.json()["data"]}
    total = int(page.headers["x-total-count"])
    while len(found) < total:
        link = page.headers["link"].split(">")[0].removeprefix("<http://csms.test")
        page = await csms.get(link, headers=header(hub))
        found |= {s["id"]: s for s in page.json()["data"]}
    assert str(direct.transaction_id) not in found
    mine = found[str(via_hub.transaction_id)]
    at = mine["last_updated"]
    before = await csms.get(f"/ocpi/2.2.1/sessions?date_to={at}&limit=100", headers=header(hub))
    assert str(via_hub.transaction_id) not in [s["id"] for s in before.json()["data"]]
    stop = {"response_url": "http://hub.test/r", "session_id": str(direct.transaction_id)}
    refused = await csms.post("/ocpi/2.2.1/commands/STOP_SESSION", headers=header(hub), json=stop)
    assert refused.json()["data"]["result"] == "UNKNOWN_SESSION", refused.text


async def test_a_hub_with_two_parties_gets_each_partys_sessions_routed_to_it(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    """A hub pushes the tokens of two eMSPs behind it; the Location goes to the hub for all
    (OCPI-to: the hub); each party's Session and CDR go to the hub addressed to that party; a
    hub reading for one party (OCPI-from) gets only that party's."""
    hub, ours = await registered(csms, hosts, settings, sessions, role="HUB")
    cp = station()
    parties = {"AAA": f"A{cp}", "BBB": f"B{cp}"}
    for party, uid in parties.items():
        pushed = await csms.put(
            f"/ocpi/2.2.1/tokens/NL/{party}/{uid}",
            headers=header(ours),
            json=token(party, uid),
        )
        assert pushed.status_code == 200, pushed.text
    await publish(sessions, settings, f"HUB-{cp}", cp)
    await deliver(delivery)
    ((method, _, _, routing),) = [r for r in hub.received if r[1].startswith("/locations/")]
    assert (method, routing["ocpi-to-party-id"]) == ("PUT", hub.party_id)

    ids = {}
    for n, (party, uid) in enumerate(parties.items(), start=1):
        started = TransactionStarted.model_validate(
            transaction(cp, uid, connectorId=n, stationTransactionId=str(n))
        )
        ids[party] = str(started.transaction_id)
        await follow(sessions, settings, started)
    await deliver(delivery)
    routed = {
        p.rsplit("/", 1)[1]: r["ocpi-to-party-id"]
        for m, p, _, r in hub.received
        if p.startswith("/sessions/")
    }
    assert routed == {ids["AAA"]: "AAA", ids["BBB"]: "BBB"}

    for party in parties:
        as_party = header(ours) | {
            "OCPI-from-country-code": "NL",
            "OCPI-from-party-id": party,
        }
        page = await csms.get("/ocpi/2.2.1/sessions?limit=100", headers=as_party)
        assert page.status_code == 200, page.text
        seen = {s["id"] for s in page.json()["data"]}
        assert ids[party] in seen and not (set(ids.values()) - {ids[party]}) & seen


async def test_a_running_session_s_kwh_is_sent_now_and_then(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp = station()
    uid = f"M{cp}"
    emsp, _ = await emsp_with_token(csms, hosts, settings, sessions, uid)
    await publish(sessions, settings, f"MV-{cp}", cp)
    started = TransactionStarted.model_validate(transaction(cp, uid))
    await follow(sessions, settings, started)
    await deliver(delivery)
    emsp.received.clear()

    def meter(value: float, unit: str = "Wh") -> MeterValues:
        return MeterValues.model_validate(
            {
                "chargePointId": cp,
                "connectorId": 1,
                "transactionId": started.transaction_id,
                "ocppVersion": "1.6",
                "meterValue": [],
                "readings": [
                    {"timestamp": START, "value": 230, "unit": "V", "measurand": "Voltage"},
                    {"timestamp": START, "value": value, "unit": unit},
                ],
            }
        )

    async def metered(event: MeterValues) -> None:
        async with sessions.begin() as session:
            await follow_transactions.meter_values(
                event, Context(session=session, settings=settings, outbox=outbox)
            )

    async def age() -> None:  # the last update a while ago
        async with sessions.begin() as session:
            await session.execute(
                update(sessions_table)
                .where(sessions_table.c.transaction_id == started.transaction_id)
                .values(last_updated=sessions_table.c.last_updated - timedelta(minutes=5))
            )

    await metered(meter(3000))  # too soon after the start: not sent
    await age()
    await metered(meter(6000))  # meterStart 1000 Wh: 5 kWh
    await deliver(delivery)  # (a newer one not yet taken would supersede it)
    await metered(meter(7000))  # too soon after that one
    await age()
    await metered(meter(7.5, "kWh"))
    await deliver(delivery)
    tx_id = str(started.transaction_id)
    assert [(m, p, b["kwh"]) for m, p, b, _ in emsp.received] == [
        ("PUT", f"/sessions/DE/CSM/{tx_id}", 5),
        ("PUT", f"/sessions/DE/CSM/{tx_id}", 6.5),
    ]
    # Each update adds a charging period from the last one (or the start): the kWh delivered
    # in it, its hours; the whole Session is PUT, so the periods are never ambiguous.
    first, second = (b for _, _, b, _ in emsp.received)
    assert first["status"] == "ACTIVE" and first["cdr_token"]["uid"] == uid
    assert [p["start_date_time"] for p in first["charging_periods"]] == [first["start_date_time"]]
    energy = [
        [d["volume"] for d in p["dimensions"] if d["type"] == "ENERGY"]
        for p in second["charging_periods"]
    ]
    assert energy == [[5], [1.5]]
    assert second["charging_periods"][1]["start_date_time"] == first["last_updated"]

    # At the end: the periods sent, then one to the stop with the rest, at its tariff; the
    # CDR has the same, and their energy adds up to its total.
    ended = TransactionStopped.model_validate(
        transaction(cp, uid, ended=True, transaction_id=started.transaction_id)
    )
    await follow(sessions, settings, ended)
    await deliver(delivery)
    cdr = next(b for m, p, b, _ in emsp.received if (m, p) == ("POST", "/cdrs"))
    final = [b for m, p, b, _ in emsp.received if m == "PUT"][-1]
    assert final["status"] == "COMPLETED"
    assert final["charging_periods"] == cdr["charging_periods"]
    assert len(cdr["charging_periods"]) == 3
    assert all(p["tariff_id"] for p in cdr["charging_periods"])
    total = sum(
        d["volume"]
        for p in cdr["charging_periods"]
        for d in p["dimensions"]
        if d["type"] == "ENERGY"
    )
    assert round(total, 4) == cdr["total_energy"] == 12.345
