"""Webhooks: events POSTed signed to a back office's URL, retried, in order, logged."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aio_pika import connect
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.integration.accounts import console_client, csrf_token, log_in
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.receivers import Receiver
from tests.integration.support import eventually, metric

pytestmark = pytest.mark.integration

SECRET = "whsec_" + uuid.uuid4().hex


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver([500]) as r:
        yield r


def _valid(headers: dict[str, str], body: bytes) -> bool:
    """Both signatures hold: Standard Webhooks' (checked by its reference library, which also
    refuses a timestamp more than 5 minutes off) and, for one release, X-CSMS-Signature."""
    Webhook(SECRET).verify(body, headers)  # raises WebhookVerificationError
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-csms-signature"], expected)


def _iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def test_transaction_events_reach_the_receiver_signed_again_after_a_500_in_order(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, receiver: Receiver, suite: Any
) -> None:
    port = suite.internal_ports["command-api"]
    unmatched = await metric(port, "csms_webhook_events_total", outcome="unmatched")
    # Its first answer (500) is for this CP's first event, whatever else `transaction.*` matches.
    receiver.scripted_cp = cp_id
    created = await api.post(
        "/webhooks", json={"url": receiver.url, "events": ["transaction.*"], "secret": SECRET}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert "secret" not in hook and hook["enabled"] is True

    tag = f"T{uuid.uuid4().hex[:10]}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    started = await cp.call(
        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": _iso()}
    )
    await cp.call(
        "StopTransaction",
        {"transactionId": started["transactionId"], "meterStop": 1500, "timestamp": _iso()},
    )

    async def three() -> bool:
        return len(receiver.of(cp_id)) >= 3

    await eventually(three, timeout=45)
    mine = receiver.of(cp_id)
    kinds = [headers["x-csms-event-type"] for headers, _ in mine]
    # The first answer was 500: the same event again, and only then the next one of this CP.
    assert kinds[:3] == ["transaction.started", "transaction.started", "transaction.stopped"]
    (h1, b1), (h2, b2), (h3, b3) = mine[:3]
    assert h1["x-csms-event-id"] == h2["x-csms-event-id"] != h3["x-csms-event-id"]
    # A retry is the same message (webhook-id), signed again at its own time.
    assert h1["webhook-id"] == h2["webhook-id"] == h1["x-csms-event-id"] != h3["webhook-id"]
    assert b1 == b2
    assert all(_valid(h, b) for h, b in receiver.requests)
    assert orjson.loads(b3)["transactionId"] == started["transactionId"]
    assert orjson.loads(b3)["chargePointId"] == cp_id

    ours = {h1["x-csms-event-id"], h3["x-csms-event-id"]}

    async def logged() -> list[dict[str, Any]] | None:
        page = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
        done = [d for d in page["items"] if d["status"] == "delivered" and d["eventId"] in ours]
        return done if len(done) == 2 else None

    by_type = {d["eventType"]: d for d in await eventually(logged)}
    assert by_type["transaction.started"]["attempts"] == 2
    assert by_type["transaction.stopped"]["attempts"] == 1
    assert by_type["transaction.started"]["lastStatusCode"] == 200
    # The event queue is bound to `transaction.#` only: the CP's connection, boot and status
    # events never reached the webhook follower (bound to `#`, it read every event).
    assert await metric(port, "csms_webhook_events_total", outcome="queued") >= 2
    assert await metric(port, "csms_webhook_events_total", outcome="unmatched") == unmatched

    # Not matching the patterns: a connector status is not sent.
    await cp.call(
        "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    )
    test = await api.post(f"/webhooks/{hook['id']}/test")
    assert test.status_code == 200, test.text
    assert test.json()["status"] == "delivered"
    assert receiver.requests[-1][0]["x-csms-event-type"] == "webhook.test"
    assert all(h["x-csms-event-type"] != "connector.status" for h, _ in receiver.requests)

    assert (await api.delete(f"/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get(f"/webhooks/{hook['id']}")).status_code == 404


async def test_a_failing_test_delivery_is_logged_not_retried(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = (
        await api.post("/webhooks", json={"url": receiver.url, "events": ["x.y"], "secret": SECRET})
    ).json()
    test = (await api.post(f"/webhooks/{hook['id']}/test")).json()
    assert test["status"] == "failed"
    assert test["lastStatusCode"] == 500
    log = (await api.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "failed"})).json()
    assert [d["id"] for d in log["items"]] == [test["id"]]
    await api.delete(f"/webhooks/{hook['id']}")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"url": "http://10.1.2.3/hook", "events": ["*"], "secret": SECRET}, "private"),
        ({"url": "http://169.254.169.254/latest", "events": ["*"], "secret": SECRET}, "link-local"),
        ({"url": "ftp://example.com/x", "events": ["*"], "secret": SECRET}, "http"),
        ({"url": "http://u:p@127.0.0.1/x", "events": ["*"], "secret": SECRET}, "credentials"),
        ({"url": "http://127.0.0.1/x", "events": ["*"], "secret": "short"}, ""),
        (
            {"url": "http://127.0.0.1/x", "events": ["*"], "secret": "whsec_not base64 at all"},
            "base64",
        ),
        ({"url": "http://127.0.0.1/x", "events": [], "secret": SECRET}, ""),
        ({"url": "http://127.0.0.1/x", "events": ["Transaction started"], "secret": SECRET}, ""),
        ({"url": "http://127.0.0.1/x", "events": ["*"]}, ""),
        ({"url": "http://127.0.0.1/x", "events": ["*"], "secret": SECRET, "x": 1}, ""),
    ],
)
async def test_bad_webhooks_are_refused_with_a_problem_422(
    api: httpx.AsyncClient, body: dict[str, Any], detail: str
) -> None:
    before = (await api.get("/webhooks")).json()["total"]
    response = await api.post("/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in response.json()["detail"]
    assert (await api.get("/webhooks")).json()["total"] == before


async def test_webhooks_need_the_admin_role(api: httpx.AsyncClient) -> None:
    key = (await api.post("/api-keys", json={"name": "ops", "role": "operator"})).json()["key"]
    response = await api.get("/webhooks", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


@pytest.fixture
def disabling_fast(suite: Any) -> Iterator[None]:
    suite.restart_service("command-api", API_WEBHOOK_DISABLE_AFTER="2")
    try:
        yield
    finally:
        suite.restart_service("command-api", API_WEBHOOK_DISABLE_AFTER="86400")


async def test_a_webhook_failing_too_long_is_disabled_and_reported(
    disabling_fast: None, suite: Any, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    connection = await connect(suite.infra.broker_url)
    channel = await connection.channel()
    reports = await channel.declare_queue(exclusive=True)
    await reports.bind(await channel.get_exchange("ocpp.events"), "webhook.disabled")
    try:
        async with Receiver([500] * 1000) as failing:
            hook = (
                await api.post(
                    "/webhooks",
                    json={"url": failing.url, "events": ["connector.*"], "secret": SECRET},
                )
            ).json()
            cp = await connect_cp(cp_id)
            await cp.call("BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})
            await cp.call(
                "StatusNotification",
                {"connectorId": 1, "status": "Available", "errorCode": "NoError"},
            )

            async def disabled() -> dict[str, Any] | None:
                doc = (await api.get(f"/webhooks/{hook['id']}")).json()
                return doc if doc["enabled"] is False else None

            doc = await eventually(disabled, timeout=60)
            assert "HTTP 500" in doc["disabledReason"]
            assert len(failing.requests) >= 2  # retried before giving up

            async def reported() -> dict[str, Any] | None:
                message = await reports.get(fail=False)
                if message is None:
                    return None
                await message.ack()
                body: dict[str, Any] = orjson.loads(message.body)
                return body if body["webhookId"] == hook["id"] else None

            report = await eventually(reported, timeout=30)
            assert report["url"] == failing.url
            log = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
            assert {d["status"] for d in log["items"]} == {"cancelled"}

            # The console's overview tells admins, with the reason and a button to enable it.
            base = suite.api_url.removesuffix("/api/v1")
            async with console_client(base, "127.0.0.1") as console:
                assert (await log_in(console, "admin", ADMIN_PASSWORD)).status_code in (200, 303)
                overview = await console.get("/")
                assert 'id="disabled-webhooks"' in overview.text
                assert f'data-webhook="{hook["id"]}"' in overview.text
                assert "HTTP 500" in overview.text

                # An admin turns it on again once the receiver is fixed: healthy, sent what
                # comes (the console posts to the same API function as REST).
                failing.answers = []
                token = await csrf_token(console)
                enabled = await console.post(
                    f"/webhooks/{hook['id']}/enable", data={"csrf_token": token}
                )
                assert enabled.status_code == 200, enabled.text
            doc = (await api.get(f"/webhooks/{hook['id']}")).json()
            assert doc["enabled"] is True and "disabledReason" not in doc, doc
            again = await api.post(f"/webhooks/{hook['id']}/enable")
            assert again.status_code == 200 and again.json()["enabled"] is True
            await cp.call(
                "StatusNotification",
                {"connectorId": 1, "status": "Preparing", "errorCode": "NoError"},
            )

            async def delivered_again() -> bool:
                log = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
                return "delivered" in {d["status"] for d in log["items"]}

            assert await eventually(delivered_again, timeout=30)
            assert (await api.post("/webhooks/nope/enable")).status_code == 404
    finally:
        await connection.close()


async def test_one_charge_points_event_failing_too_long_disables_the_webhook(
    disabling_fast: None, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    healthy_id = f"{cp_id}-OK"
    status = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    async with Receiver([], failing_cp=cp_id) as receiver:
        hook = (
            await api.post(
                "/webhooks",
                json={"url": receiver.url, "events": ["connector.*"], "secret": SECRET},
            )
        ).json()
        stuck, healthy = await connect_cp(cp_id), await connect_cp(healthy_id)
        for cp in (stuck, healthy):
            await cp.call("BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})
        await stuck.call("StatusNotification", status)

        async def disabled() -> dict[str, Any] | None:
            # The other CP's events keep being delivered: the webhook as a whole never fails
            # for long, while the stuck CP's first event holds back its later ones.
            await healthy.call("StatusNotification", status)
            doc = (await api.get(f"/webhooks/{hook['id']}")).json()
            return doc if doc["enabled"] is False else None

        doc = await eventually(disabled, timeout=45, interval=0.5)

    def event_ids(cp: str) -> list[str]:
        return [
            h["x-csms-event-id"]
            for h, b in receiver.requests
            if orjson.loads(b)["chargePointId"] == cp
        ]

    [failing_event] = set(event_ids(cp_id))
    assert len(event_ids(cp_id)) >= 2  # retried before giving up
    assert f"event {failing_event}, charge point {cp_id}" in doc["disabledReason"]
    assert "HTTP 500" in doc["disabledReason"]
    assert len(set(event_ids(healthy_id))) >= 2

    async def recorded() -> dict[str, dict[str, Any]] | None:
        # The last answers the receiver gave may still be on their way to the database.
        page = await api.get(f"/webhooks/{hook['id']}/deliveries", params={"limit": 1000})
        by_event = {d["eventId"]: d for d in page.json()["items"]}
        done = all(by_event[e]["status"] == "delivered" for e in event_ids(healthy_id))
        return by_event if done else None

    by_event = await eventually(recorded)
    assert by_event[failing_event]["status"] == "cancelled"
    assert by_event[failing_event]["lastStatusCode"] == 500
    assert "failingSince" in by_event[failing_event]
    assert all("failingSince" not in by_event[e] for e in event_ids(healthy_id))


async def test_a_captured_delivery_cannot_be_replayed_or_altered(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await api.post(
        "/webhooks", json={"url": receiver.url, "events": ["*"], "secret": SECRET}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    try:
        assert (await api.post(f"/webhooks/{hook['id']}/test")).status_code == 200
        # The test delivery: the webhook takes every event, and other stations' may come too.
        headers, body = next(r for r in reversed(receiver.requests) if b"webhook.test" in r[1])
        assert _valid(headers, body)
        verifier = Webhook(SECRET)
        # The same bytes resent an hour later: the timestamp is stale, and moving it breaks
        # the signature.
        stale = headers | {"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, stale)
        fresh = headers | {"webhook-timestamp": str(int(datetime.now(UTC).timestamp()) + 1)}
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, fresh)
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body.replace(b"webhook.test", b"webhook.tesT"), headers)
    finally:
        await api.delete(f"/webhooks/{hook['id']}")


async def test_a_2_0_1_stations_transaction_reaches_the_webhook_as_the_same_document(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, suite: Any
) -> None:
    async with Receiver([]) as receiver:
        created = await api.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["transaction.*"], "secret": SECRET},
        )
        assert created.status_code == 201, created.text
        cp = await connect_cp(cp_id, subprotocols=["ocpp2.0.1"])
        for kind, seq in (("Started", 0), ("Ended", 1)):
            event = {
                "eventType": kind,
                "timestamp": _iso(),
                "triggerReason": "Authorized" if kind == "Started" else "StopAuthorized",
                "seqNo": seq,
                "transactionInfo": {"transactionId": "WH-1"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [
                    {
                        "timestamp": _iso(),
                        "sampledValue": [
                            {
                                "value": 500 * seq,
                                "measurand": "Energy.Active.Import.Register",
                                "context": "Transaction.Begin" if seq == 0 else "Transaction.End",
                            }
                        ],
                    }
                ],
            }
            await cp.call("TransactionEvent", event)

        async def both() -> bool:
            return len(receiver.requests) >= 2

        await eventually(both, timeout=45)
        bodies = {h["x-csms-event-type"]: orjson.loads(b) for h, b in receiver.requests}
        assert all(_valid(h, b) for h, b in receiver.requests)
        started, stopped = bodies["transaction.started"], bodies["transaction.stopped"]
        assert started["ocppVersion"] == stopped["ocppVersion"] == "2.0.1"
        assert started["stationTransactionId"] == "WH-1"
        assert (stopped["chargePointId"], stopped["energyWh"]) == (cp_id, 500)
        assert started["transactionId"] == stopped["transactionId"]
        await api.delete(f"/webhooks/{created.json()['id']}")
