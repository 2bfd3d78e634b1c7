"""The events the stored charging profiles follow: the answers to the commands sent about them,
a station's boot or reconnection, after which they are sent again, and the end of a
transaction, which takes its TxProfiles with it.

After an accepted BootNotification every stored profile is sent again (and every pending clear),
since a station may come back from a reboot without them; after a reconnection without a boot,
only those whose last command got no answer (the station was offline, say). The CSMS does not
first ask what the station still holds (GetChargingProfiles in 2.0.1, GetCompositeSchedule in
1.6): a SetChargingProfile of a profile it holds replaces it with itself. For the same reason a
boot followed late, after a profile was stored and sent, sends that profile a second time.
A TxProfile is sent again at boot too: a station may resume a transaction after a reboot (1.6
and 2.0.1 both let it), and one that did not ends it with a StopTransaction /
TransactionEvent Ended, whose `transaction.stopped` drops the row.
"""

from __future__ import annotations

from csms_shared.contracts.events import (
    CommandCompleted,
    ConnectorStatus,
    MeterValues,
    StationBooted,
    StationConnected,
    StationDisconnected,
    TransactionStarted,
    TransactionStopped,
)
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.version import OcppVersion

from . import profiles
from .allocator import follow as allocation
from .allocator.rounds import is_allocation_request
from .router import Ctx, router


@router.event("command.completed")
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    """Record a station's answer (or the lack of one) on the profile or the allocated limit
    the command was about."""
    if is_allocation_request(event.request_id):
        await allocation.answered(ctx.session, ctx.settings, event)
    else:
        await profiles.record_answer(ctx.session, ctx.settings, event)


@router.event("station.booted")
async def station_booted(event: StationBooted, ctx: Ctx) -> None:
    """Send every stored profile again to a station whose boot was accepted."""
    if event.registration_status is RegistrationStatus.ACCEPTED:
        await profiles.resend(
            ctx.session, ctx.settings, event.charge_point_id, event.ocpp_version, failed_only=False
        )
        await allocation.booted(
            ctx.session, ctx.settings, event.charge_point_id, event.ocpp_version
        )


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    """Send again the profiles whose last command never reached the station; remember the
    connection, for a command on its way now whose no-answer lands later (`record_answer`)."""
    # No subprotocol agreed means 1.6 (OcppVersion.of_subprotocol), not "as last sent".
    version = OcppVersion.of_subprotocol(event.subprotocol)
    await profiles.resend(
        ctx.session, ctx.settings, event.charge_point_id, version, failed_only=True
    )
    await profiles.connected(ctx.session, event.charge_point_id, event.connected_at)
    await allocation.connected(ctx.session, ctx.settings, event.charge_point_id, version)


@router.event("station.disconnected")
async def station_disconnected(event: StationDisconnected, ctx: Ctx) -> None:
    """The allocator counts an offline station at its last limit, then, past the grace, at
    its maximum."""
    await allocation.disconnected(ctx.session, ctx.settings, event)


@router.event("transaction.started")
async def transaction_started(event: TransactionStarted, ctx: Ctx) -> None:
    """A session to share the site with."""
    await allocation.session_started(
        ctx.session,
        ctx.settings,
        event.charge_point_id,
        event.connector_id,
        event.start_time,
        event.charging_priority,
    )


@router.event("connector.status")
async def connector_status(event: ConnectorStatus, ctx: Ctx) -> None:
    """SuspendedEV and Charging move a session's share."""
    await allocation.status(ctx.session, ctx.settings, event)


@router.event("meter.values")
async def meter_values(event: MeterValues, ctx: Ctx) -> None:
    """What a session draws: sustained underuse gives capacity back to the site."""
    await allocation.metered(ctx.session, ctx.settings, event)


@router.event("transaction.stopped")
async def transaction_stopped(event: TransactionStopped, ctx: Ctx) -> None:
    """Drop the TxProfiles of the transaction: the station discarded them at its end."""
    await profiles.end_transaction(ctx.session, event.charge_point_id, event.station_transaction_id)
    await allocation.session_stopped(
        ctx.session, ctx.settings, event.charge_point_id, event.connector_id
    )
