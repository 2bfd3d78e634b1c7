"""A car's state and the allocator, against schema `loads`: a session's comes from its
transaction (`transaction.charging_state_changed`, one event for both versions); a 1.6
StatusNotification's (`connector.status`) counts only while no session is known on the EVSE,
for the session whose start is still on its way."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.contracts.events import ConnectorStatus, TransactionChargingStateChanged
from csms_shared.contracts.rpc_loads import OfSite
from csms_shared.ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from csms_shared.ocpp.v201.enums import ChargingStateEnum
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.connectors import ChargingState, StatusReport
from load_manager.allocation import intake as follow
from load_manager.allocation.follow_allocation import charging_state_changed, connector_status
from load_manager.allocation.rpc_allocation import get_allocation
from load_manager.settings import Settings

from .conftest import Rpc
from .test_allocator_service import Site, start

V16, V201 = OcppVersion.V16, OcppVersion.V201


@pytest.fixture
async def site(rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Site:
    made = Site(rpc, sessions, settings)
    await made.create(32)
    return made


async def ev_says(rpc: Rpc, cp_id: str, version: OcppVersion, state: str) -> None:
    """The car's state as its transaction tells it, in the one event of both versions (the
    session-service announces a 1.6 StatusNotification's for the transaction open there)."""
    changed = TransactionChargingStateChanged(
        charge_point_id=cp_id,
        connector_id=1,
        evse_connector_id=1,
        transaction_id=1,
        station_transaction_id="1" if version is V16 else "TX-1",
        charging_state=state,
        ocpp_version=version,
    )
    await rpc(charging_state_changed, changed)


async def status_says(rpc: Rpc, cp_id: str, state: str) -> None:
    """A 1.6 StatusNotification's car state, as `connector.status` tells it."""
    status = ConnectorStatus(
        charge_point_id=cp_id,
        connector_id=1,
        status=state,
        error_code="NoError",
        ocpp_version=V16,
    )
    await rpc(connector_status, status)


@pytest.mark.parametrize("version", [V16, V201])
async def test_an_ev_that_suspends_itself_is_held_at_its_minimum_and_charging_restores_it(
    site: Site, version: OcppVersion
) -> None:
    a = await site.place(version, max_current=32, min_current=6)
    b = await site.place(V16, max_current=32, min_current=6)
    await site.settle(a, b)
    await start(site.rpc, a)
    await start(site.rpc, b)
    await site.settle(a, b)
    assert [(await site.sent(cp))[-1][1] for cp in (a, b)] == [16, 16]
    await ev_says(site.rpc, a, version, "SuspendedEV")
    await site.settle(a, b)
    # a keeps its minimum, so its car can resume; b takes the rest of the 32 A.
    assert [(await site.sent(cp))[-1][1] for cp in (a, b)] == [6, 26]
    # What says nothing of the EV's wants changes nothing (SuspendedEVSE: the station's doing).
    count = len(await site.sent(a)), len(await site.sent(b))
    await ev_says(site.rpc, a, version, "SuspendedEVSE")
    assert (len(await site.sent(a)), len(await site.sent(b))) == count
    await ev_says(site.rpc, a, version, "Charging")
    await site.settle(a, b)
    assert [(await site.sent(cp))[-1][1] for cp in (a, b)] == [16, 16]


async def test_a_16_status_moves_no_session_the_allocator_knows(site: Site) -> None:
    """A known session's car state is its transaction's (`transaction.charging_state_changed`):
    the StatusNotification it came from, followed too, changes nothing."""
    a = await site.place(V16, max_current=32, min_current=6)
    b = await site.place(V16, max_current=32, min_current=6)
    await site.settle(a, b)
    await start(site.rpc, a)
    await start(site.rpc, b)
    await site.settle(a, b)
    count = len(await site.sent(a)), len(await site.sent(b))
    await status_says(site.rpc, a, "SuspendedEV")
    assert (len(await site.sent(a)), len(await site.sent(b))) == count
    shown = await site.rpc(get_allocation, OfSite(site_id=site.site_id))
    assert {e.charge_point_id: e.suspended for e in shown.evses} == {a: False, b: False}
    await ev_says(site.rpc, a, V16, "SuspendedEV")
    await site.settle(a, b)
    assert [(await site.sent(cp))[-1][1] for cp in (a, b)] == [6, 26]
    # Charging again by the status alone: still the transaction's SuspendedEV.
    await status_says(site.rpc, a, "Charging")
    shown = await site.rpc(get_allocation, OfSite(site_id=site.site_id))
    assert {e.charge_point_id: e.suspended for e in shown.evses} == {a: True, b: False}


@pytest.mark.parametrize(
    ("version", "told_by"),
    [(V16, "status"), (V16, "transaction"), (V201, "transaction")],
)
async def test_a_car_suspended_before_its_session_is_known_starts_at_its_minimum(
    site: Site, version: OcppVersion, told_by: str
) -> None:
    """The car's state and the transaction's start reach the load-manager apart; a state that
    comes first is kept on the EVSE's row (another round, another replica) for the session:
    a transaction's, or a 1.6 status said before its StartTransaction (no transaction to
    announce it for yet)."""
    a = await site.place(version, max_current=32, min_current=6)
    b = await site.place(V16, max_current=32, min_current=6)
    await site.settle(a, b)
    await start(site.rpc, b)
    await site.settle(a, b)
    if told_by == "status":
        await status_says(site.rpc, a, "SuspendedEV")
    else:
        await ev_says(site.rpc, a, version, "SuspendedEV")
    await start(site.rpc, a)
    await site.settle(a, b)
    assert [(await site.sent(cp))[-1][1] for cp in (a, b)] == [6, 26]
    shown = await site.rpc(get_allocation, OfSite(site_id=site.site_id))
    assert {e.charge_point_id: e.suspended for e in shown.evses} == {a: True, b: False}


def test_both_versions_name_the_same_suspension_the_same_way() -> None:
    """A 1.6 status and a 2.0.1 chargingState reach the allocator as the one charging state."""
    v16 = {
        status.value: follow.SUSPENDED_BY_EV.get(state)
        for status in ChargePointStatus
        if (state := StatusReport.from_v16(status, ChargePointErrorCode.NO_ERROR).charging_state)
    }
    v201 = {
        state.value: follow.SUSPENDED_BY_EV.get(ChargingState(state.value))
        for state in ChargingStateEnum
    }
    assert {k: v for k, v in v16.items() if v is not None} == {
        "SuspendedEV": True,
        "Charging": False,
    }
    assert {k: v for k, v in v201.items() if v is not None} == {
        "SuspendedEV": True,
        "Charging": False,
    }
