"""After an accepted BootNotification, ask the CP for its whole configuration once per boot, so
the registry's snapshot, SupportedFeatureProfiles included, is always filled: GetConfiguration
to a 1.6 CP, GetBaseReport (FullInventory) to a 2.0.1 station.

Sent by command-api, the only sender of commands, on the registry's `station.booted`; a 1.6
answer reaches the snapshot as any GetConfiguration's does (`command.completed`), a 2.0.1
station's report comes in NotifyReport parts the registry stores in the device model.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError

from csms_shared.contracts.events import StationBooted
from csms_shared.ocpp import INT32_MAX
from csms_shared.ocpp._base import OcppModel, format_datetime
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.v16.messages import GetConfigurationRequest
from csms_shared.ocpp.v201.enums import ReportBaseEnum
from csms_shared.ocpp.v201.messages import GetBaseReportRequest
from csms_shared.ocpp.version import OcppVersion

from .api.command_sending import send_command
from .api.deps import AppState
from .auth import Principal, Role
from .problems import ProblemError

log = logging.getLogger(__name__)

# The audit log's requester of these reads; with the event's id it makes each boot's read unique.
REQUESTER = Principal("system", "system:boot-configuration", Role.OPERATOR)


def configuration_read(event: StationBooted) -> tuple[str, OcppModel]:
    """The command that reads the whole configuration of the version the CP booted with."""
    if event.ocpp_version is OcppVersion.V201:
        # The report's requestId ties its NotifyReport parts together; the boot's time in
        # milliseconds, cut to 31 bits for stations that keep it in a signed 32-bit integer.
        report_id = int(event.at.timestamp() * 1000) % (INT32_MAX + 1)
        return "GetBaseReport", GetBaseReportRequest(
            request_id=report_id, report_base=ReportBaseEnum.FULL_INVENTORY
        )
    return "GetConfiguration", GetConfigurationRequest()


async def read_configuration(state: AppState, event: StationBooted) -> None:
    """GetConfiguration (2.0.1: GetBaseReport) to a CP whose boot was accepted; a boot event
    followed again (a redelivery, a group run twice) sends nothing again: its requestId is
    taken."""
    if event.registration_status is not RegistrationStatus.ACCEPTED:
        return
    cp_id = event.charge_point_id
    request_id = f"boot:{cp_id}:{format_datetime(event.at)}"
    action, payload = configuration_read(event)
    async with state.sessions() as session:
        try:
            await send_command(
                state,
                session,
                REQUESTER,
                cp_id,
                action,
                payload,
                None,
                wait=False,
                request_id=request_id,
            )
        except IntegrityError:
            log.info("configuration of %s already asked for at this boot", cp_id)
        except (HTTPException, ProblemError) as exc:
            # Offline again, or unknown: recorded in the audit log, nothing to retry.
            log.info("configuration of %s not read: %s", cp_id, getattr(exc, "detail", exc))
