"""The events only the allocator follows: a station going offline, a session starting, a
session's EV suspending itself or charging again (its transaction's charging state, whichever
the version; a 1.6 status only while no session is known, `intake.status` says why), and what
a session draws. The events it shares with the stored profiles (answers, boots,
reconnections, a transaction's end) are in `follow_profiles.py`."""

from __future__ import annotations

from csms_shared.contracts.events import (
    ConnectorStatus,
    MeterCurrent,
    StationDisconnected,
    TransactionChargingStateChanged,
    TransactionStarted,
)

from ..router import Ctx, router
from . import intake as allocation


@router.event("station.disconnected", per_station=True)
async def station_disconnected(event: StationDisconnected, ctx: Ctx) -> None:
    """The allocator counts an offline station at its last limit, then, past the grace, at
    its maximum."""
    await allocation.disconnected(ctx.session, ctx.settings, event)


@router.event("transaction.started", per_station=True)
async def transaction_started(event: TransactionStarted, ctx: Ctx) -> None:
    """A session to share the site with."""
    await transactions_started([event], ctx)


@router.on_event_group("transaction.started")
async def transactions_started(events: list[TransactionStarted], ctx: Ctx) -> None:
    """`transaction_started` of many: one lookup of their sites, one round per site."""
    await allocation.sessions_changed(ctx.session, ctx.settings, events)


@router.event("connector.status", per_station=True)
async def connector_status(event: ConnectorStatus, ctx: Ctx) -> None:
    """SuspendedEV or Charging said before the allocator knows the EVSE's session (1.6)."""
    await allocation.status(ctx.session, ctx.settings, event)


@router.event("transaction.charging_state_changed", per_station=True)
async def charging_state_changed(event: TransactionChargingStateChanged, ctx: Ctx) -> None:
    """SuspendedEV and Charging move a session's share (both versions)."""
    await allocation.charging_state(ctx.session, ctx.settings, event)


@router.event("meter.current", per_station=True)
async def meter_current(event: MeterCurrent, ctx: Ctx) -> None:
    """What a session draws: sustained underuse gives capacity back to the site."""
    await allocation.metered(ctx.session, ctx.settings, [event])


@router.on_event_group("meter.current")
async def meters_current(events: list[MeterCurrent], ctx: Ctx) -> None:
    """`meter_current` of many: one round per site."""
    await allocation.metered(ctx.session, ctx.settings, events)
