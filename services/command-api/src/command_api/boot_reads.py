"""After an accepted BootNotification, ask the CP for its whole configuration (GetConfiguration)
once per boot, so the registry's snapshot, SupportedFeatureProfiles included, is always filled.

Sent by command-api, the only sender of commands, on the registry's `station.booted`; the
answer reaches the snapshot as any GetConfiguration's does (`command.completed`).
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError

from csms_shared.contracts.events import StationBooted
from csms_shared.ocpp._base import format_datetime
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.v16.messages import GetConfigurationRequest

from .api.commands import send_command
from .api.deps import AppState
from .auth import Principal, Role
from .problems import ProblemError

log = logging.getLogger(__name__)

# The audit log's requester of these reads; with the event's id it makes each boot's read unique.
REQUESTER = Principal("system", "system:boot-configuration", Role.OPERATOR)


async def read_configuration(state: AppState, event: StationBooted) -> None:
    """GetConfiguration to a CP whose boot was accepted; a boot event followed again (a
    redelivery, a group run twice) sends nothing again: its requestId is taken."""
    if event.registration_status is not RegistrationStatus.ACCEPTED:
        return
    cp_id = event.charge_point_id
    request_id = f"boot:{cp_id}:{format_datetime(event.at)}"
    async with state.sessions() as session:
        try:
            await send_command(
                state,
                session,
                REQUESTER,
                cp_id,
                "GetConfiguration",
                GetConfigurationRequest(),
                None,
                wait=False,
                request_id=request_id,
            )
        except IntegrityError:
            log.info("configuration of %s already asked for at this boot", cp_id)
        except (HTTPException, ProblemError) as exc:
            # Offline again, or unknown: recorded in the audit log, nothing to retry.
            log.info("configuration of %s not read: %s", cp_id, getattr(exc, "detail", exc))
