"""Real-time authorization: the roaming service asks a token's eMSP (`POST {tokens}/{uid}/
authorize`), names the station's location and EVSEs, stores every answer, tells an ALLOWED again
at the same station for a while, and says why when no answer came; a Session started after an
ALLOWED is AUTH_REQUEST with the eMSP's reference."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.contracts.rpc_roaming import AuthorizeToken, TokenAuthorization
from roaming import authorizations
from roaming.ocpi.cdrs import AuthMethod
from roaming.ocpi_client import OcpiClient
from roaming.platforms import now
from roaming.session_documents import Authorized
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble, header
from tests.integration.support import eventually

from .test_tokens import URL, registered, token

_N = itertools.count(1)


async def _emsp_with(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    whitelist: str = "NEVER",
) -> tuple[PlatformDouble, str, str]:
    """A registered eMSP with one token of `whitelist`; the token's uid, and the credentials
    token the eMSP calls us with."""
    emsp, ours = await registered(csms, hosts, settings, sessions)
    uid = f"RT{next(_N):04d}{emsp.party_id}"
    put = await csms.put(
        f"{URL}/NL/{emsp.party_id}/{uid}",
        headers=header(ours),
        json=token(emsp.party_id, uid, whitelist=whitelist),
    )
    assert put.status_code == 200, put.text
    return emsp, uid, ours


async def _ask(
    sessions: async_sessionmaker[AsyncSession],
    hosts: Hosts,
    settings: Settings,
    emsp: PlatformDouble,
    uid: str,
    cp: str,
) -> TokenAuthorization:
    client = OcpiClient(5.0, None, transport=hosts)
    asked = AuthorizeToken(
        country_code="nl",
        party_id=emsp.party_id.lower(),
        uid=uid.lower(),
        type="RFID",
        charge_point_id=cp,
    )
    try:
        async with sessions() as session, session.begin():
            return await authorizations.authorize(session, client, settings, asked)
    finally:
        await client.close()


def _asks(emsp: PlatformDouble, uid: str) -> list[tuple[Any, dict[str, str]]]:
    path = f"/tokens/{uid}/authorize?type=RFID"
    return [(b, r) for m, p, b, r in emsp.received if (m, p) == ("POST", path)]


async def _started(
    sessions: async_sessionmaker[AsyncSession], emsp: PlatformDouble, uid: str, cp: str, at: Any
) -> Authorized | None:
    async with sessions() as session:
        return await authorizations.started_by_request(
            session, ("NL", emsp.party_id, uid, "RFID"), cp, at
        )


async def test_an_allowed_is_asked_once_and_told_again_at_that_station_for_a_while(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, uid, _ = await _emsp_with(csms, hosts, settings, sessions)
    emsp.verdicts = {uid: "ALLOWED"}
    first = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-1")
    assert first == TokenAuthorization(
        allowed="ALLOWED", authorization_reference=f"REF-{uid}", asked=True
    )
    [(body, routing)] = _asks(emsp, uid)
    # The station is in no published location: the request names none.
    assert body == {}
    assert routing["ocpi-to-country-code"] == "NL"
    assert routing["ocpi-to-party-id"] == emsp.party_id
    assert routing["ocpi-from-party-id"] == settings.party_id
    # The start that follows: told again, not asked.
    again = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-1")
    assert again == TokenAuthorization(
        allowed="ALLOWED", authorization_reference=f"REF-{uid}", asked=False
    )
    assert len(_asks(emsp, uid)) == 1
    # Another station is another authorization.
    elsewhere = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-2")
    assert elsewhere.asked and elsewhere.allowed == "ALLOWED"
    assert len(_asks(emsp, uid)) == 2
    # A Session started there now is AUTH_REQUEST with the eMSP's reference; one started long
    # after, or at a station it was not asked for, is not.
    at = now()
    assert await _started(sessions, emsp, uid, "CP-RT-1", at) == Authorized(
        AuthMethod.AUTH_REQUEST, f"REF-{uid}"
    )
    assert await _started(sessions, emsp, uid, "CP-RT-1", at + timedelta(hours=2)) is None
    assert await _started(sessions, emsp, uid, "CP-RT-3", at) is None


async def test_a_refusal_is_asked_again_and_no_answer_says_why(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, uid, _ = await _emsp_with(csms, hosts, settings, sessions)
    emsp.verdicts = {uid: "BLOCKED"}
    refused = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-4")
    assert (refused.allowed, refused.asked) == ("BLOCKED", True)
    # The card presented again at once: the refusal told again, the eMSP not asked again.
    again = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-4")
    assert (again.allowed, again.asked) == ("BLOCKED", False)
    assert len(_asks(emsp, uid)) == 1
    assert await _started(sessions, emsp, uid, "CP-RT-4", now()) is None

    # The eMSP does not know the token (404, OCPI 2004): no answer, and the reason.
    emsp.verdicts = {}
    unknown = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-4B")
    assert unknown.allowed is None and unknown.asked
    assert unknown.reason is not None and "2004" in unknown.reason, unknown

    # Too slow: no answer past ROAMING_AUTHORIZE_TIMEOUT.
    emsp.verdicts = {uid: "ALLOWED"}
    emsp.verdict_delay = 0.5
    hasty = settings.model_copy(update={"authorize_timeout": 0.1})
    slow = await _ask(sessions, hosts, hasty, emsp, uid, "CP-RT-5")
    assert slow == TokenAuthorization(asked=True, reason="no answer within 0.1 s")
    emsp.verdict_delay = 0.0
    # Silent once: not asked again for a while (BREAKER_TIMES of its timeout), whatever the
    # station; each ask answered at once with no answer, the whitelist's fallback.
    before = len(_asks(emsp, uid))
    held = await _ask(sessions, hosts, hasty, emsp, uid, "CP-RT-5B")
    assert (held.allowed, held.asked) == (None, False)
    assert held.reason is not None and "did not answer" in held.reason
    assert len(_asks(emsp, uid)) == before

    # An ALLOWED followed by an ask without an answer: the newest ask decides the Session's
    # method (accepted offline is WHITELIST).
    fresh = hasty.model_copy(update={"authorization_reuse": 0.0})

    async def answered_again() -> bool:
        # Once the breaker's second (10 x 0.1 s) is over, the eMSP is asked, and answers.
        return (await _ask(sessions, hosts, fresh, emsp, uid, "CP-RT-6")).allowed == "ALLOWED"

    assert await eventually(answered_again, timeout=10, interval=0.2)
    emsp.broken = True
    assert (await _ask(sessions, hosts, fresh, emsp, uid, "CP-RT-6")).allowed is None
    emsp.broken = False
    assert await _started(sessions, emsp, uid, "CP-RT-6", now()) is None


async def test_nobody_is_asked_for_a_token_it_does_not_know_or_a_platform_gone(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, uid, ours = await _emsp_with(csms, hosts, settings, sessions)
    missing = await _ask(sessions, hosts, settings, emsp, "NO-SUCH-TOKEN", "CP-RT-7")
    assert missing == TokenAuthorization(asked=False, reason="no such token")
    # The eMSP unregisters: its tokens stay, and nobody is asked.
    deleted = await csms.delete("/ocpi/2.2.1/credentials", headers=header(ours))
    assert deleted.status_code == 200, deleted.text
    emsp.verdicts = {uid: "ALLOWED"}
    gone = await _ask(sessions, hosts, settings, emsp, uid, "CP-RT-7")
    assert gone == TokenAuthorization(asked=True, reason="the token's platform is not registered")
    assert _asks(emsp, uid) == []
