"""A CALL nobody owns: the broker returns the mandatory publish and the CP gets NotImplemented."""

from __future__ import annotations

from typing import Any

import pytest

from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.infra import isolated_vhost
from ws_gateway.bus import GatewayBus
from ws_gateway.call_refusals import Unroutable

pytestmark = pytest.mark.integration
V16 = OcppVersion.V16


@pytest.fixture
async def lonely_bus(broker_and_db_base: tuple[str, str]) -> Any:
    """A gateway's bus in a vhost of its own, where no service has bound anything."""
    with isolated_vhost(broker_and_db_base[0]) as url:
        bus = GatewayBus(url, "lonely", prefetch=10)
        await bus.start()
        yield bus
        await bus.close()


async def test_notification_nobody_owns_is_returned(lonely_bus: GatewayBus) -> None:
    with pytest.raises(Unroutable):
        await lonely_bus.notify("CP-1", "m1", "StatusNotification", {}, utcnow(), V16)


async def test_decision_call_nobody_owns_is_returned_at_once(lonely_bus: GatewayBus) -> None:
    # A 60 s timeout: only the broker's return can end this quickly.
    with pytest.raises(Unroutable):
        await lonely_bus.request("CP-1", "m2", "Authorize", {"idTag": "T"}, utcnow(), 60, V16)
    assert len(lonely_bus.client.waiter) == 0
