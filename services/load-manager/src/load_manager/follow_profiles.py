"""The events the stored charging profiles follow: the answers to the commands sent about them,
and a station's boot or reconnection, after which they are sent again.

After an accepted BootNotification every stored profile is sent again (and every pending clear),
since a station may come back from a reboot without them; after a reconnection without a boot,
only those whose last command got no answer (the station was offline, say). The CSMS does not
first ask what the station still holds (GetChargingProfiles in 2.0.1, GetCompositeSchedule in
1.6): a SetChargingProfile of a profile it holds replaces it with itself. For the same reason a
boot followed late, after a profile was stored and sent, sends that profile a second time.
"""

from __future__ import annotations

from csms_shared.contracts.events import CommandCompleted, StationBooted, StationConnected
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.version import OcppVersion

from . import profiles
from .router import Ctx, router


@router.event("command.completed")
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    """Record a station's answer (or the lack of one) on the profile the command was about."""
    await profiles.record_answer(ctx.session, ctx.settings, event)


@router.event("station.booted")
async def station_booted(event: StationBooted, ctx: Ctx) -> None:
    """Send every stored profile again to a station whose boot was accepted."""
    if event.registration_status is RegistrationStatus.ACCEPTED:
        await profiles.resend(
            ctx.session, event.charge_point_id, event.ocpp_version, failed_only=False
        )


@router.event("station.connected")
async def station_connected(event: StationConnected, ctx: Ctx) -> None:
    """Send again the profiles whose last command never reached the station."""
    # No subprotocol agreed means 1.6 (OcppVersion.of_subprotocol), not "as last sent".
    version = OcppVersion.of_subprotocol(event.subprotocol)
    await profiles.resend(ctx.session, event.charge_point_id, version, failed_only=True)
