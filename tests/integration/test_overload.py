"""Past its peak the suite refuses early instead of timing out: a stalled session-service's
decision calls are answered InternalError with retryAfterSeconds at once, never reach it, and
go through again once it is back."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from tests.integration.conftest import Suite
from tests.integration.support import CallErrorReply, ChargePointClient, eventually, metric

pytestmark = pytest.mark.integration

# GATEWAY_REFUSE_CALLS_BEHIND of the test's gateway: below any wait, so an Authorize still
# unanswered has waited longer than this by the time the next one is read.
BEHIND = 0.000001
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Overload-1"}


async def test_calls_of_a_stalled_service_are_refused_early_and_go_through_after(
    suite: Suite,
) -> None:
    gateway, port = suite.extra_gateway(
        "gw-overload",
        GATEWAY_REFUSE_CALLS_BEHIND=str(BEHIND),
        GATEWAY_CALL_TIMEOUT="20",
        # The stall is brief, but on a slow machine it could outlast a beacon's lifetime, and
        # the waiting call would be failed as ownerless (test_fail_fast.py): not this test's.
        GATEWAY_OWNER_CHECK="false",
    )
    internal = int(gateway.env["GATEWAY_INTERNAL_PORT"])
    url = f"ws://127.0.0.1:{port}"
    suffix = uuid.uuid4().hex[:6].upper()
    waiting = await ChargePointClient.connect(url, f"OVL-A-{suffix}")
    refused = await ChargePointClient.connect(url, f"OVL-B-{suffix}")
    session_service = suite.services["session-service"].proc
    assert session_service is not None
    try:
        for cp in (waiting, refused):
            assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
        os.kill(session_service.pid, signal.SIGSTOP)
        try:
            first = asyncio.create_task(waiting.call("Authorize", {"idTag": "OVL1"}, 30))

            async def read() -> bool:
                # The gateway read the Authorize (after the two boots): on its way to the
                # stopped service before anything the test sends next is read.
                return await metric(internal, "csms_gateway_frames_in_total", kind="call") == 3

            await eventually(read)
            with pytest.raises(CallErrorReply) as error:
                await refused.call("Authorize", {"idTag": "OVL2"}, 5)
            # Answered while session-service is still stopped: the gateway refused it itself.
            assert not first.done()
        finally:
            os.kill(session_service.pid, signal.SIGCONT)
        assert error.value.code == "InternalError"
        assert "busy" in error.value.description
        assert error.value.details["retryAfterSeconds"] >= 1
        # The call that waited is answered once the service is back; the refused one, retried,
        # goes through.
        assert "idTagInfo" in await first
        assert "idTagInfo" in await refused.call("Authorize", {"idTag": "OVL2"}, 20)
        counted = await metric(
            internal, "csms_gateway_calls_refused_overload_total", action="Authorize"
        )
        assert counted == 1
    finally:
        await waiting.close()
        await refused.close()
        gateway.stop()
