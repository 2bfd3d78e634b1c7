"""The session-service registers every call it owns when it starts."""

from __future__ import annotations

from session_service.app import router


def test_the_app_registers_the_calls_the_session_service_owns() -> None:
    assert sorted(router.calls) == [
        "Authorize",
        "MeterValues",
        "StartTransaction",
        "StopTransaction",
    ]
