"""API_LOCAL_LIST_RESYNC: a CP's Local Authorization List follows changes of its id tags (and of
the tokens eMSPs pushed, for a list that holds them) without an operator asking, and a CP
offline at the change gets them when it connects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Suite
from tests.integration.ocpi_platform import PlatformDouble
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_local_list_sync import BOOT, answering, local_auth_configuration

pytestmark = pytest.mark.integration

_answer = answering(local_auth_configuration(send_max=20, list_max=20))
# A list of every id tag holds those of the whole suite's run: no length it could exceed.
_answer_long = answering(local_auth_configuration(send_max=1000, list_max=1_000_000))


@pytest.fixture
async def resyncing(suite: Any) -> AsyncIterator[None]:
    """command-api with the setting on for this test, and off again after it."""
    suite.restart_service(
        "command-api", API_LOCAL_LIST_RESYNC="true", API_LOCAL_LIST_RESYNC_DELAY="0.5"
    )
    try:
        yield
    finally:
        suite.restart_service("command-api", API_LOCAL_LIST_RESYNC="false")


async def _connected(
    connect_cp: Any, api: httpx.AsyncClient, cp_id: str, answer: Any = _answer
) -> ChargePointClient:
    cp: ChargePointClient = await connect_cp(cp_id)
    cp.responder = answer
    await cp.call("BootNotification", BOOT)
    read = await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})
    assert read.is_success, read.text

    async def configured() -> bool:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        return any(e["key"] == "SendLocalListMaxLength" for e in doc.get("configuration", []))

    await eventually(configured)
    return cp


def _sent(cp: ChargePointClient) -> dict[str, Any]:
    """What the CP's list was told per id tag, the last word winning (None: removed)."""
    entries: dict[str, Any] = {}
    for action, payload in cp.received_calls:
        if action == "SendLocalList":
            for entry in payload["localAuthorizationList"]:
                entries[entry["idTag"]] = entry.get("idTagInfo")
    return entries


async def test_changed_tags_reach_the_cps_list_and_an_offline_cp_gets_them_on_connecting(
    resyncing: None, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    parent = f"P{uuid.uuid4().hex[:8]}"
    first, second, later, away = (f"{parent}-{n}" for n in "abcd")
    assert (await api.post("/id-tags", json={"idTag": parent})).status_code == 201
    for tag in (first, second):
        created = await api.post("/id-tags", json={"idTag": tag, "parentIdTag": parent})
        assert created.status_code == 201
    cp = await _connected(connect_cp, api, cp_id)
    synced = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert synced.status_code == 200, synced.text
    assert synced.json()["complete"] is True

    # Two changes in the scope: no operator asks, the CP's list follows.
    created = await api.post("/id-tags", json={"idTag": later, "parentIdTag": parent})
    assert created.status_code == 201
    assert (await api.post(f"/id-tags/{first}/block")).is_success

    async def followed() -> bool:
        sent = _sent(cp)
        return sent.get(later) == {"status": "Accepted", "parentIdTag": parent} and sent.get(
            first
        ) == {"status": "Blocked", "parentIdTag": parent}

    await eventually(followed)
    resyncs = [
        payload
        for action, payload in cp.received_calls[1:]
        if action == "SendLocalList" and payload["updateType"] == "Differential"
    ]
    assert resyncs, cp.received_calls
    audit = (
        await api.get("/commands", params={"chargePointId": cp_id, "action": "SendLocalList"})
    ).json()
    assert "system:local-list-resync" in {c["requestedBy"] for c in audit["items"]}

    # Offline when a tag changes: the change reaches it once it connects again.
    await cp.close()

    async def offline() -> bool:
        return (await api.get(f"/charge-points/{cp_id}")).json()["online"] is False

    await eventually(offline)
    created = await api.post("/id-tags", json={"idTag": away, "parentIdTag": parent})
    assert created.status_code == 201
    back = await _connected(connect_cp, api, cp_id)

    async def told() -> bool:
        return _sent(back).get(away) is not None

    await eventually(told)
    assert _sent(back)[away] == {"status": "Accepted", "parentIdTag": parent}

    # The version the CP accepted last is recorded, as for an operator's sync.
    newest = max(p["listVersion"] for a, p in back.received_calls if a == "SendLocalList")

    async def recorded() -> bool:
        doc = (await api.get(f"/charge-points/{cp_id}/local-list")).json()
        return bool(doc.get("listVersion") == newest)

    await eventually(recorded)


async def test_a_tag_changed_while_the_list_is_sent_is_sent_after_it(
    resyncing: None, api: httpx.AsyncClient, connect_cp: Any, cp_id: str, db: Any
) -> None:
    parent = f"P{uuid.uuid4().hex[:8]}"
    first, during = f"{parent}-a", f"{parent}-b"
    assert (await api.post("/id-tags", json={"idTag": parent})).status_code == 201
    created = await api.post("/id-tags", json={"idTag": first, "parentIdTag": parent})
    assert created.status_code == 201
    cp = await _connected(connect_cp, api, cp_id)
    synced = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert synced.status_code == 200, synced.text

    async def marked() -> bool:
        stale = await db.fetchval(
            "SELECT stale FROM commands.local_list_syncs WHERE charge_point_id = $1", cp_id
        )
        return bool(stale)

    # The operator's next sync is under way (the CP holds its answer) when a tag of the scope
    # is added and the list is marked stale; the sync ending must not clear that mark.
    held: list[dict[str, Any]] = []

    async def answer_after_a_change(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "SendLocalList" and not held:
            held.append(payload)
            added = await api.post("/id-tags", json={"idTag": during, "parentIdTag": parent})
            assert added.status_code == 201
            await eventually(marked)
        return await _answer(action, payload)

    cp.responder = answer_after_a_change
    again = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["complete"] is True
    assert during not in {e["idTag"] for e in held[0]["localAuthorizationList"]}

    async def followed() -> bool:
        return _sent(cp).get(during) == {"status": "Accepted", "parentIdTag": parent}

    await eventually(followed)


async def test_an_emsps_token_reaches_the_list_and_leaves_it_once_no_longer_valid(
    resyncing: None, api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str, db: Any
) -> None:
    """A list of every id tag with `roamingTokens` holds the eMSPs' tokens a station may accept
    (a 1.6 CP's none over 20 characters), and a change of one reaches it as an id tag's does."""
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "L"})).json()
    suffix = cp_id[-6:].upper()
    ok, never, long = f"L{suffix}01", f"L{suffix}02", f"L{suffix}03".ljust(21, "0")
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        await emsp.push(client, suite.roaming_url, ours, ok, whitelist="ALLOWED_OFFLINE")
        await emsp.push(client, suite.roaming_url, ours, never, whitelist="NEVER")
        await emsp.push(client, suite.roaming_url, ours, long, whitelist="ALWAYS")

        async def followed() -> bool:
            held = await db.fetchval(
                "SELECT count(*) FROM sessions.roaming_tokens WHERE uid = ANY($1)",
                [ok, never, long],
            )
            return bool(held == 3)

        await eventually(followed)
        cp = await _connected(connect_cp, api, cp_id, _answer_long)
        synced = await api.post(
            f"/charge-points/{cp_id}/local-list/sync", json={"roamingTokens": True}
        )
        assert synced.status_code == 200, synced.text
        result = synced.json()
        assert result["complete"] is True and result["leftOut"] >= 1, result
        sent = _sent(cp)
        assert sent[ok] == {"status": "Accepted"}
        assert never not in sent and long not in sent

        # The eMSP says the card is no longer valid: the CP's list loses it, unasked.
        await emsp.push(
            client, suite.roaming_url, ours, ok, valid=False, last_updated="2026-11-26T11:00:00Z"
        )

        async def removed() -> bool:
            return ok in _sent(cp) and _sent(cp)[ok] is None

        await eventually(removed)
    resyncs = [
        payload
        for action, payload in cp.received_calls
        if action == "SendLocalList" and payload["updateType"] == "Differential"
    ]
    assert resyncs[-1]["localAuthorizationList"] == [{"idTag": ok}], resyncs[-1]
    audit = (
        await api.get("/commands", params={"chargePointId": cp_id, "action": "SendLocalList"})
    ).json()
    assert "system:local-list-resync" in {c["requestedBy"] for c in audit["items"]}
