"""The OCPP CALLs the load-manager answers: a 2.0.1 station's ReportChargingProfiles (what it
holds, in answer to the GetChargingProfiles a check sent when it came back; the registry keeps
a copy of each as a station message too)."""

from __future__ import annotations

from csms_shared.bus.router import CallContext
from csms_shared.ocpp import v201

from ..router import router
from ..settings import Settings
from . import answers as profile_answers


@router.on(v201.Action.REPORT_CHARGING_PROFILES)
async def report_charging_profiles(
    request: v201.ReportChargingProfilesRequest, ctx: CallContext[Settings]
) -> v201.ReportChargingProfilesResponse:
    """A part of the profiles a 2.0.1 station holds: it answers a check's GetChargingProfiles."""
    await profile_answers.reported(ctx.session, ctx.settings, ctx.charge_point_id, request)
    return v201.ReportChargingProfilesResponse()
