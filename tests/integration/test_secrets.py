"""Secrets a command carries stay with the CP: fleet batches, URL passwords, echoed errors and
padded key names (security, third pass: items 1-4)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from tests.integration.receivers import Receiver
from tests.integration.support import CallErrorReply, ChargePointClient, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
SECRET = "pw-" + uuid.uuid4().hex  # an AuthorizationKey, or the password inside a URL


async def key_of(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    """The Authorization header of a new API key with `role`."""
    created = await api.post("/api-keys", json={"name": f"{role}-{uuid.uuid4().hex}", "role": role})
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


@pytest.fixture
async def completed_events(suite: Any) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of every `command.completed` from now on."""
    connection = await aio_pika.connect(suite.infra.broker_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(await channel.get_exchange("ocpp.events"), "command.completed")
    yield queue
    await connection.close()


async def drained(queue: aio_pika.abc.AbstractQueue, cp_id: str, count: int) -> list[bytes]:
    """The `count` bodies of `cp_id`'s events, waiting for them."""
    bodies: list[bytes] = []

    async def enough() -> bool:
        while (message := await queue.get(fail=False)) is not None:
            if cp_id.encode() in message.body:
                bodies.append(message.body)
        return len(bodies) >= count

    await eventually(enough)
    return bodies


async def connected(suite: Any, cp_id: str, gateway: int = 0) -> ChargePointClient:
    cp = await ChargePointClient.connect(suite.gateway_url(gateway), cp_id)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    return cp


async def test_a_viewer_never_reads_a_secret_from_a_fleet_batch(
    suite: Any, api: httpx.AsyncClient, db: asyncpg.Connection, cp_id: str, completed_events: Any
) -> None:
    cp = await connected(suite, cp_id)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    sent = await api.post(
        "/commands/ChangeConfiguration",
        json={"chargePointIds": [cp_id], "payload": {"key": "AuthorizationKey", "value": SECRET}},
    )
    assert sent.status_code == 200, sent.text
    assert cp.received_calls[-1][1]["value"] == SECRET  # the CP gets the real value
    batch_id = sent.json()["batchId"]
    viewer = await key_of(api, "viewer")
    batch = await api.get(f"/command-batches/{batch_id}", headers=viewer)
    assert batch.status_code == 200, batch.text
    assert SECRET not in batch.text
    assert batch.json()["request"] == {"key": "AuthorizationKey", "value": "<redacted>"}
    assert SECRET not in sent.text
    stored = await db.fetchval(
        "SELECT request::text FROM commands.command_batches WHERE id = $1", batch_id
    )
    assert SECRET not in stored and "<redacted>" in stored
    assert all(SECRET.encode() not in body for body in await drained(completed_events, cp_id, 1))
    await cp.close()


async def test_url_passwords_and_echoed_secrets_are_redacted_everywhere_they_are_kept(
    suite: Any, api: httpx.AsyncClient, cp_id: str, completed_events: Any
) -> None:
    async with Receiver([]) as receiver:
        hook = await api.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["command.completed"], "secret": "s" * 32},
        )
        assert hook.status_code == 201, hook.text
        try:
            await _url_passwords_and_echoes(suite, api, cp_id, completed_events, receiver)
        finally:
            await api.delete(f"/webhooks/{hook.json()['id']}")


async def _url_passwords_and_echoes(
    suite: Any, api: httpx.AsyncClient, cp_id: str, completed_events: Any, receiver: Receiver
) -> None:
    cp = await connected(suite, cp_id, gateway=1)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "ChangeConfiguration":
            # A CP that repeats the value it refuses, as some do.
            raise CallErrorReply(
                "PropertyConstraintViolation", f"value {SECRET} too long", {"value": SECRET}
            )
        if action == "GetDiagnostics":
            return {"fileName": "diag.zip"}
        if action == "UpdateFirmware":
            return {}
        return {"status": "Accepted"}

    cp.responder = answer
    location = f"ftp://diag:{SECRET}@files.example/upload/"
    commands = [
        ("GetDiagnostics", {"location": location}),
        ("UpdateFirmware", {"location": location, "retrieveDate": "2026-01-01T00:00:00Z"}),
        ("GetLog", {"logType": "DiagnosticsLog", "requestId": 7,
                    "log": {"remoteLocation": location}}),
        (
            "SignedUpdateFirmware",
            {
                "requestId": 8,
                "firmware": {
                    "location": location,
                    "retrieveDateTime": "2026-01-01T00:00:00Z",
                    "signingCertificate": "cert",
                    "signature": "sig",
                },
            },
        ),
    ]  # fmt: skip
    for action, body in commands:
        sent = await api.post(f"/charge-points/{cp_id}/commands/{action}", json=body)
        assert sent.status_code == 200, (action, sent.text)
        assert SECRET not in sent.text
    echoed = await api.post(
        f"/charge-points/{cp_id}/commands/ChangeConfiguration",
        json={"key": "AuthorizationKey", "value": SECRET},
    )
    assert echoed.status_code == 502, echoed.text
    assert SECRET not in echoed.text and "<redacted>" in echoed.json()["errorDescription"]
    # The CP got every secret as it was sent.
    assert [p.get("location") or p.get("value") or p.get("log") or p["firmware"]
            for _, p in cp.received_calls[-5:]] == [
        location, location, {"remoteLocation": location},
        {"location": location, "retrieveDateTime": "2026-01-01T00:00:00Z",
         "signingCertificate": "cert", "signature": "sig"},
        SECRET,
    ]  # fmt: skip

    audit = await api.get("/commands", params={"chargePointId": cp_id})
    assert audit.json()["total"] == 5 and SECRET not in audit.text
    assert audit.text.count("ftp://diag:<redacted>@files.example/upload/") == 4
    events = await drained(completed_events, cp_id, 5)
    assert all(SECRET.encode() not in body for body in events)

    async def logged() -> str | None:
        page = await api.get(f"/charge-points/{cp_id}/messages", params={"limit": 100})
        items = page.json()["items"]
        # Five commands out, five answers in (the boot and its answer besides).
        return page.text if len(items) >= 12 else None

    assert SECRET not in await eventually(logged)

    async def delivered() -> bool:
        return sum(cp_id.encode() in body for _, body in receiver.requests) >= 5

    await eventually(delivered, timeout=30)
    assert all(SECRET.encode() not in body for _, body in receiver.requests)
    for process in [*suite.gateways, *suite.services.values()]:
        assert SECRET not in process.log_path.read_text(errors="replace"), process.name
    await cp.close()


@pytest.mark.parametrize(
    "key", [" AuthorizationKey", "\tAuthorizationKey", "AuthorizationKey ", "Authorization\x1bKey"]
)
async def test_padded_or_control_character_key_names_are_refused(
    suite: Any, api: httpx.AsyncClient, cp_id: str, key: str
) -> None:
    cp = await connected(suite, cp_id)
    base = f"/charge-points/{cp_id}/commands"
    for headers in ({}, await key_of(api, "operator")):
        change = await api.post(
            f"{base}/ChangeConfiguration", json={"key": key, "value": SECRET}, headers=headers
        )
        assert change.status_code == 422, change.text
        assert "key" in change.json()["detail"] and SECRET not in change.text
        listing = await api.post(f"{base}/GetConfiguration", json={"key": [key]}, headers=headers)
        assert listing.status_code == 422, listing.text
    fleet = await api.post(
        "/commands/ChangeConfiguration",
        json={"chargePointIds": [cp_id], "payload": {"key": key, "value": SECRET}},
    )
    assert fleet.status_code == 422, fleet.text
    assert cp.received_calls == []
    await cp.close()


async def test_a_case_changed_secret_key_still_needs_the_admin_and_is_redacted(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    cp = await connected(suite, cp_id)
    operator = await key_of(api, "operator")
    refused = await api.post(
        f"/charge-points/{cp_id}/commands/ChangeConfiguration",
        json={"key": "AUTHORIZATIONKEY", "value": SECRET},
        headers=operator,
    )
    assert refused.status_code == 403, refused.text
    assert cp.received_calls == []
    await cp.close()


async def test_an_operator_cannot_change_who_charges_or_where_a_cp_connects(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    cp = await connected(suite, cp_id)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    operator = await key_of(api, "operator")
    base = f"/charge-points/{cp_id}/commands"
    hand_made = {
        "listVersion": 99,
        "updateType": "Differential",
        "localAuthorizationList": [{"idTag": "STRANGER", "idTagInfo": {"status": "Accepted"}}],
    }
    refused = [
        ("SendLocalList", hand_made),
        *[
            ("ChangeConfiguration", {"key": key, "value": "true"})
            for key in (
                "AllowOfflineTxForUnknownId",
                "LocalAuthorizeOffline",
                "LocalPreAuthorize",
                "AuthorizationCacheEnabled",
            )
        ],
        ("ChangeConfiguration", {"key": "CentralSystemURL", "value": "wss://evil.example/ocpp"}),
    ]
    for action, body in refused:
        response = await api.post(f"{base}/{action}", json=body, headers=operator)
        assert response.status_code == 403, (action, response.text)
    fleet = await api.post(
        "/commands/SendLocalList", json={"chargePointIds": [cp_id], "payload": hand_made},
        headers=operator,
    )  # fmt: skip
    assert fleet.status_code == 403, fleet.text
    assert cp.received_calls == []
    # The operator's way: the list from the id tags, which the suite builds.
    synced = await api.post(f"/charge-points/{cp_id}/local-list/sync", json={}, headers=operator)
    assert synced.status_code == 200, synced.text
    assert [action for action, _ in cp.received_calls] == ["SendLocalList"]
    assert all(
        entry["idTag"] != "STRANGER"
        for _, payload in cp.received_calls
        for entry in payload.get("localAuthorizationList", [])
    )
    # An admin may still send a hand-made list.
    assert (await api.post(f"{base}/SendLocalList", json=hand_made)).status_code == 200
    await cp.close()
