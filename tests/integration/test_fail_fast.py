"""Fail fast when an owner is gone (issue 45): a decision call whose service has no live process,
or whose database does not answer, is answered InternalError with `retryAfterSeconds` at once,
and so is one already waiting for it, instead of after the gateway's call timeout; the gateway
takes the calls again as soon as the service is back (bus/owners.py)."""

from __future__ import annotations

import uuid

import pytest
from yarl import URL

from tests.integration.conftest import Suite
from tests.integration.support import (
    BIN,
    CallErrorReply,
    ChargePointClient,
    ServiceProcess,
    eventually,
    free_port,
    metric,
)

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "FailFast-1"}
REFUSED = "csms_gateway_calls_refused_ownerless_total"
OWNERS = "csms_gateway_owner_processes"
GONE = "no instance of its service is running"
NOT_READY = "its service cannot reach its database"


async def _refusal(cp: ChargePointClient, tag: str, timeout: float = 30) -> CallErrorReply:
    with pytest.raises(CallErrorReply) as error:
        await cp.call("Authorize", {"idTag": tag}, timeout)
    return error.value


async def _answered(cp: ChargePointClient, tag: str) -> None:
    async def accepted() -> bool:
        try:
            return "idTagInfo" in await cp.call("Authorize", {"idTag": tag}, 10)
        except CallErrorReply:
            return False  # refused while the beacons of the new process were on their way

    await eventually(accepted, timeout=60)


async def test_calls_of_a_killed_service_are_answered_at_once_and_taken_again_after(
    suite: Suite,
) -> None:
    # A call timeout far beyond the test's waits: an answer within them is not the timeout's.
    gateway, port = suite.extra_gateway("gw-fail-fast", GATEWAY_CALL_TIMEOUT="120")
    internal = int(gateway.env["GATEWAY_INTERNAL_PORT"])
    cp = await ChargePointClient.connect(
        f"ws://127.0.0.1:{port}", f"FF-{uuid.uuid4().hex[:6].upper()}"
    )
    service = suite.services["session-service"]
    try:
        assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
        assert "idTagInfo" in await cp.call("Authorize", {"idTag": "FF1"})

        async def heard() -> bool:
            # A key no beacon named since the gateway began listening is sent as before.
            owners = await metric(internal, OWNERS, owner="session-service", state="ready")
            return owners >= 1

        await eventually(heard)
        service.kill()
        tries = 0
        try:

            async def refused_now() -> CallErrorReply | None:
                nonlocal tries
                tries += 1
                # A station of its own per try: one sent while the gateway still heard the
                # service's last beacon (or within its grace after it began listening) waits
                # for its answer, and would hold its station's next calls.
                probe = await ChargePointClient.connect(
                    f"ws://127.0.0.1:{port}", f"FFP-{uuid.uuid4().hex[:6].upper()}"
                )
                try:
                    await probe.call("BootNotification", BOOT)
                    return await _refusal(probe, "FF2", timeout=3)
                except TimeoutError:
                    return None
                finally:
                    await probe.close()

            # Refused on arrival, never sent, long before the gateway's 120 s.
            refused = await eventually(refused_now, timeout=60)
        finally:
            suite.restart_service("session-service")
        assert refused.code == "InternalError"
        assert GONE in refused.description
        assert refused.details["retryAfterSeconds"] >= 1
        # The refusal seen, and perhaps an earlier probe's: one still waiting unsent when its
        # 3 s ran out is refused (and counted) once the gateway judges its owner gone.
        assert 1 <= await metric(internal, REFUSED, action="Authorize", reason="gone") <= tries
        # Back: its first beacon went out before it said it was ready.
        await _answered(cp, "FF4")
    finally:
        await cp.close()
        gateway.stop()


async def test_calls_whose_owner_cannot_reach_its_database_are_answered_at_once(
    suite: Suite,
) -> None:
    """The decisions' process of the session-service runs apart (SESSION_CONSUME) and its
    database does not answer: its beacons say so, and the gateway refuses its decisions."""
    gateway, port = suite.extra_gateway("gw-not-ready", GATEWAY_CALL_TIMEOUT="120")
    internal = int(gateway.env["GATEWAY_INTERNAL_PORT"])
    cp = await ChargePointClient.connect(
        f"ws://127.0.0.1:{port}", f"FFDB-{uuid.uuid4().hex[:6].upper()}"
    )
    main = "session-service"
    broken: ServiceProcess | None = None
    try:
        assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
        suite.restart_service(main, SESSION_CONSUME="calls,events,rpc")
        env = suite.services[main].env
        no_database = str(URL(env["CSMS_DATABASE_URL"]).with_path("/no_such_database"))
        broken = _never_ready(suite, SESSION_CONSUME="decisions", SESSION_DATABASE_URL=no_database)

        async def not_ready() -> CallErrorReply | None:
            error = await _refusal(cp, "FFDB1")
            return error if NOT_READY in error.description else None

        error = await eventually(not_ready, timeout=60)
        assert error.code == "InternalError"
        assert error.details["retryAfterSeconds"] >= 1
        assert await metric(internal, REFUSED, action="Authorize", reason="not_ready") >= 1
    finally:
        if broken is not None:
            broken.stop()
        suite.restart_service(main, SESSION_CONSUME="")
    try:
        await _answered(cp, "FFDB2")
    finally:
        await cp.close()
        gateway.stop()


def _never_ready(suite: Suite, **env: str) -> ServiceProcess:
    """One more session-service process, started without waiting for it to be ready (its
    database does not answer, so it never is)."""
    internal = free_port()
    process = ServiceProcess(
        f"session-service-{internal}",
        [str(BIN / "session-service")],
        suite.services["session-service"].env | {"SESSION_INTERNAL_PORT": str(internal)} | env,
        suite.log_dir,
    )
    process.start()
    return process
