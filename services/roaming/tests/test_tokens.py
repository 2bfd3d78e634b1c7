"""The tokens receiver: an eMSP pushes its tokens (PUT), changes them (PATCH) and reads them
back (GET), only its own (a hub any party's); the newest last_updated wins; what is not OCPI's
is refused precisely and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roaming import token_store
from roaming.db import outbox, tokens
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble, header

from .test_credentials import invited

URL = "/ocpi/2.2.1/tokens"


async def registered(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    party_id: str | None = None,
    role: str = "EMSP",
) -> tuple[PlatformDouble, str]:
    """An eMSP (or hub) registered with us, and the token it calls us with."""
    platform = PlatformDouble.at(hosts, party_id)
    token_a = await invited(hosts, settings, sessions)
    platform.tokens_accepted = {"b"}
    body = platform.credentials("b")
    body["roles"][0]["role"] = role
    posted = await csms.post("/ocpi/2.2.1/credentials", headers=header(token_a), json=body)
    assert posted.status_code == 200, posted.text
    return platform, posted.json()["data"]["token"]


def token(party_id: str, uid: str, **fields: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": party_id,
        "uid": uid,
        "type": "RFID",
        "contract_id": f"NL-{party_id}-C12345678-X",
        "issuer": "ACME Power",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2026-11-26T10:00:00Z",
    } | fields


async def test_an_emsp_puts_patches_and_gets_its_tokens(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, ours = await registered(csms, hosts, settings, sessions)
    path = f"{URL}/NL/{emsp.party_id}/04A1B2C3D4"
    put = await csms.put(path, headers=header(ours), json=token(emsp.party_id, "04A1B2C3D4"))
    assert put.status_code == 200 and put.json()["status_code"] == 1000, put.text
    got = (await csms.get(path, headers=header(ours))).json()["data"]
    assert got == token(emsp.party_id, "04A1B2C3D4")
    # Case does not matter for the key: nl / lower-case uid name the same token.
    same = await csms.get(f"{URL}/nl/{emsp.party_id.lower()}/04a1b2c3d4", headers=header(ours))
    assert same.status_code == 200 and same.json()["data"]["uid"] == "04A1B2C3D4"

    patched = await csms.patch(
        path, headers=header(ours), json={"valid": False, "last_updated": "2026-11-26T11:00:00Z"}
    )
    assert patched.status_code == 200, patched.text
    now = (await csms.get(path, headers=header(ours))).json()["data"]
    assert (now["valid"], now["last_updated"], now["whitelist"]) == (
        False,
        "2026-11-26T11:00:00Z",
        "ALLOWED",
    )
    # An older push changes nothing, and says so.
    older = await csms.put(
        path,
        headers=header(ours),
        json=token(emsp.party_id, "04A1B2C3D4", last_updated="2026-11-26T09:00:00Z"),
    )
    assert older.status_code == 200 and "newer" in older.json()["status_message"]
    assert (await csms.get(path, headers=header(ours))).json()["data"]["valid"] is False

    # Each push that changed the token left one event in the outbox, the older one none.
    async with sessions() as session:
        bodies = [
            orjson.loads(body)
            for body in (
                await session.execute(
                    select(outbox.c.body)
                    .where(outbox.c.routing_key == "roaming.token_changed")
                    .order_by(outbox.c.id)
                )
            ).scalars()
        ]
    mine = [b for b in bodies if b["uid"] == "04A1B2C3D4" and b["partyId"] == emsp.party_id]
    assert [(b["valid"], b["lastUpdated"]) for b in mine] == [
        (True, "2026-11-26T10:00:00Z"),
        (False, "2026-11-26T11:00:00Z"),
    ]
    assert mine[0]["countryCode"] == "NL" and mine[0]["whitelist"] == "ALLOWED"

    # Another type is another token.
    app = await csms.get(path, headers=header(ours), params={"type": "APP_USER"})
    assert (app.status_code, app.json()["status_code"]) == (404, 2004)


async def test_bad_pushes_are_refused_precisely_and_change_nothing(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, ours = await registered(csms, hosts, settings, sessions)
    pid = emsp.party_id
    path = f"{URL}/NL/{pid}/T1"
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("other uid", token(pid, "T2"), "URL"),
        ("other type", token(pid, "T1", type="APP_USER"), "URL"),
        (
            "no whitelist",
            {k: v for k, v in token(pid, "T1").items() if k != "whitelist"},
            "whitelist",
        ),
        ("bad whitelist", token(pid, "T1", whitelist="SOMETIMES"), "whitelist"),
        ("long contract", token(pid, "T1", contract_id="C" * 37), "contract_id"),
        ("control char", token(pid, "T1", issuer="ACME\nPower"), "issuer"),
        ("bad time", token(pid, "T1", last_updated="yesterday"), "last_updated"),
    ]
    for name, body, field in cases:
        refused = await csms.put(path, headers=header(ours), json=body)
        assert (refused.status_code, refused.json()["status_code"]) == (400, 2001), name
        assert field in refused.json()["status_message"], (name, refused.text)
    assert (await csms.get(path, headers=header(ours))).status_code == 404

    missing = await csms.patch(
        path, headers=header(ours), json={"valid": False, "last_updated": "2026-11-26T11:00:00Z"}
    )
    assert (missing.status_code, missing.json()["status_code"]) == (404, 2004)
    assert (await csms.put(path, headers=header(ours), json=token(pid, "T1"))).status_code == 200
    no_time = await csms.patch(path, headers=header(ours), json={"valid": False})
    assert (no_time.status_code, no_time.json()["status_code"]) == (400, 2001)
    moved = await csms.patch(
        path, headers=header(ours), json={"uid": "T9", "last_updated": "2026-11-26T12:00:00Z"}
    )
    assert (moved.status_code, moved.json()["status_code"]) == (400, 2001)
    nulled = await csms.patch(
        path, headers=header(ours), json={"issuer": None, "last_updated": "2026-11-26T12:00:00Z"}
    )
    assert (nulled.status_code, nulled.json()["status_code"]) == (400, 2001), nulled.text
    assert (await csms.get(path, headers=header(ours))).json()["data"] == token(pid, "T1")
    bad_path = await csms.put(f"{URL}/NLD/{pid}/T1", headers=header(ours), json=token(pid, "T1"))
    assert bad_path.status_code == 400


async def test_a_party_reaches_only_its_own_tokens_and_a_hub_any(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    first, first_token = await registered(csms, hosts, settings, sessions)
    _second, second_token = await registered(csms, hosts, settings, sessions)
    path = f"{URL}/NL/{first.party_id}/SHARED1"
    assert (
        await csms.put(path, headers=header(first_token), json=token(first.party_id, "SHARED1"))
    ).status_code == 200
    for method in ("GET", "PUT"):
        other = await csms.request(
            method, path, headers=header(second_token), json=token(first.party_id, "SHARED1")
        )
        assert other.status_code == 404, (method, other.text)
    _hub, hub_token = await registered(csms, hosts, settings, sessions, role="HUB")
    assert (await csms.get(path, headers=header(hub_token))).status_code == 200


async def test_token_a_cannot_push_tokens(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    token_a = await invited(hosts, settings, sessions)
    refused = await csms.put(f"{URL}/NL/ABC/T1", headers=header(token_a), json=token("ABC", "T1"))
    assert refused.status_code == 401


def routed(frm: tuple[str, str] | None = None, to: tuple[str, str] | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if frm is not None:
        headers |= {"OCPI-from-country-code": frm[0], "OCPI-from-party-id": frm[1]}
    if to is not None:
        headers |= {"OCPI-to-country-code": to[0], "OCPI-to-party-id": to[1]}
    return headers


async def test_routing_headers_are_checked_and_answered_the_other_way_round(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, emsp_token = await registered(csms, hosts, settings, sessions)
    _hub, hub_token = await registered(csms, hosts, settings, sessions, role="HUB")
    ours = (settings.country_code, settings.party_id)
    path = f"{URL}/NL/{emsp.party_id}/R1"
    body = token(emsp.party_id, "R1")

    # The eMSP itself, saying who it is and to whom: answered from us, to it.
    direct = await csms.put(
        path,
        headers=header(emsp_token) | routed(("nl", emsp.party_id.lower()), ours),
        json=body,
    )
    assert direct.status_code == 200, direct.text
    assert (direct.headers["ocpi-from-country-code"], direct.headers["ocpi-from-party-id"]) == ours
    assert (direct.headers["ocpi-to-country-code"], direct.headers["ocpi-to-party-id"]) == (
        "NL",
        emsp.party_id,
    )
    # Through the hub, for the eMSP: fine; for a party other than the token's owner: not.
    via_hub = await csms.get(path, headers=header(hub_token) | routed(("NL", emsp.party_id)))
    assert via_hub.status_code == 200, via_hub.text
    other = await csms.get(path, headers=header(hub_token) | routed(("NL", "ZZZ")))
    assert other.status_code == 404, other.text
    # The eMSP claiming to be another party, or writing to another CPO, or half a pair.
    posing = await csms.get(path, headers=header(emsp_token) | routed(("DE", "XYZ")))
    assert posing.status_code == 404, posing.text
    # An error answer carries the routing headers as well.
    assert posing.headers["ocpi-from-party-id"] == ours[1]
    assert posing.headers["ocpi-to-party-id"] == "XYZ"
    elsewhere = await csms.get(path, headers=header(emsp_token) | routed(to=("FR", "ABC")))
    assert (elsewhere.status_code, elsewhere.json()["status_code"]) == (400, 2001)
    half = await csms.get(path, headers=header(emsp_token) | {"OCPI-from-party-id": "ABC"})
    assert (half.status_code, half.json()["status_code"]) == (400, 2001)


async def test_republishing_goes_page_by_page_over_every_token(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, ours = await registered(csms, hosts, settings, sessions)
    for n in range(5):
        uid = f"RPB{n}"
        put = await csms.put(
            f"{URL}/NL/{emsp.party_id}/{uid}", headers=header(ours), json=token(emsp.party_id, uid)
        )
        assert put.status_code == 200, put.text
    async with sessions() as session:
        stored = (await session.execute(select(func.count()).select_from(tokens))).scalar_one()
    seen, after, pages = 0, None, 0
    while True:
        async with sessions.begin() as session:
            count, after = await token_store.republish(session, after, 2)
        seen, pages = seen + count, pages + 1
        if after is None:
            break
    assert seen == stored and pages >= 3
