"""The credentials handshake both ways, token rotation and unregistering, against the real
database, with eMSP platforms that call back as parties do; and what a caller without a good
token gets."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roaming import platforms
from roaming.ocpi_api.app import create_app
from roaming.ocpi_client import OcpiClient, PartyError
from roaming.platforms import PlatformState
from roaming.registration import RegistrationRefused, Registrations
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble, header


def registrations(hosts: Hosts, settings: Settings, sessions: Any) -> Registrations:
    return Registrations(sessions, OcpiClient(5.0, None, transport=hosts), settings)


async def invited(hosts: Hosts, settings: Settings, sessions: Any) -> str:
    _, token_a = await registrations(hosts, settings, sessions).invite("eMSP under test")
    return token_a


async def test_no_token_an_unknown_one_or_a_malformed_header_is_401(
    csms: httpx.AsyncClient,
) -> None:
    for headers in (
        {},
        header("never-issued"),
        {"Authorization": "Bearer abc"},
        {"Authorization": "Token"},
    ):
        answer = await csms.get("/ocpi/versions", headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        body = answer.json()
        assert body["status_code"] == 2000 and "data" not in body and body["timestamp"]
        assert answer.headers["www-authenticate"] == "Token"


async def test_token_a_reads_versions_and_details_and_ids_are_echoed(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    token_a = await invited(hosts, settings, sessions)
    answer = await csms.get(
        "/ocpi/versions",
        headers=header(token_a) | {"X-Request-ID": "req-1", "X-Correlation-ID": "cor-1"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == [{"version": "2.2.1", "url": "http://csms.test/ocpi/2.2.1"}]
    assert (answer.headers["x-request-id"], answer.headers["x-correlation-id"]) == (
        "req-1",
        "cor-1",
    )
    details = (await csms.get("/ocpi/2.2.1", headers=header(token_a))).json()["data"]
    assert details == {
        "version": "2.2.1",
        "endpoints": [
            {
                "identifier": "credentials",
                "role": "SENDER",
                "url": "http://csms.test/ocpi/2.2.1/credentials",
            },
            {
                "identifier": "locations",
                "role": "SENDER",
                "url": "http://csms.test/ocpi/2.2.1/locations",
            },
            {
                "identifier": "sessions",
                "role": "SENDER",
                "url": "http://csms.test/ocpi/2.2.1/sessions",
            },
            {
                "identifier": "cdrs",
                "role": "SENDER",
                "url": "http://csms.test/ocpi/2.2.1/cdrs",
            },
            {
                "identifier": "tariffs",
                "role": "SENDER",
                "url": "http://csms.test/ocpi/2.2.1/tariffs",
            },
            {
                "identifier": "tokens",
                "role": "RECEIVER",
                "url": "http://csms.test/ocpi/2.2.1/tokens",
            },
            {
                "identifier": "commands",
                "role": "RECEIVER",
                "url": "http://csms.test/ocpi/2.2.1/commands",
            },
        ],
    }
    fresh = await csms.get("/ocpi/versions", headers=header(token_a))
    assert fresh.headers["x-request-id"] and fresh.headers["x-correlation-id"]


async def test_a_plain_token_is_accepted_only_when_allowed(
    hosts: Hosts, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    token_a = await invited(hosts, settings, sessions)
    plain = {"Authorization": f"Token {token_a}"}
    strict = settings.model_copy(update={"accept_plain_tokens": False})
    hosts.add("strict.test", create_app(strict, sessions, OcpiClient(5.0, None, transport=hosts)))
    async with httpx.AsyncClient(transport=hosts) as client:
        assert (
            await client.get("http://csms.test/ocpi/versions", headers=plain)
        ).status_code == 200
        refused = await client.get("http://strict.test/ocpi/versions", headers=plain)
        assert refused.status_code == 401
        encoded = await client.get("http://strict.test/ocpi/versions", headers=header(token_a))
        assert encoded.status_code == 200


async def test_an_emsp_registers_with_token_a_updates_and_unregisters(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    platform: PlatformDouble,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    token_a = await invited(hosts, settings, sessions)
    platform.tokens_accepted = {"emsp-b"}
    posted = await csms.post(
        "/ocpi/2.2.1/credentials", headers=header(token_a), json=platform.credentials("emsp-b")
    )
    assert posted.status_code == 200, posted.text
    ours = posted.json()["data"]
    token_c = ours["token"]
    assert token_c != token_a and len(token_c) >= 32
    assert ours["url"] == "http://csms.test/ocpi/versions"
    assert ours["roles"] == [
        {
            "role": "CPO",
            "business_details": {"name": settings.business_name},
            "party_id": settings.party_id,
            "country_code": settings.country_code,
        }
    ]
    # It read the eMSP's versions and details with token B, during the POST.
    assert [(m, p, t) for m, p, t in platform.seen] == [
        ("GET", "/ocpi/versions", "emsp-b"),
        ("GET", "/ocpi/2.2.1", "emsp-b"),
    ]
    assert (await csms.get("/ocpi/versions", headers=header(token_a))).status_code == 401
    assert (await csms.get("/ocpi/versions", headers=header(token_c))).status_code == 200
    got = (await csms.get("/ocpi/2.2.1/credentials", headers=header(token_c))).json()["data"]
    assert got["token"] == token_c
    again = await csms.post(
        "/ocpi/2.2.1/credentials", headers=header(token_c), json=platform.credentials("emsp-b")
    )
    assert (again.status_code, again.json()["status_code"]) == (405, 2000)

    async with sessions() as session:
        (found,) = [p for p in await platforms.listed(session) if p.their_token == "emsp-b"]
    assert (found.state, found.version, found.versions_url) == (
        PlatformState.REGISTERED,
        "2.2.1",
        platform.versions_url,
    )
    assert [(r["country_code"], r["party_id"], r["role"]) for r in found.roles] == [
        ("NL", platform.party_id, "EMSP")
    ]
    assert {e["identifier"] for e in found.endpoints} == {
        "credentials",
        "tokens",
        "locations",
        "sessions",
        "cdrs",
        "tariffs",
    }

    # PUT: new tokens both ways, the old one of ours stops working.
    platform.tokens_accepted = {"emsp-b2"}
    put = await csms.put(
        "/ocpi/2.2.1/credentials", headers=header(token_c), json=platform.credentials("emsp-b2")
    )
    assert put.status_code == 200, put.text
    token_c2 = put.json()["data"]["token"]
    assert token_c2 != token_c
    assert (await csms.get("/ocpi/versions", headers=header(token_c))).status_code == 401
    async with sessions() as session:
        updated = await platforms.get(session, found.id)
    assert updated is not None and updated.their_token == "emsp-b2"

    deleted = await csms.delete("/ocpi/2.2.1/credentials", headers=header(token_c2))
    assert deleted.status_code == 200 and deleted.json()["status_code"] == 1000
    assert (await csms.get("/ocpi/versions", headers=header(token_c2))).status_code == 401
    async with sessions() as session:
        ended = await platforms.get(session, found.id)
    assert ended is not None
    assert (ended.state, ended.their_token, ended.roles, ended.unregistered_by) == (
        PlatformState.UNREGISTERED,
        None,
        [],
        "them",
    )


async def test_put_or_delete_before_registering_is_405(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    platform: PlatformDouble,
    settings: Settings,
    sessions: Any,
) -> None:
    token_a = await invited(hosts, settings, sessions)
    put = await csms.put(
        "/ocpi/2.2.1/credentials", headers=header(token_a), json=platform.credentials("x")
    )
    assert put.status_code == 405 and put.json()["status_code"] == 2000
    assert (
        await csms.delete("/ocpi/2.2.1/credentials", headers=header(token_a))
    ).status_code == 405
    assert platform.seen == []  # nothing was fetched


async def test_a_bad_registration_is_refused_precisely_and_changes_nothing(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    platform: PlatformDouble,
    settings: Settings,
    sessions: Any,
) -> None:
    token_a = await invited(hosts, settings, sessions)
    url = "/ocpi/2.2.1/credentials"
    body = platform.credentials("emsp-b")
    platform.tokens_accepted = {"emsp-b"}

    missing = await csms.post(url, headers=header(token_a), json={"token": "t", "url": body["url"]})
    assert (missing.status_code, missing.json()["status_code"]) == (400, 2001)
    assert "roles" in missing.json()["status_message"]
    spaced = await csms.post(url, headers=header(token_a), json=body | {"token": "a b"})
    assert (spaced.status_code, spaced.json()["status_code"]) == (400, 2001)
    assert "token" in spaced.json()["status_message"]
    not_json = await csms.post(
        url, headers=header(token_a) | {"Content-Type": "application/json"}, content=b"{"
    )
    assert (not_json.status_code, not_json.json()["status_code"]) == (400, 2001)

    ours = body | {
        "roles": [
            {
                "role": "CPO",
                "business_details": {"name": "impostor"},
                "party_id": settings.party_id.lower(),
                "country_code": settings.country_code,
            }
        ]
    }
    impostor = await csms.post(url, headers=header(token_a), json=ours)
    assert (impostor.status_code, impostor.json()["status_code"]) == (400, 2001)

    platform.broken = True
    broken = await csms.post(url, headers=header(token_a), json=body)
    assert (broken.status_code, broken.json()["status_code"]) == (400, 3001)
    platform.broken = False

    platform.versions_offered = ("2.1.1",)
    old = await csms.post(url, headers=header(token_a), json=body)
    assert (old.status_code, old.json()["status_code"]) == (400, 3002)
    assert "2.1.1" in old.json()["status_message"]
    platform.versions_offered = ("2.1.1", "2.2.1")

    # None of it registered anything: token A still registers.
    fine = await csms.post(url, headers=header(token_a), json=body)
    assert fine.status_code == 200, fine.text


async def test_a_party_registered_on_one_platform_is_refused_on_another(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    first = PlatformDouble.at(hosts, party_id="DUP")
    second = PlatformDouble.at(hosts, party_id="dup")
    first.tokens_accepted, second.tokens_accepted = {"b1"}, {"b2"}
    url = "/ocpi/2.2.1/credentials"
    token_1 = await invited(hosts, settings, sessions)
    token_2 = await invited(hosts, settings, sessions)
    assert (
        await csms.post(url, headers=header(token_1), json=first.credentials("b1"))
    ).status_code == 200
    taken = await csms.post(url, headers=header(token_2), json=second.credentials("b2"))
    assert (taken.status_code, taken.json()["status_code"]) == (400, 2001)
    assert "NL-DUP EMSP" in taken.json()["status_message"]


async def test_we_register_with_an_emsp_rotate_and_unregister(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    platform: PlatformDouble,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rules = registrations(hosts, settings, sessions)
    platform.tokens_accepted = {"emsp-a"}
    platform_id = await rules.register_with("An eMSP", platform.versions_url, "emsp-a")
    # While our POST was open it read our versions with the token B we handed it.
    assert platform.calls_back == [200]
    token_b = platform.their_token
    assert token_b is not None
    (theirs,) = platform.tokens_accepted
    async with sessions() as session:
        found = await platforms.get(session, platform_id)
    assert found is not None
    assert (found.state, found.their_token, found.name) == (
        PlatformState.REGISTERED,
        theirs,
        "An eMSP",
    )
    assert (await csms.get("/ocpi/versions", headers=header(token_b))).status_code == 200

    await rules.rotate(platform_id)
    new_b = platform.their_token
    assert new_b != token_b and platform.calls_back == [200, 200]
    assert (await csms.get("/ocpi/versions", headers=header(token_b))).status_code == 401
    assert (await csms.get("/ocpi/versions", headers=header(new_b or ""))).status_code == 200
    (rotated,) = platform.tokens_accepted
    async with sessions() as session:
        after = await platforms.get(session, platform_id)
    assert after is not None and after.their_token == rotated

    assert await rules.unregister(platform_id) is None
    assert platform.seen[-1][:2] == ("DELETE", "/ocpi/2.2.1/credentials")
    assert platform.tokens_accepted == set()
    assert (await csms.get("/ocpi/versions", headers=header(new_b or ""))).status_code == 401
    try:
        await rules.rotate(platform_id)
    except RegistrationRefused as exc:
        assert exc.http == 409 and "unregistered" in str(exc)
    else:
        raise AssertionError("an unregistered platform was rotated")


async def test_registering_with_a_platform_that_cannot_be_used_keeps_nothing(
    hosts: Hosts, platform: PlatformDouble, settings: Settings, sessions: Any
) -> None:
    rules = registrations(hosts, settings, sessions)
    async with sessions() as session:
        before = len(await platforms.listed(session))
    platform.tokens_accepted = {"emsp-a"}
    for token, expected in (("wrong", "OCPI status 2000"), ("emsp-a", "offers no OCPI 2.2.1")):
        platform.versions_offered = ("2.1.1",) if token == "emsp-a" else ("2.2.1",)
        try:
            await rules.register_with("x", platform.versions_url, token)
        except PartyError as exc:
            assert expected in str(exc), exc
        else:
            raise AssertionError("registered")
    try:
        await rules.register_with("x", "http://nowhere.test/ocpi/versions", "t")
    except PartyError as exc:
        assert "ConnectError" in str(exc)
    async with sessions() as session:
        assert len(await platforms.listed(session)) == before
