"""A profile an operator sends raw (SetChargingProfile, the profile of a remote start) obeys the
rules a stored one does: the load-manager says whether it would take over the site allocator's
(`load_manager.managed_profiles`), and a refusal is a 422 naming the field and the rule."""

from __future__ import annotations

from fastapi import HTTPException, status
from pydantic import ValidationError

from csms_shared.charging import ChargingProfile
from csms_shared.charging.adapters import from_v16, from_v16_request, from_v201, from_v201_request
from csms_shared.contracts.rpc_profiles import CheckProfile, ProfilesRpc
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp._base import OcppModel

from .api.deps import AppState, call


def profile_of(payload: OcppModel) -> tuple[ChargingProfile, str] | None:
    """The charging profile a command installs, with the body's field that holds it; None
    when it installs none."""
    if isinstance(payload, v16.SetChargingProfileRequest):
        return from_v16_request(payload), "csChargingProfiles"
    if isinstance(payload, v201.SetChargingProfileRequest):
        return from_v201_request(payload), "chargingProfile"
    if isinstance(payload, v16.RemoteStartTransactionRequest) and payload.charging_profile:
        return from_v16(payload.charging_profile, payload.connector_id or 0), "chargingProfile"
    if isinstance(payload, v201.RequestStartTransactionRequest) and payload.charging_profile:
        return from_v201(payload.charging_profile, payload.evse_id or 0), "chargingProfile"
    return None


async def check_profile(state: AppState, cp_id: str, payload: OcppModel, where: str) -> None:
    """422 when the command's profile may not go to the station (the allocator's id, or on a
    station of a site a TxProfile or a TxDefaultProfile at or above the allocator's level);
    503 when the load-manager cannot say (a profile is never sent unchecked)."""
    try:
        found = profile_of(payload)
    except (ValidationError, ValueError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: not a profile the suite reads: {exc}"
        ) from None
    if found is None:
        return
    profile, field = found
    verdict = await call(
        state, ProfilesRpc.check_profile, CheckProfile(charge_point_id=cp_id, profile=profile)
    )
    if verdict.refusal is not None:
        # The load-manager names the field in our terms ("profile.purpose: ..."): said as the
        # body spells it in the station's version.
        name, _, reason = verdict.refusal.removeprefix("profile.").partition(":")
        spelt = _WIRE.get(name, (name, name))[isinstance(payload, _V201)]
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}.{field}.{spelt}:{reason}"
        )


# Our profile's field -> (1.6's name, 2.0.1's name) where they differ.
_WIRE = {
    "id": ("chargingProfileId", "id"),
    "purpose": ("chargingProfilePurpose", "chargingProfilePurpose"),
}
_V201 = (v201.SetChargingProfileRequest, v201.RequestStartTransactionRequest)
