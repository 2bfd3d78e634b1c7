"""Locations (sender): the operator publishes a site as an OCPI Location; eMSPs pull it page by
page, or one EVSE or connector; the stations' statuses become its EVSEs' OCPI status; every
change is pushed to the eMSPs' receivers, retried while one is down, in order, nothing lost,
and what is not OCPI's is refused precisely."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.rpc_roaming_locations import (
    LocationSettings,
)
from csms_shared.contracts.station_events import (
    ConnectorStatus,
    StationConnected,
    StationDisconnected,
)
from csms_shared.db import create_engine
from csms_shared.ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.connectors import ChargingState, ConnectorState
from roaming import follow_stations, location_store
from roaming.db import outbox, platform_roles, pushes
from roaming.location_documents import LocationRefused, Publisher, ocpi_status
from roaming.location_store import LocationConflict
from roaming.ocpi.locations import EvseStatus
from roaming.ocpi.types import format_datetime
from roaming.ocpi_client import OcpiClient
from roaming.pushes import PushDelivery
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble, header
from tests.integration.support import eventually

from .test_tokens import registered

URL = "/ocpi/2.2.1/locations"
_IDS = itertools.count(1)


def station() -> str:
    return f"LOCCP{next(_IDS):04d}"


def described(cp: str, **fields: Any) -> LocationSettings:
    """A car park with two EVSEs of station `cp`: AC type 2 and DC CCS."""
    return LocationSettings.model_validate(
        {
            "name": "Harbour car park",
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "postalCode": "20457",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "parkingType": "PARKING_GARAGE",
            "facilities": ["CAFE"],
            "openingTimes": {"twentyfourseven": True},
            "evses": [
                {
                    "chargePointId": cp,
                    "evseId": 1,
                    "emi3Id": f"DE*CSM*E{cp}*1",
                    "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE"],
                    "physicalReference": "1",
                    "connectors": [
                        {
                            "connectorId": 1,
                            "standard": "IEC_62196_T2",
                            "format": "SOCKET",
                            "powerType": "AC_3_PHASE",
                            "maxVoltage": 230,
                            "maxAmperage": 32,
                            "maxElectricPower": 22000,
                        }
                    ],
                },
                {
                    "chargePointId": cp,
                    "evseId": 2,
                    "connectors": [
                        {
                            "connectorId": 1,
                            "standard": "IEC_62196_T2_COMBO",
                            "format": "CABLE",
                            "powerType": "DC",
                            "maxVoltage": 920,
                            "maxAmperage": 400,
                        }
                    ],
                },
            ],
        }
        | fields
    )


def publisher(settings: Settings) -> Publisher:
    return Publisher.of(settings)


async def publish(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, location_id: str, cp: str
) -> location_store.StoredLocation:
    async with sessions.begin() as session:
        return await location_store.put(session, location_id, described(cp), publisher(settings))


async def follow(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, event: Any
) -> None:
    """The service's handler of `event`, in a transaction of its own."""
    handler = {
        ConnectorStatus: follow_stations.connector_status,
        StationConnected: follow_stations.station_connected,
        StationDisconnected: follow_stations.station_disconnected,
    }[type(event)]
    async with sessions.begin() as session:
        await handler(event, Context(session=session, settings=settings, outbox=outbox))


def status(
    cp: str, evse: int, state: ConnectorState, charging: ChargingState | None = None
) -> ConnectorStatus:
    return ConnectorStatus(
        charge_point_id=cp,
        connector_id=evse,
        status=ChargePointStatus.AVAILABLE,
        error_code=ChargePointErrorCode.NO_ERROR,
        ocpp_version=OcppVersion.V201,
        evse_id=evse,
        evse_connector_id=1,
        connector_status=state,
        charging_state=charging,
    )


async def platform_of(sessions: async_sessionmaker[AsyncSession], emsp: PlatformDouble) -> str:
    async with sessions() as session:
        found: str = (
            await session.execute(
                select(platform_roles.c.platform_id).where(
                    platform_roles.c.party_id == emsp.party_id
                )
            )
        ).scalar_one()
    return found


async def deliver(delivery: PushDelivery) -> None:
    """Every push that is due now, tried once."""
    while await delivery.deliver_one():
        pass


@pytest.fixture
async def delivery(
    hosts: Hosts, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> Any:
    client = OcpiClient(5.0, None, transport=hosts)
    yield PushDelivery(sessions, client, settings)
    await client.close()


def test_our_statuses_map_onto_ocpi_evse_statuses() -> None:
    assert ocpi_status(True, [ConnectorState.AVAILABLE]) is EvseStatus.AVAILABLE
    assert ocpi_status(None, [ConnectorState.OCCUPIED]) is EvseStatus.CHARGING
    assert ocpi_status(True, [ConnectorState.RESERVED]) is EvseStatus.RESERVED
    assert ocpi_status(True, [ConnectorState.UNAVAILABLE]) is EvseStatus.INOPERATIVE
    assert ocpi_status(True, [ConnectorState.FAULTED]) is EvseStatus.OUTOFORDER
    # An EVSE with one connector in use is in use; offline or never reported is UNKNOWN.
    both = [ConnectorState.AVAILABLE, ConnectorState.OCCUPIED]
    assert ocpi_status(True, both) is EvseStatus.CHARGING
    assert ocpi_status(False, [ConnectorState.AVAILABLE]) is EvseStatus.UNKNOWN
    assert ocpi_status(True, []) is EvseStatus.UNKNOWN


async def test_an_emsp_pulls_a_location_its_evses_and_connectors(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    cp = station()
    await follow(sessions, settings, status(cp, 1, ConnectorState.AVAILABLE))
    await publish(sessions, settings, f"HH-{cp}", cp)
    _, ours = await registered(csms, hosts, settings, sessions)

    got = await csms.get(f"{URL}/hh-{cp.lower()}", headers=header(ours))  # ids ignore case
    assert got.status_code == 200, got.text
    location = got.json()["data"]
    assert got.headers["ocpi-from-country-code"] == "DE"
    assert (location["country_code"], location["party_id"], location["id"]) == (
        "DE",
        "CSM",
        f"HH-{cp}",
    )
    assert location["coordinates"] == {"latitude": "53.541300", "longitude": "9.984700"}
    assert location["operator"] == {"name": settings.business_name}
    assert location["opening_times"]["twentyfourseven"] is True
    first, second = location["evses"]
    assert (first["uid"], first["evse_id"], first["status"]) == (
        f"DE*CSM*E{cp}*1",
        f"DE*CSM*E{cp}*1",
        "AVAILABLE",
    )
    assert (second["uid"], second["status"]) == (f"{cp}-2", "UNKNOWN")  # never reported
    assert "evse_id" not in second
    assert first["connectors"] == [
        {
            "id": "1",
            "standard": "IEC_62196_T2",
            "format": "SOCKET",
            "power_type": "AC_3_PHASE",
            "max_voltage": 230,
            "max_amperage": 32,
            "max_electric_power": 22000,
            "tariff_ids": [],
            "last_updated": first["connectors"][0]["last_updated"],
        }
    ]

    evse = await csms.get(f"{URL}/HH-{cp}/{cp}-2", headers=header(ours))
    assert evse.status_code == 200 and evse.json()["data"]["uid"] == f"{cp}-2"
    connector = await csms.get(f"{URL}/HH-{cp}/{cp}-2/1", headers=header(ours))
    assert connector.json()["data"]["standard"] == "IEC_62196_T2_COMBO"
    for path in (f"/NOPE-{cp}", f"/HH-{cp}/nope", f"/HH-{cp}/{cp}-2/9"):
        missing = await csms.get(URL + path, headers=header(ours))
        assert missing.status_code == 404 and missing.json()["status_code"] == 2003, path
    # Only registered platforms read them.
    assert (await csms.get(f"{URL}/HH-{cp}", headers=header("never-issued"))).status_code == 401


async def test_pages_follow_the_link_and_date_to_is_exclusive(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    ids = []
    for _ in range(3):
        cp = station()
        ids.append((await publish(sessions, settings, f"PG-{cp}", cp)).id)
    _, ours = await registered(csms, hosts, settings, sessions)

    seen: list[str] = []
    url: str | None = f"{URL}?limit=2"
    while url is not None:
        page = await csms.get(url, headers=header(ours))
        assert page.status_code == 200, page.text
        assert page.headers["x-limit"] == "2"
        total = int(page.headers["x-total-count"])
        seen += [loc["id"] for loc in page.json()["data"]]
        link = page.headers.get("link")
        url = link.split(">")[0].removeprefix("<http://csms.test") if link else None
    assert len(seen) == total == len(set(seen)) and set(ids) <= set(seen)
    assert (await csms.get(f"{URL}?limit=500", headers=header(ours))).headers["x-limit"] == "100"

    async with sessions() as session:
        one = await location_store.load(session, ids[0], publisher(settings))
    assert one is not None
    at = one.last_updated

    async def ids_in(query: str) -> list[str]:
        answer = await csms.get(f"{URL}?{query}", headers=header(ours))
        assert answer.status_code == 200, answer.text
        return [loc["id"] for loc in answer.json()["data"]]

    stamp = format_datetime(at)
    later = format_datetime(at + timedelta(milliseconds=1))
    assert ids[0] in await ids_in(f"date_from={stamp}&date_to={later}")
    assert ids[0] not in await ids_in(f"date_to={stamp}")
    bad = await csms.get(f"{URL}?date_from=yesterday", headers=header(ours))
    assert bad.status_code == 400 and bad.json()["status_code"] == 2001


async def test_status_changes_are_pushed_to_the_emsp_in_order(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    emsp, _ = await registered(csms, hosts, settings, sessions)
    cp = station()
    await follow(sessions, settings, status(cp, 1, ConnectorState.AVAILABLE))
    await publish(sessions, settings, f"ST-{cp}", cp)
    await deliver(delivery)
    ((method, path, body, routing),) = emsp.received
    assert (method, path) == ("PUT", f"/locations/DE/CSM/ST-{cp}")
    assert body["id"] == f"ST-{cp}" and body["evses"][0]["status"] == "AVAILABLE"
    assert routing["ocpi-from-party-id"] == "CSM"
    assert routing["ocpi-to-party-id"] == emsp.party_id

    # A car plugs in (a 1.6 Preparing is Occupied too), the station goes offline.
    await follow(
        sessions, settings, status(cp, 1, ConnectorState.OCCUPIED, ChargingState.EV_CONNECTED)
    )
    await follow(sessions, settings, status(cp, 1, ConnectorState.OCCUPIED, ChargingState.CHARGING))
    await deliver(delivery)
    connected = StationConnected(
        charge_point_id=cp, gateway="g1", connection_id="c1", connected_at=body["last_updated"]
    )
    await follow(sessions, settings, connected)
    await follow(sessions, settings, StationDisconnected(charge_point_id=cp, connection_id="c1"))
    await deliver(delivery)
    assert [(m, p, b["status"]) for m, p, b, _ in emsp.received[1:]] == [
        ("PATCH", f"/locations/DE/CSM/ST-{cp}/DE*CSM*E{cp}*1", "CHARGING"),  # once: no change
        ("PATCH", f"/locations/DE/CSM/ST-{cp}/DE*CSM*E{cp}*1", "UNKNOWN"),
    ]
    assert set(emsp.received[1][2]) == {"status", "last_updated"}


async def test_a_station_clock_ahead_of_ours_does_not_keep_its_status_for_ever(
    settings: Settings, sessions: Any
) -> None:
    cp = station()
    await publish(sessions, settings, f"CK-{cp}", cp)
    ahead = status(cp, 1, ConnectorState.FAULTED)
    ahead.timestamp = ahead.at + timedelta(days=365)
    await follow(sessions, settings, ahead)
    # Its clock set right: the next report, stamped now, is the newest.
    fixed = status(cp, 1, ConnectorState.AVAILABLE)
    fixed.timestamp = fixed.at
    await follow(sessions, settings, fixed)
    async with sessions() as session:
        stored = await location_store.load(session, f"CK-{cp}", publisher(settings))
    assert stored is not None
    # Available, and the station is known to be up (it reports).
    assert stored.document.evses[0].status == EvseStatus.AVAILABLE


async def test_a_party_that_is_down_gets_the_newest_of_each_object_once_back(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    emsp, _ = await registered(csms, hosts, settings, sessions)
    emsp.broken = True
    theirs = pushes.c.platform_id == await platform_of(sessions, emsp)
    cp = station()
    await publish(sessions, settings, f"DN-{cp}", cp)
    await deliver(delivery)
    async with sessions() as session:
        (failed,) = (
            await session.execute(
                select(pushes).where(theirs, pushes.c.object_key == f"location:DN-{cp}")
            )
        ).all()
    assert failed.attempts == 1 and failed.delivered_at is None
    assert "HTTP 500" in failed.last_error and failed.next_attempt_at > failed.last_attempt_at

    # While it is down: two status changes of EVSE 1 (the first moot once the second is
    # queued), and one of EVSE 2.
    for state in (ConnectorState.OCCUPIED, ConnectorState.FAULTED):
        await follow(sessions, settings, status(cp, 1, state))
    await follow(sessions, settings, status(cp, 2, ConnectorState.AVAILABLE))
    async with sessions() as session:
        rows = (
            await session.execute(
                select(pushes.c.method, pushes.c.path, pushes.c.dropped_why)
                .where(theirs, pushes.c.object_key == f"location:DN-{cp}")
                .order_by(pushes.c.id)
            )
        ).all()
    assert [(r.method, r.dropped_why) for r in rows] == [
        ("PUT", None),
        ("PATCH", "superseded by a newer push"),
        ("PATCH", None),
        ("PATCH", None),
    ]

    emsp.broken = False
    async with sessions.begin() as session:  # its retry is due now rather than in 2 s
        await session.execute(
            update(pushes)
            .where(pushes.c.object_key == f"location:DN-{cp}", pushes.c.delivered_at.is_(None))
            .values(next_attempt_at=pushes.c.created_at)
        )
    await deliver(delivery)
    assert [(m, b.get("status")) for m, _, b, _ in emsp.received] == [
        ("PUT", None),
        ("PATCH", "OUTOFORDER"),
        ("PATCH", "AVAILABLE"),
    ]
    assert emsp.received[0][2]["evses"][0]["status"] == "UNKNOWN"


async def test_taking_an_evse_out_keeps_it_removed(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    cp = station()
    await publish(sessions, settings, f"RM-{cp}", cp)
    fewer = described(cp)
    fewer.evses = fewer.evses[:1]
    async with sessions.begin() as session:
        stored = await location_store.put(session, f"RM-{cp}", fewer, publisher(settings))
    assert [(e.uid, e.status) for e in stored.document.evses] == [
        (f"DE*CSM*E{cp}*1", EvseStatus.UNKNOWN),
        (f"{cp}-2", EvseStatus.REMOVED),
    ]
    # The EVSE is free for another location; a station's EVSE in two at once is refused.
    async with sessions.begin() as session:
        other = described(cp)
        other.evses = other.evses[1:]
        await location_store.put(session, f"RM2-{cp}", other, publisher(settings))
    with pytest.raises(LocationConflict, match=f"EVSE 1 of '{cp}'"):
        async with sessions.begin() as session:
            await location_store.put(session, f"RM3-{cp}", described(cp), publisher(settings))


async def test_two_locations_put_at_once_with_one_evse_the_second_is_a_conflict(
    settings: Settings, sessions: Any
) -> None:
    """Both pass the check before either commits; the unique index decides, and the loser is
    told it is a conflict (409), not an internal error."""
    cp = station()
    async with sessions.begin() as first:
        await location_store.put(first, f"RA-{cp}", described(cp), publisher(settings))

        async def second() -> None:
            async with sessions.begin() as session:
                await location_store.put(session, f"RB-{cp}", described(cp), publisher(settings))

        racing = asyncio.create_task(second())

        # The pool's two connections are the two PUTs': a watcher of its own.
        watching = create_engine(settings.database_url, pool_size=1)

        async def waiting() -> bool:
            # It waits on the first's uncommitted EVSE rows (the unique index) until the commit.
            async with watching.connect() as watcher:
                waits = await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            return bool(waits)

        try:
            assert await eventually(waiting)
        finally:
            await watching.dispose()
        assert not racing.done()
    with pytest.raises(LocationConflict, match="was just published in another location"):
        await racing


def _standard(s: LocationSettings) -> None:
    s.evses[0].connectors[0].standard = "TYPE_9"


def _zone(s: LocationSettings) -> None:
    s.time_zone = "Mars/Olympus"


def _facility(s: LocationSettings) -> None:
    s.facilities = ["SPACEPORT"]


def _twice(s: LocationSettings) -> None:
    s.evses.append(s.evses[0])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_standard, "evses.0.connectors.0.standard"),
        (_zone, "timeZone"),
        (_facility, "facilities.0"),
        (_twice, "is given twice"),
    ],
)
async def test_what_ocpi_does_not_have_is_refused_and_nothing_stored(
    settings: Settings, sessions: Any, change: Any, problem: str
) -> None:
    cp = station()
    bad = described(cp)
    change(bad)
    with pytest.raises(LocationRefused, match=problem.replace(".", r"\.")):
        async with sessions.begin() as session:
            await location_store.put(session, f"BAD-{cp}", bad, publisher(settings))
    async with sessions() as session:
        assert await location_store.load(session, f"BAD-{cp}", publisher(settings)) is None


async def test_a_commit_wakes_the_delivery(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    emsp, _ = await registered(csms, hosts, settings, sessions)
    await deliver(delivery)  # what earlier tests left due
    # No poll within the test's time: only the commit's wake-up can send the push.
    patient = settings.model_copy(update={"push_poll_interval": 60.0})
    client = OcpiClient(5.0, None, transport=hosts)
    running = asyncio.create_task(PushDelivery(sessions, client, patient).run())
    try:
        cp = station()
        await publish(sessions, settings, f"WK-{cp}", cp)

        async def pushed() -> bool:
            return any(p.endswith(f"WK-{cp}") for _, p, _, _ in emsp.received)

        await eventually(pushed, timeout=10)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await client.close()


async def test_a_takeover_whose_disconnect_comes_first_leaves_the_station_online(
    settings: Settings, sessions: Any
) -> None:
    """A station known only from its status reports (connected before this service ran): the
    old connection's disconnect arrives before the new connection's connect; it is online."""
    cp = station()
    await follow(sessions, settings, status(cp, 1, ConnectorState.AVAILABLE))
    await publish(sessions, settings, f"TK-{cp}", cp)
    await follow(sessions, settings, StationDisconnected(charge_point_id=cp, connection_id="old"))
    connected = StationConnected(
        charge_point_id=cp, gateway="g2", connection_id="new", connected_at="2026-11-26T00:00:00Z"
    )
    await follow(sessions, settings, connected)
    async with sessions() as session:
        stored = await location_store.load(session, f"TK-{cp}", publisher(settings))
    assert stored is not None
    assert stored.document.evses[0].status is EvseStatus.AVAILABLE


async def test_events_taken_together_leave_what_they_leave_one_by_one(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    """A connect storm's events come in groups (`connector_statuses`, `stations_connected`,
    `stations_disconnected`): stations in no published location in one statement a round, a
    published one's events one by one. Each group leaves the presence, the connectors, the
    EVSEs' statuses and the pushes its events leave one after the other, copies, a station
    twice in a group, its whole-station reports and a takeover's early disconnect included."""
    emsp, _ = await registered(csms, hosts, settings, sessions)

    def script(tag: str) -> list[list[Any]]:
        a, b, pub = f"{tag}A{next(_IDS)}", f"{tag}B{next(_IDS)}", f"{tag}P{next(_IDS)}"
        at = "2026-11-29T10:00:00Z"

        def connected(cp: str, connection: str) -> StationConnected:
            return StationConnected(
                charge_point_id=cp, gateway="g1", connection_id=connection, connected_at=at
            )

        first = status(a, 1, ConnectorState.AVAILABLE)  # each stamped as made: in this order
        whole = status(a, 0, ConnectorState.UNAVAILABLE)
        whole.evse_id = None
        whole.connector_id = 0
        later = status(a, 1, ConnectorState.OCCUPIED, ChargingState.CHARGING)
        older = status(a, 1, ConnectorState.AVAILABLE)
        older.timestamp = older.at - timedelta(minutes=5)  # stamped before `later`
        return [
            [connected(a, "a1"), connected(b, "b1"), connected(pub, "p1"), connected(a, "a2")],
            [
                first,
                status(b, 2, ConnectorState.FAULTED),
                status(pub, 1, ConnectorState.OCCUPIED, ChargingState.EV_CONNECTED),
                whole,
                later,
                status(pub, 1, ConnectorState.AVAILABLE),
                older,  # kept out: `later` is newer by the station's time
            ],
            [
                StationDisconnected(charge_point_id=b, connection_id="b0"),  # a takeover's
                StationDisconnected(charge_point_id=pub, connection_id="p1"),
                StationDisconnected(charge_point_id=a, connection_id="a1"),  # not a2's
            ],
        ]

    groups = {
        ConnectorStatus: follow_stations.connector_statuses,
        StationConnected: follow_stations.stations_connected,
        StationDisconnected: follow_stations.stations_disconnected,
    }

    async def left(tag: str) -> tuple[list[Any], list[Any], list[Any]]:
        """What the stations of `tag` left, their ids without it."""
        async with sessions() as session:
            presence = await session.execute(
                text(
                    "SELECT substr(charge_point_id, 4, 1), online, connection_id, ocpp_version"
                    " FROM roaming.station_presence WHERE charge_point_id LIKE :tag"
                    " ORDER BY 1"
                ),
                {"tag": f"{tag}%"},
            )
            connectors = await session.execute(
                text(
                    "SELECT substr(charge_point_id, 4, 1), evse_id, connector_id, status"
                    " FROM roaming.station_connectors WHERE charge_point_id LIKE :tag"
                    " ORDER BY 1, 2, 3"
                ),
                {"tag": f"{tag}%"},
            )
            evses = await session.execute(
                text(
                    "SELECT evse_id, status FROM roaming.location_evses"
                    " WHERE charge_point_id LIKE :tag ORDER BY 1"
                ),
                {"tag": f"{tag}%"},
            )
            return list(presence), list(connectors), list(evses)

    pushed: dict[str, list[tuple[str, str]]] = {}
    for tag, together in (("ONE", False), ("GRP", True)):
        steps = script(tag)
        published = steps[0][2].charge_point_id
        await publish(sessions, settings, f"EQ-{published}", published)
        await deliver(delivery)
        before = len(emsp.received)
        for step in steps:
            if together:
                async with sessions.begin() as session:
                    ctx = Context(session=session, settings=settings, outbox=outbox)
                    await groups[type(step[0])](step, ctx)
            else:
                for event in step:
                    await follow(sessions, settings, event)
        await deliver(delivery)
        pushed[tag] = [
            (method, str(body.get("status"))) for method, _, body, _ in emsp.received[before:]
        ]
    one, grouped = await left("ONE"), await left("GRP")
    assert grouped == one
    presence, connectors, evses = one
    assert [row[1:] for row in presence] == [
        (True, "a2", "2.0.1"),  # a1's disconnect leaves a2 on
        (True, "b1", "2.0.1"),  # b0's, a connection before b1, too
        (False, "p1", "2.0.1"),
    ]
    assert [row[1:] for row in connectors] == [
        (1, 1, "Occupied"),
        (2, 1, "Faulted"),
        (1, 1, "Available"),
    ]
    assert evses == [(1, "UNKNOWN"), (2, "UNKNOWN")]  # the published station went offline
    assert pushed["GRP"] == pushed["ONE"] == [("PATCH", "UNKNOWN")]  # the newest, once
