"""The events the stored charging profiles follow: the answers to the commands sent about them,
a station's boot or reconnection, after which it is asked what it still holds, and the end of a
transaction, which takes its TxProfiles with it. Each of these events matters to the allocator
too, and a router holds one handler per routing key, so these handlers hand the allocator its
part as well; the events only the allocator follows are in `follow_allocation.py`. (The one
OCPP call the load-manager receives, 2.0.1 ReportChargingProfiles, is in `action_reports.py`.)

After a reconnection and after an accepted BootNotification alike, the station is first asked
what it holds (`profile_checks`: GetChargingProfiles in 2.0.1, GetCompositeSchedule per
connector in 1.6) and only the profiles it lacks or holds differently are sent again; when the
ask fails, every stored profile is sent again after a boot (and every pending clear), after a
reconnection only those whose last command got no answer. A TxProfile is compared and sent
again at boot too: a station may resume a transaction after a reboot (1.6 and 2.0.1 both let
it), and one that did not ends it with a StopTransaction / TransactionEvent Ended, whose
`transaction.stopped` drops the row.

ReportChargingProfiles is a notification (the gateway answers it) that the registry keeps in its
station messages; the load-manager's calls queue is bound to it too, so each gets its copy. A
bundle item one of them fails is published again to `ocpp.calls` and reaches both: the
load-manager reads a part twice without harm, the registry then keeps it twice.
"""

from __future__ import annotations

from csms_shared.contracts.events import (
    CommandCompleted,
    StationBooted,
    StationConnected,
    TransactionStopped,
)
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.version import OcppVersion

from ..allocation import intake as allocation
from ..allocation.rounds import is_allocation_request
from ..commands import SENT_ACTIONS
from ..router import Ctx, router
from . import answers as profile_answers
from . import checks as profile_checks
from . import store as profiles


# The outcomes of the actions it sends alone reach the queue (bus/stations.py).
@router.event("command.completed", actions=SENT_ACTIONS)
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    """Record a station's answer (or the lack of one) on the profile or the allocated limit
    the command was about."""
    await commands_completed([event], ctx)


@router.on_event_group("command.completed")
async def commands_completed(events: list[CommandCompleted], ctx: Ctx) -> None:
    """`command_completed` of many: the allocator's answers in one round per site."""
    limits = [event for event in events if is_allocation_request(event.request_id)]
    for event in events:
        if not is_allocation_request(event.request_id):
            await profile_answers.record_answer(ctx.session, ctx.settings, event)
    if limits:
        await allocation.answered(ctx.session, ctx.settings, limits)


@router.event("station.booted")
async def station_booted(event: StationBooted, ctx: Ctx) -> None:
    """Ask a station whose boot was accepted what it holds, and send it what it lacks."""
    await stations_booted([event], ctx)


@router.on_event_group("station.booted")
async def stations_booted(events: list[StationBooted], ctx: Ctx) -> None:
    """`station_booted` of many: only the stations with stored profiles are asked, and only
    those on a site start a round; for the rest (most of a fleet) the group costs the two
    lookups."""
    accepted = [e for e in events if e.registration_status is RegistrationStatus.ACCEPTED]
    ids = {event.charge_point_id for event in accepted}
    stored = await profile_checks.with_profiles(ctx.session, ids)
    placed = await allocation.sites_of(ctx.session, ids)
    for event in accepted:
        cp_id, version = event.charge_point_id, event.ocpp_version
        if cp_id in stored:
            await profile_checks.came_back(ctx.session, ctx.settings, cp_id, version, boot=True)
        if cp_id in placed:
            await allocation.booted(ctx.session, ctx.settings, cp_id, version)


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    """Ask a station that reconnected what it holds, and send it what it lacks; remember the
    connection, for a command on its way now whose no-answer lands later (`record_answer`)."""
    await stations_connected([event], ctx)


@router.on_event_group("station.connected")
async def stations_connected(events: list[StationConnected], ctx: Ctx) -> None:
    """`station_connected` of many: every connection remembered in one statement; only the
    stations with stored profiles are asked, and only those on a site start a round."""
    await profiles.connected(ctx.session, [(e.charge_point_id, e.connected_at) for e in events])
    ids = {event.charge_point_id for event in events}
    stored = await profile_checks.with_profiles(ctx.session, ids)
    placed = await allocation.sites_of(ctx.session, ids)
    for event in events:
        cp_id = event.charge_point_id
        # No subprotocol agreed means 1.6 (OcppVersion.of_subprotocol), not "as last sent".
        version = OcppVersion.of_subprotocol(event.subprotocol)
        if cp_id in stored:
            await profile_checks.came_back(ctx.session, ctx.settings, cp_id, version, boot=False)
        if cp_id in placed:
            await allocation.connected(ctx.session, ctx.settings, cp_id, version)


@router.event("transaction.stopped", per_station=True)
async def transaction_stopped(event: TransactionStopped, ctx: Ctx) -> None:
    """Drop the TxProfiles of the transaction: the station discarded them at its end."""
    await transactions_stopped([event], ctx)


@router.on_event_group("transaction.stopped")
async def transactions_stopped(events: list[TransactionStopped], ctx: Ctx) -> None:
    """`transaction_stopped` of many: their TxProfiles dropped together, then one lookup of
    their sites and one round per site."""
    await profiles.end_transactions(
        ctx.session, [(event.charge_point_id, event.station_transaction_id) for event in events]
    )
    await allocation.sessions_changed(ctx.session, ctx.settings, events)
