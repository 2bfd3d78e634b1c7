"""The CP->CS actions of firmware, diagnostics, logs, security and DataTransfer, end to end."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.certs import csr
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def booted(connect_cp: Any, cp_id: str, gateway: int, answers: dict[str, Any]) -> Any:
    cp = await connect_cp(cp_id, gateway)
    await cp.call("BootNotification", BOOT)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return answers[action]

    cp.responder = answer
    return cp


async def test_firmware_rollout_progress_is_tied_to_its_command(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted(connect_cp, cp_id, 1, {"UpdateFirmware": {}})
    sent = await api.post(
        f"/charge-points/{cp_id}/commands/UpdateFirmware",
        json={"location": "https://fw.example.com/2.0.bin", "retrieveDate": "2026-11-22T10:00:00Z"},
    )
    assert sent.status_code == 200
    command_id = sent.json()["commandId"]

    async def requested() -> list[dict[str, Any]]:
        return (await api.get(f"/charge-points/{cp_id}/operations")).json()["items"]

    assert (await eventually(requested))[0]["commandId"] == command_id
    for status in ("Downloading", "Downloaded", "Installing", "Installed"):
        assert await cp.call("FirmwareStatusNotification", {"status": status}) == {}

    async def installed() -> dict[str, Any] | None:
        items = (await api.get(f"/charge-points/{cp_id}/operations?kind=firmware")).json()["items"]
        # Reports are consumed concurrently: wait for all four, not just the newest.
        done = items and items[0]["status"] == "Installed" and len(items[0]["reports"]) == 4
        return items[0] if done else None

    operation = await eventually(installed)
    assert operation["detail"] == "https://fw.example.com/2.0.bin"
    assert [r["status"] for r in operation["reports"]] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]


async def test_diagnostics_log_and_signed_firmware_reports(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted(
        connect_cp,
        cp_id,
        0,
        {
            "GetDiagnostics": {"fileName": "diag-1.zip"},
            "GetLog": {"status": "Accepted", "filename": "log.txt"},
            "SignedUpdateFirmware": {"status": "Accepted"},
        },
    )
    url = f"/charge-points/{cp_id}/commands"
    await api.post(f"{url}/GetDiagnostics", json={"location": "ftp://diag.example.com/"})
    await api.post(
        f"{url}/GetLog",
        json={
            "logType": "SecurityLog",
            "requestId": 7,
            "log": {"remoteLocation": "https://l.example"},
        },
    )
    await api.post(
        f"{url}/SignedUpdateFirmware",
        json={
            "requestId": 9,
            "firmware": {
                "location": "https://fw.example.com/s.bin",
                "retrieveDateTime": "2026-11-22T10:00:00Z",
                "signingCertificate": "-----BEGIN CERTIFICATE-----",
                "signature": "c2ln",
            },
        },
    )

    async def three_requested() -> bool:
        return (await api.get(f"/charge-points/{cp_id}/operations")).json()["total"] == 3

    await eventually(three_requested)
    await cp.call("DiagnosticsStatusNotification", {"status": "Uploaded"})
    await cp.call("LogStatusNotification", {"status": "Uploaded", "requestId": 7})
    await cp.call(
        "SignedFirmwareStatusNotification", {"status": "InvalidSignature", "requestId": 9}
    )

    async def statuses() -> dict[str, str] | None:
        items = (await api.get(f"/charge-points/{cp_id}/operations")).json()["items"]
        found = {item["kind"]: item["status"] for item in items}
        return found if "Requested" not in found.values() else None

    assert await eventually(statuses) == {
        "diagnostics": "Uploaded",
        "log": "Uploaded",
        "signed_firmware": "InvalidSignature",
    }


async def test_security_event_notification_is_logged(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted(connect_cp, cp_id, 1, {})
    await cp.call(
        "SecurityEventNotification",
        {
            "type": "TamperDetectionActivated",
            "timestamp": "2026-11-22T09:00:00Z",
            "techInfo": "lid",
        },
    )

    async def logged() -> list[dict[str, Any]]:
        return (await api.get(f"/charge-points/{cp_id}/security-events")).json()["items"]

    event = (await eventually(logged))[0]
    assert event == {
        "type": "TamperDetectionActivated",
        "timestamp": "2026-11-22T09:00:00Z",
        "source": "cp",
        "techInfo": "lid",
        "count": 1,
    }


async def test_sign_certificate_keeps_the_csr(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted(connect_cp, cp_id, 0, {})
    request = csr(cp_id)
    assert await cp.call("SignCertificate", {"csr": request}) == {"status": "Accepted"}
    items = (await api.get(f"/charge-points/{cp_id}/certificate-requests")).json()["items"]
    assert items[0]["csr"] == request


async def test_data_transfer_unknown_vendor_is_answered_and_recorded(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted(connect_cp, cp_id, 1, {})
    reply = await cp.call(
        "DataTransfer", {"vendorId": "com.example", "messageId": "x", "data": "1"}
    )
    assert reply == {"status": "UnknownVendorId"}
    items = (await api.get(f"/charge-points/{cp_id}/data-transfers")).json()["items"]
    assert items[0] == {
        "vendorId": "com.example",
        "messageId": "x",
        "data": "1",
        "status": "UnknownVendorId",
        "receivedAt": items[0]["receivedAt"],
    }


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"vendorId": "com.acme", "messageId": "ping"}, "Accepted"),
        ({"vendorId": "com.acme", "messageId": "pong"}, "UnknownMessageId"),
        ({"vendorId": "com.acme"}, "UnknownMessageId"),
        ({"vendorId": "com.any", "messageId": "whatever", "data": "{}"}, "Accepted"),
    ],
)
async def test_data_transfer_routed_by_vendor_and_message(
    connect_cp: Any, cp_id: str, payload: dict[str, Any], status: str
) -> None:
    cp = await booted(connect_cp, cp_id, 0, {})
    assert await cp.call("DataTransfer", payload) == {"status": status}
