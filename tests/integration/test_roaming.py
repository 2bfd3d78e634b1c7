"""OCPI roaming through the running suite: an admin invites an eMSP over REST, the eMSP
registers with the roaming service's OCPI port and reads our versions; the suite registers with
another eMSP from REST, hands it new credentials and unregisters; parties' URLs into private
networks are refused; viewers and operators see none of it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import utcnow
from tests.integration.conftest import Suite
from tests.integration.ocpi_platform import PlatformDouble, header
from tests.integration.support import eventually
from tests.integration.test_sessions_charging import Bus, iso
from tests.integration.test_v201_transactions import tx_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(suite: Suite) -> AsyncIterator[Bus]:
    """The test's own AMQP connection, to tap the events."""
    async with Bus.open(suite.infra.broker_url) as opened:
        yield opened


async def test_an_invited_emsp_registers_and_the_operator_sees_it(
    api: httpx.AsyncClient, suite: Suite
) -> None:
    invited = await api.post("/roaming/platforms/invitations", json={"name": "ACME eMSP"})
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    assert invitation["versionsUrl"] == f"{suite.roaming_url}/versions"
    assert invitation["platform"]["state"] == "invited"
    token_a = invitation["token"]

    async with PlatformDouble.served() as emsp, emsp.client() as client:
        versions = await client.get(invitation["versionsUrl"], headers=header(token_a))
        assert versions.status_code == 200, versions.text
        (v221,) = versions.json()["data"]
        details = (await client.get(v221["url"], headers=header(token_a))).json()["data"]
        (credentials,) = [e for e in details["endpoints"] if e["identifier"] == "credentials"]
        emsp.tokens_accepted = {"acme-b"}
        posted = await client.post(
            credentials["url"], headers=header(token_a), json=emsp.credentials("acme-b")
        )
        assert posted.status_code == 200, posted.text
        token_c = posted.json()["data"]["token"]
        assert emsp.seen[0][2] == "acme-b"  # it read the eMSP's versions with token B
        assert (
            await client.get(invitation["versionsUrl"], headers=header(token_a))
        ).status_code == 401
        assert (
            await client.get(invitation["versionsUrl"], headers=header(token_c))
        ).status_code == 200

    platform_id = invitation["platform"]["id"]
    shown = (await api.get(f"/roaming/platforms/{platform_id}")).json()
    assert shown["state"] == "registered" and shown["version"] == "2.2.1"
    assert [(r["countryCode"], r["partyId"], r["role"]) for r in shown["roles"]] == [
        ("NL", emsp.party_id, "EMSP")
    ]
    # No token of either side is ever shown.
    assert not {token_a, token_c, "acme-b"} & set(str(shown).replace("'", " ").split())
    listed = (await api.get("/roaming/platforms", params={"state": "registered"})).json()
    assert platform_id in {p["id"] for p in listed["items"]}


async def test_the_suite_registers_with_an_emsp_rotates_and_unregisters(
    api: httpx.AsyncClient, suite: Suite
) -> None:
    async with PlatformDouble.served() as emsp:
        emsp.tokens_accepted = {"hub-a"}
        registered = await api.post(
            "/roaming/platforms",
            json={"name": "A hub", "versionsUrl": emsp.versions_url, "token": "hub-a"},
        )
        assert registered.status_code == 201, registered.text
        platform: dict[str, Any] = registered.json()
        assert (platform["state"], platform["versionsUrl"]) == ("registered", emsp.versions_url)
        assert emsp.calls_back == [200]  # it read our versions with our token B, during our POST
        token_b = emsp.their_token
        assert token_b is not None

        rotated = await api.post(f"/roaming/platforms/{platform['id']}/credentials")
        assert rotated.status_code == 200, rotated.text
        assert emsp.their_token != token_b
        async with httpx.AsyncClient() as client:
            old = await client.get(f"{suite.roaming_url}/versions", headers=header(token_b))
            assert old.status_code == 401

        ended = await api.delete(f"/roaming/platforms/{platform['id']}")
        assert ended.status_code == 200, ended.text
        assert ended.json()["platform"]["state"] == "unregistered"
        assert "problem" not in ended.json()
        assert emsp.seen[-1][:2] == ("DELETE", "/ocpi/2.2.1/credentials")
        again = await api.post(f"/roaming/platforms/{platform['id']}/credentials")
        assert again.status_code == 409, again.text


async def test_a_platform_that_cannot_be_used_or_a_bad_body_is_a_422(
    api: httpx.AsyncClient,
) -> None:
    async with PlatformDouble.served() as emsp:
        emsp.versions_offered = ("2.1.1",)
        emsp.tokens_accepted = {"old-a"}
        old = await api.post(
            "/roaming/platforms",
            json={"name": "Old", "versionsUrl": emsp.versions_url, "token": "old-a"},
        )
        assert old.status_code == 422, old.text
        assert "offers no OCPI 2.2.1" in old.json()["detail"]
    private = await api.post(
        "/roaming/platforms",
        json={"name": "Inside", "versionsUrl": "http://10.1.2.3/ocpi/versions", "token": "x"},
    )
    assert private.status_code == 422 and "private" in private.json()["detail"], private.text
    odd = await api.post(
        "/roaming/platforms",
        json={"name": "Odd", "versionsUrl": "http://0:0/ocpi/versions", "token": "x"},
    )
    assert odd.status_code == 422, odd.text
    for body in (
        {"name": "x", "versionsUrl": "ftp://a/b", "token": "t"},
        {"name": "x", "versionsUrl": "http://a/b", "token": "with space"},
        {"name": "", "versionsUrl": "http://a/b", "token": "t"},
    ):
        refused = await api.post("/roaming/platforms", json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert (await api.get("/roaming/platforms/no-such-id")).status_code == 404


async def test_an_emsp_pushes_a_token_and_operators_find_it(
    api: httpx.AsyncClient, suite: Suite, bus: Bus
) -> None:
    tap = await bus.tap("roaming.#")
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "T"})).json()
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        uid = f"U{emsp.party_id}0001"
        await emsp.push(client, suite.roaming_url, ours, uid, whitelist="ALLOWED_OFFLINE")
    (published,) = await tap.wait("roaming.token_changed", uid=uid)
    assert (published["partyId"], published["whitelist"], published["valid"]) == (
        emsp.party_id,
        "ALLOWED_OFFLINE",
        True,
    )
    found = await api.get("/roaming/tokens", params={"partyId": emsp.party_id.lower(), "uid": uid})
    assert found.status_code == 200, found.text
    (item,) = found.json()["items"]
    assert (item["countryCode"], item["whitelist"], item["valid"], item["platformId"]) == (
        "NL",
        "ALLOWED_OFFLINE",
        True,
        invitation["platform"]["id"],
    )


async def test_only_admins_reach_roaming_platforms(api: httpx.AsyncClient, suite: Suite) -> None:
    for role in ("viewer", "operator"):
        key = await api.post("/api-keys", json={"name": f"roaming-{role}", "role": role})
        assert key.status_code == 201, key.text
        async with httpx.AsyncClient(
            base_url=suite.api_url, headers={"Authorization": f"Bearer {key.json()['key']}"}
        ) as client:
            assert (await client.get("/roaming/platforms")).status_code == 403
            invited = await client.post("/roaming/platforms/invitations", json={"name": "x"})
            assert invited.status_code == 403
            tokens = await client.get("/roaming/tokens")
            assert tokens.status_code == (403 if role == "viewer" else 200), tokens.text


async def test_a_station_of_either_version_authorizes_a_token_an_emsp_pushed(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """The session-service decides with the tokens eMSPs pushed when its list lacks the id
    token: valid and whitelisted is Accepted; not valid, or real-time authorization only
    (NEVER) while its eMSP cannot be reached, is not."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "D"})).json()
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        suffix = cp_id[-6:].upper()
        uids = {
            "ok": f"A{suffix}01",
            "void": f"A{suffix}02",
            "ask": f"A{suffix}03",
            "ours": f"A{suffix}04",
        }
        await emsp.push(client, suite.roaming_url, ours, uids["ok"])
        # A card on the operator's list that an eMSP also pushed: the list wins.
        assert (await api.post("/id-tags", json={"idTag": uids["ours"]})).status_code == 201
        await emsp.push(client, suite.roaming_url, ours, uids["ours"])
        await emsp.push(client, suite.roaming_url, ours, uids["void"], valid=False)
        await emsp.push(client, suite.roaming_url, ours, uids["ask"], whitelist="NEVER")

    v16 = await connect_cp(cp_id, 0)
    boot = {"chargePointVendor": "V", "chargePointModel": "X"}
    assert (await v16.call("BootNotification", boot))["status"] == "Accepted"

    async def accepted_v16() -> bool:
        # Lower case: an id tag is compared without case.
        answer = await v16.call("Authorize", {"idTag": uids["ok"].lower()})
        return bool(answer["idTagInfo"]["status"] == "Accepted")

    assert await eventually(accepted_v16)
    for refused in (uids["void"], uids["ask"]):
        answer = await v16.call("Authorize", {"idTag": refused})
        assert answer["idTagInfo"]["status"] == "Invalid", (refused, answer)
    started = await v16.call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": uids["ok"],
            "meterStart": 0,
            "timestamp": "2026-11-26T12:00:00Z",
        },
    )
    assert started["idTagInfo"]["status"] == "Accepted", started
    # The transaction says whose token authorized it (the roaming service bills that eMSP).
    tx = (await api.get(f"/transactions/{started['transactionId']}")).json()
    assert (tx["idTokenSource"], tx["roamingParty"]) == ("roaming", f"NL-{emsp.party_id}"), tx
    stop = {"transactionId": started["transactionId"], "meterStop": 10, "timestamp": iso(utcnow())}
    assert await v16.call("StopTransaction", stop) == {}
    mine = await v16.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": uids["ours"], "meterStart": 0, "timestamp": iso(utcnow())},
    )
    assert mine["idTagInfo"]["status"] == "Accepted", mine
    listed = (await api.get(f"/transactions/{mine['transactionId']}")).json()
    assert listed["idTokenSource"] == "list" and "roamingParty" not in listed, listed

    v201 = await connect_cp(f"{cp_id}-2", 0, subprotocols=["ocpp2.0.1"])
    boot201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
    assert (await v201.call("BootNotification", boot201))["status"] == "Accepted"
    card = await v201.call("Authorize", {"idToken": {"idToken": uids["ok"], "type": "ISO14443"}})
    assert card["idTokenInfo"]["status"] == "Accepted", card
    token201 = {"idToken": uids["ok"], "type": "ISO14443"}
    first = tx_event(
        "Started", 0, utcnow(), "SRC-TX", 0, evse={"id": 1, "connectorId": 1}, idToken=token201
    )
    assert (await v201.call("TransactionEvent", first))["idTokenInfo"]["status"] == "Accepted"
    (tx201,) = (await api.get("/transactions", params={"chargePointId": f"{cp_id}-2"})).json()[
        "items"
    ]
    assert (tx201["idTokenSource"], tx201["roamingParty"]) == ("roaming", f"NL-{emsp.party_id}")
    other_type = await v201.call(
        "Authorize", {"idToken": {"idToken": uids["ok"], "type": "ISO15693"}}
    )
    assert other_type["idTokenInfo"]["status"] == "Unknown", other_type

    async def invalid_v201() -> bool:
        # Invalid, not Unknown: the token is known, and not valid (once its event is in).
        void = {"idToken": {"idToken": uids["void"], "type": "ISO14443"}}
        return bool((await v201.call("Authorize", void))["idTokenInfo"]["status"] == "Invalid")

    assert await eventually(invalid_v201)


async def test_an_emsp_authorizes_its_tokens_in_real_time_at_either_version(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """Tokens whose whitelist wants real-time authorization (NEVER, ALLOWED_OFFLINE) are asked
    of their eMSP, naming the station's location and EVSEs; its answer decides at either
    version, the start that follows an Authorize is not asked again, and its Session says
    AUTH_REQUEST with the eMSP's reference. Without an answer in time (an unknown token, a slow
    eMSP) ALLOWED_OFFLINE is accepted and NEVER refused."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "T"})).json()
    suffix = cp_id[-6:].upper()
    keys = ("yes", "broke", "offline", "slow")
    uids = {key: f"T{suffix}{n:02d}" for n, key in enumerate(keys)}
    location_id = f"RT-{cp_id[3:]}"
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        emsp.verdicts = {
            uids["yes"]: "ALLOWED",
            uids["broke"]: "NO_CREDIT",
            uids["slow"]: "ALLOWED",
        }
        for key in ("yes", "broke", "slow"):
            await emsp.push(client, suite.roaming_url, ours, uids[key], whitelist="NEVER")
        await emsp.push(
            client, suite.roaming_url, ours, uids["offline"], whitelist="ALLOWED_OFFLINE"
        )
        site = {
            "address": "Kaiserkai 2",
            "city": "Hamburg",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "evses": [_evse(cp_id)],
        }
        assert (await api.put(f"/roaming/locations/{location_id}", json=site)).status_code == 200

        def asks(uid: str) -> list[tuple[Any, dict[str, str]]]:
            path = f"/tokens/{uid}/authorize?type=RFID"
            return [(b, r) for m, p, b, r in emsp.received if (m, p) == ("POST", path)]

        v16 = await connect_cp(cp_id, 0)
        boot = {"chargePointVendor": "V", "chargePointModel": "X"}
        assert (await v16.call("BootNotification", boot))["status"] == "Accepted"

        async def accepted() -> bool:
            answer = await v16.call("Authorize", {"idTag": uids["yes"]})
            return bool(answer["idTagInfo"]["status"] == "Accepted")

        assert await eventually(accepted)
        [(body, routing)] = asks(uids["yes"])
        assert body["location_id"] == location_id and len(body["evse_uids"]) == 1, body
        assert routing["ocpi-to-party-id"] == emsp.party_id, routing
        # The start that follows is the same authorization: the eMSP is not asked again.
        start = {
            "connectorId": 1,
            "idTag": uids["yes"],
            "meterStart": 0,
            "timestamp": iso(utcnow()),
        }
        started = await v16.call("StartTransaction", start)
        assert started["idTagInfo"]["status"] == "Accepted", started
        assert len(asks(uids["yes"])) == 1

        def session_put() -> dict[str, Any] | None:
            end = f"/{started['transactionId']}"
            puts = [
                b
                for m, p, b, _ in emsp.received
                if m == "PUT" and p.startswith("/sessions/") and p.endswith(end)
            ]
            return puts[0] if puts else None

        async def session_pushed() -> bool:
            return session_put() is not None

        assert await eventually(session_pushed)
        session = session_put()
        assert session is not None
        assert session["auth_method"] == "AUTH_REQUEST", session
        assert session["authorization_reference"] == f"REF-{uids['yes']}", session

        # NO_CREDIT: Invalid in 1.6's words, NoCredit in 2.0.1's.
        broke = await v16.call("Authorize", {"idTag": uids["broke"]})
        assert broke["idTagInfo"]["status"] == "Invalid", broke
        v201 = await connect_cp(f"{cp_id}-2", 0, subprotocols=["ocpp2.0.1"])
        boot201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
        assert (await v201.call("BootNotification", boot201))["status"] == "Accepted"
        token201 = {"idToken": uids["broke"], "type": "ISO14443"}
        broke201 = await v201.call("Authorize", {"idToken": token201})
        assert broke201["idTokenInfo"]["status"] == "NoCredit", broke201
        # The eMSP does not know it (404): ALLOWED_OFFLINE falls back on the whitelist.
        offline = await v16.call("Authorize", {"idTag": uids["offline"]})
        assert offline["idTagInfo"]["status"] == "Accepted", offline
        assert len(asks(uids["offline"])) == 1
        # Too slow (past ROAMING_AUTHORIZE_TIMEOUT, 3 s): NEVER is refused.
        emsp.verdict_delay = 4.0
        slow = await v201.call(
            "Authorize", {"idToken": {"idToken": uids["slow"], "type": "ISO14443"}}
        )
        assert slow["idTokenInfo"]["status"] == "Unknown", slow
        emsp.verdict_delay = 0.0

    # The operator sees each ask and its answer, or why none came.
    asked = await api.get("/roaming/authorizations", params={"uid": uids["yes"].lower()})
    assert asked.status_code == 200, asked.text
    [seen] = asked.json()["items"]
    assert (seen["allowed"], seen["authorizationReference"], seen["chargePointId"]) == (
        "ALLOWED",
        f"REF-{uids['yes']}",
        cp_id,
    )
    assert seen["locationId"] == location_id and seen["partyId"] == emsp.party_id
    late = (await api.get("/roaming/authorizations", params={"uid": uids["slow"]})).json()
    [unanswered] = late["items"]
    assert "allowed" not in unanswered and unanswered["reason"] == "no answer within 3 s"


def _evse(cp: str) -> dict[str, Any]:
    return {
        "chargePointId": cp,
        "evseId": 1,
        "capabilities": ["RFID_READER"],
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


async def test_an_emsp_gets_a_location_and_the_status_of_either_versions_stations(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """The operator publishes a site with a 1.6 and a 2.0.1 station; the eMSP gets the Location
    pushed, then each EVSE's status as its station reports it (1.6 Preparing and 2.0.1
    Occupied alike: CHARGING), reads it over OCPI, and the push log shows each delivered."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "L"})).json()
    location_id = f"IT-{cp_id[3:]}"
    v201_id = f"{cp_id}-2"
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        site = {
            "name": "Integration car park",
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "evses": [_evse(cp_id), _evse(v201_id)],
        }
        bad = {**site, "evses": [{**_evse(cp_id), "capabilities": ["TELEPORT"]}]}
        refused = await api.put(f"/roaming/locations/{location_id}", json=bad)
        assert refused.status_code == 422 and "capabilities" in refused.text, refused.text
        put = await api.put(f"/roaming/locations/{location_id}", json=site)
        assert put.status_code == 200, put.text
        assert [e["status"] for e in put.json()["evses"]] == ["UNKNOWN", "UNKNOWN"]

        def patches() -> list[tuple[str, str]]:
            return [(p, b["status"]) for m, p, b, _ in emsp.received if m == "PATCH"]

        async def put_pushed() -> bool:
            return any(m == "PUT" and p.endswith(location_id) for m, p, _, _ in emsp.received)

        assert await eventually(put_pushed)

        v16 = await connect_cp(cp_id, 0)
        boot = {"chargePointVendor": "V", "chargePointModel": "X"}
        assert (await v16.call("BootNotification", boot))["status"] == "Accepted"
        await v16.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
        )
        v201 = await connect_cp(v201_id, 1, subprotocols=["ocpp2.0.1"])
        boot201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
        assert (await v201.call("BootNotification", boot201))["status"] == "Accepted"
        await v201.call(
            "StatusNotification",
            {
                "timestamp": "2026-11-27T10:00:00Z",
                "connectorStatus": "Occupied",
                "evseId": 1,
                "connectorId": 1,
            },
        )
        base = f"/locations/DE/CSM/{location_id}"

        async def both_charging() -> bool:
            return {
                (f"{base}/{cp_id}-1", "CHARGING"),
                (f"{base}/{v201_id}-1", "CHARGING"),
            } <= set(patches())

        assert await eventually(both_charging)
        pulled = await client.get(
            f"{suite.roaming_url}/2.2.1/locations/{location_id}", headers=header(ours)
        )
        assert pulled.status_code == 200, pulled.text
        assert [e["status"] for e in pulled.json()["data"]["evses"]] == ["CHARGING", "CHARGING"]

        # Sent again whole on the operator's word, as it is now.
        again = await api.post(f"/roaming/locations/{location_id}/push")
        assert again.status_code == 200 and again.json()["pushes"] >= 1, again.text

        async def put_twice() -> bool:
            puts = [b for m, p, b, _ in emsp.received if m == "PUT" and p.endswith(location_id)]
            return len(puts) == 2 and [e["status"] for e in puts[1]["evses"]] == ["CHARGING"] * 2

        assert await eventually(put_twice)

    log = await api.get(
        "/roaming/pushes", params={"platformId": invitation["platform"]["id"], "limit": 100}
    )
    assert log.status_code == 200, log.text
    states = {(p["method"], p["state"]) for p in log.json()["items"]}
    assert states == {("PUT", "delivered"), ("PATCH", "delivered")}, log.text
    shown = (await api.get(f"/roaming/locations/{location_id.lower()}")).json()
    assert [e["status"] for e in shown["evses"]] == ["CHARGING", "CHARGING"]


async def test_a_roaming_driver_charges_at_either_version_and_the_emsp_gets_sessions_and_one_cdr(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """eMSP registers, pushes a token; a 1.6 and a 2.0.1 station each start with it: the eMSP
    gets each Session at the start and the end, and one CDR with the cost the session-service
    computed (the one the station was told) and the energy in kWh."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "R"})).json()
    uid = f"RD{cp_id[-8:].upper()}"
    location_id = f"RD-{cp_id[3:]}"
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
        assert (await api.put(f"/roaming/locations/{location_id}", json=site)).status_code == 200

        v16 = await connect_cp(cp_id, 0)
        boot = {"chargePointVendor": "V", "chargePointModel": "X"}
        assert (await v16.call("BootNotification", boot))["status"] == "Accepted"

        async def accepted() -> bool:
            answer = await v16.call("Authorize", {"idTag": uid})
            return bool(answer["idTagInfo"]["status"] == "Accepted")

        assert await eventually(accepted)
        start = {"connectorId": 1, "idTag": uid, "meterStart": 1000, "timestamp": iso(t0)}
        started = await v16.call("StartTransaction", start)
        assert started["idTagInfo"]["status"] == "Accepted", started
        v201 = await connect_cp(v201_id, 1, subprotocols=["ocpp2.0.1"])
        boot201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
        assert (await v201.call("BootNotification", boot201))["status"] == "Accepted"
        token201 = {"idToken": uid, "type": "ISO14443"}
        first = tx_event(
            "Started", 0, t0, "RD-TX", 500, evse={"id": 1, "connectorId": 1}, idToken=token201
        )
        assert (await v201.call("TransactionEvent", first))["idTokenInfo"]["status"] == "Accepted"
        listed = await api.get("/transactions", params={"chargePointId": v201_id})
        (tx201,) = listed.json()["items"]
        ids = {str(started["transactionId"]), str(tx201["transactionId"])}

        def sessions_seen(status: str) -> set[str]:
            return {
                p.rsplit("/", 1)[1]
                for m, p, b, _ in emsp.received
                if p.startswith("/sessions/") and b.get("status") == status
            }

        async def both_active() -> bool:
            return ids <= sessions_seen("ACTIVE")

        assert await eventually(both_active)

        # While it charges, its kWh (only this station's meter values reach the roaming
        # service: it follows the stations of running roaming sessions).
        sent = itertools.count(1)

        async def kwh_sent() -> bool:
            # A new reading each time (the same message twice is one), the register at 4 kWh.
            at = iso(t0 + timedelta(minutes=10, seconds=next(sent)))
            meter = {
                "connectorId": 1,
                "transactionId": started["transactionId"],
                "meterValue": [{"timestamp": at, "sampledValue": [{"value": "4000"}]}],
            }
            await v16.call("MeterValues", meter)
            # The whole Session PUT again, with a charging period up to now and its cost so far
            # (the session-service's formula: at least the 3 kWh at the tariff's price).
            return any(
                m == "PUT"
                and b.get("kwh") == 3
                and b.get("charging_periods")
                and b.get("total_cost", {}).get("excl_vat", 0) > 0
                for m, p, b, _ in emsp.received
            )

        assert await eventually(kwh_sent, timeout=30, interval=0.5)

        stop = {
            "transactionId": started["transactionId"],
            "meterStop": 13345,
            "timestamp": iso(t0 + timedelta(seconds=3725)),
        }
        assert await v16.call("StopTransaction", stop) == {}
        last = tx_event(
            "Ended", 1, t0 + timedelta(minutes=30), "RD-TX", 5500, context="Transaction.End"
        )
        told = await v201.call("TransactionEvent", last)

        def cdrs() -> list[dict[str, Any]]:
            return [b for m, p, b, _ in emsp.received if (m, p) == ("POST", "/cdrs")]

        async def both_billed() -> bool:
            return ids <= {c["id"] for c in cdrs()} and ids <= sessions_seen("COMPLETED")

        assert await eventually(both_billed)

        # The operator lists the CDRs and sends one again: the same document.
        listed_cdrs = await api.get(
            "/roaming/cdrs", params={"platformId": invitation["platform"]["id"]}
        )
        assert listed_cdrs.status_code == 200, listed_cdrs.text
        assert {c["id"] for c in listed_cdrs.json()["items"]} == ids
        # The 1.6 one: the 2.0.1 one is checked alone below (ids compare as strings, so the
        # smaller of the two was either, depending on the sequence).
        again = str(started["transactionId"])
        assert (await api.post(f"/roaming/cdrs/{again}/push")).json() == {"pushes": 1}

        async def sent_twice() -> bool:
            return [c["id"] for c in cdrs()].count(again) == 2

        assert await eventually(sent_twice)
        first_sent, second_sent = [c for c in cdrs() if c["id"] == again]
        assert first_sent == second_sent
        assert (await api.post("/roaming/cdrs/nope/push")).status_code == 404

    for cdr in cdrs():
        tx = (await api.get(f"/transactions/{cdr['id']}")).json()
        assert cdr["total_energy"] == tx["energyWh"] / 1000, (cdr, tx)
        assert cdr["total_cost"] == {"excl_vat": tx["cost"]}, (cdr, tx)
        assert cdr["cdr_token"]["uid"] == uid and cdr["auth_method"] == "WHITELIST"
    # The 2.0.1 station was told the same total the CDR bills.
    (cdr201,) = [c for c in cdrs() if c["id"] == str(tx201["transactionId"])]
    assert told["totalCost"] == cdr201["total_cost"]["excl_vat"]
    assert cdr201["total_energy"] == 5.0
    # One CDR each (besides the one the operator sent again).
    assert sorted(c["id"] for c in cdrs()) == sorted([*ids, again])


async def test_an_emsp_starts_and_stops_a_session_by_command_at_either_version(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """START_SESSION and STOP_SESSION from an eMSP's app: each reaches the station in its
    version through command-api, the station's answer comes back as the CommandResult at the
    response_url, and the session it started is sent as COMMAND."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "C"})).json()
    uid = f"APP{cp_id[-8:].upper()}"
    location_id = f"CM-{cp_id[3:]}"
    v201_id = f"{cp_id}-2"
    t0 = utcnow().replace(microsecond=0)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        site = {
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "evses": [_evse(cp_id), _evse(v201_id)],
        }
        assert (await api.put(f"/roaming/locations/{location_id}", json=site)).status_code == 200
        v16 = await connect_cp(cp_id, 0)
        v16.responder = accept
        boot = {"chargePointVendor": "V", "chargePointModel": "X"}
        assert (await v16.call("BootNotification", boot))["status"] == "Accepted"
        v201 = await connect_cp(v201_id, 1, subprotocols=["ocpp2.0.1"])
        v201.responder = accept
        boot201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
        assert (await v201.call("BootNotification", boot201))["status"] == "Accepted"
        # The roaming service learns each station's version from its connection.
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        await v16.call("StatusNotification", status)

        async def command(name: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await client.post(
                f"{suite.roaming_url}/2.2.1/commands/{name}", headers=header(ours), json=body
            )
            assert answer.status_code == 200, answer.text
            data: dict[str, Any] = answer.json()["data"]
            return data

        def starting(station: str, ref: str) -> dict[str, Any]:
            return {
                "response_url": f"{emsp.base}/ocpi/2.2.1/commands/START_SESSION/{ref}",
                "token": emsp.token(uid, type="APP_USER"),
                "location_id": location_id,
                "evse_uid": f"{station}-1",
                "authorization_reference": ref,
            }

        async def sent_to(cp: Any, action: str) -> dict[str, Any] | None:
            return next((p for a, p in cp.received_calls if a == action), None)

        async def started_both() -> bool:
            for ref, station in (("s16", cp_id), ("s201", v201_id)):
                if not any(p.endswith(ref) for _, p, _, _ in emsp.received):
                    if (await command("START_SESSION", starting(station, ref)))["result"] != (
                        "ACCEPTED"
                    ):
                        return False
            return True

        assert await eventually(started_both)

        async def results() -> dict[str, str]:
            return {
                p.rsplit("/", 1)[1]: b["result"]
                for m, p, b, _ in emsp.received
                if p.startswith("/commands/")
            }

        async def both_accepted() -> bool:
            return (await results()) == {"s16": "ACCEPTED", "s201": "ACCEPTED"}

        assert await eventually(both_accepted)
        remote16 = await sent_to(v16, "RemoteStartTransaction")
        assert remote16 == {"connectorId": 1, "idTag": uid}
        remote201 = await sent_to(v201, "RequestStartTransaction")
        assert remote201 is not None
        assert remote201["idToken"] == {"idToken": uid, "type": "Central"}

        # The 2.0.1 station starts with the remote start id it was given: a COMMAND session.
        first = tx_event(
            "Started",
            0,
            t0,
            "CM-TX",
            100,
            evse={"id": 1, "connectorId": 1},
            idToken=remote201["idToken"],
            info={"remoteStartId": remote201["remoteStartId"]},
        )
        first["triggerReason"] = "RemoteStart"
        assert (await v201.call("TransactionEvent", first))["idTokenInfo"]["status"] == "Accepted"

        def session_docs() -> list[dict[str, Any]]:
            return [b for m, p, b, _ in emsp.received if p.startswith("/sessions/")]

        async def commanded() -> bool:
            return any(s["auth_method"] == "COMMAND" for s in session_docs())

        assert await eventually(commanded)
        (active,) = session_docs()
        assert active["authorization_reference"] == "s201"
        stop = {
            "response_url": f"{emsp.base}/ocpi/2.2.1/commands/STOP_SESSION/x201",
            "session_id": active["id"],
        }
        assert (await command("STOP_SESSION", stop))["result"] == "ACCEPTED"

        async def stop_sent() -> dict[str, Any] | None:
            return await sent_to(v201, "RequestStopTransaction")

        assert await eventually(stop_sent) == {"transactionId": "CM-TX"}


async def test_republishing_tokens_restores_what_the_session_service_lost(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str, db: Any
) -> None:
    """The session-service's copy of the eMSPs' tokens is lost (a restore); an admin publishes
    them again and the drivers are accepted again."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "T"})).json()
    uid = f"RP{cp_id[-8:].upper()}"
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        await emsp.push(client, suite.roaming_url, ours, uid)
    v16 = await connect_cp(cp_id, 0)
    boot = {"chargePointVendor": "V", "chargePointModel": "X"}
    assert (await v16.call("BootNotification", boot))["status"] == "Accepted"

    async def status() -> str:
        answer = await v16.call("Authorize", {"idTag": uid})
        return str(answer["idTagInfo"]["status"])

    async def accepted() -> bool:
        return await status() == "Accepted"

    assert await eventually(accepted)
    await db.execute("DELETE FROM sessions.roaming_tokens WHERE upper(uid) = $1", uid)
    assert await status() == "Invalid"
    republished = await api.post("/roaming/tokens/republish")
    assert republished.status_code == 200, republished.text
    assert republished.json()["count"] >= 1
    assert await eventually(accepted)


async def test_an_emsp_down_for_a_while_gets_every_location_change_once_back(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    """While the eMSP answers HTTP 500, the Location and its status changes wait in the push
    outbox (retried, the last error in the push log); once it is back it gets them in order,
    the newest status last, nothing lost."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "D"})).json()
    platform_id = invitation["platform"]["id"]
    location_id = f"DN-{cp_id[3:]}"
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        emsp.broken = True
        v16 = await connect_cp(cp_id, 0)
        boot = {"chargePointVendor": "V", "chargePointModel": "X"}
        assert (await v16.call("BootNotification", boot))["status"] == "Accepted"
        site = {
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "evses": [_evse(cp_id)],
        }
        assert (await api.put(f"/roaming/locations/{location_id}", json=site)).status_code == 200
        for status in ("Available", "Preparing", "Faulted"):
            error = "OtherError" if status == "Faulted" else "NoError"
            await v16.call(
                "StatusNotification", {"connectorId": 1, "errorCode": error, "status": status}
            )

        async def failed_and_retried() -> bool:
            log = await api.get(
                "/roaming/pushes", params={"platformId": platform_id, "pending": "true"}
            )
            items = log.json()["items"]
            return any(
                p["attempts"] >= 1 and "HTTP 500" in (p.get("lastError") or "") for p in items
            )

        assert await eventually(failed_and_retried)
        emsp.broken = False

        async def all_there() -> bool:
            log = await api.get(
                "/roaming/pushes", params={"platformId": platform_id, "pending": "true"}
            )
            return log.json()["total"] == 0 and any(m == "PUT" for m, _, _, _ in emsp.received)

        assert await eventually(all_there, timeout=60)
    pushed = [(m, b) for m, p, b, _ in emsp.received if p.startswith("/locations/")]
    assert pushed[0][0] == "PUT", pushed
    # The newest state is the last word (changes superseded while it was down never come).
    method, body = pushed[-1]
    final = body["status"] if method == "PATCH" else body["evses"][0]["status"]
    assert final == "OUTOFORDER", pushed


async def test_the_operators_tariffs_reach_the_emsp(api: httpx.AsyncClient, suite: Suite) -> None:
    """A tariff created over REST is PUT to the eMSP as an OCPI Tariff and listed for pull; a
    deleted one is DELETEd there."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "F"})).json()
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        created = await api.post(
            "/tariffs",
            json={
                "name": f"Roaming {invitation['platform']['id'][:8]}",
                "pricePerKwh": 0.42,
                "sessionFee": 0.5,
                "currency": "EUR",
            },
        )
        assert created.status_code == 201, created.text
        ocpi_id = f"T{created.json()['tariffId']}"

        def pushed(method: str) -> list[dict[str, Any]]:
            return [
                b
                for m, p, b, _ in emsp.received
                if (m, p) == (method, f"/tariffs/DE/CSM/{ocpi_id}")
            ]

        async def put_there() -> bool:
            return bool(pushed("PUT"))

        assert await eventually(put_there)
        (document,) = pushed("PUT")
        components = document["elements"][0]["price_components"]
        assert [(c["type"], c["price"]) for c in components] == [("FLAT", 0.5), ("ENERGY", 0.42)]
        listed = await client.get(
            f"{suite.roaming_url}/2.2.1/tariffs", headers=header(ours), params={"limit": 100}
        )
        assert ocpi_id in [t["id"] for t in listed.json()["data"]]
        gone = await api.delete(f"/tariffs/{created.json()['tariffId']}")
        assert gone.status_code == 204, gone.text

        async def deleted_there() -> bool:
            return any(m == "DELETE" for m, p, _, _ in emsp.received if p.endswith(ocpi_id))

        assert await eventually(deleted_there)
