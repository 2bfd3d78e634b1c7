"""OCPP 1.6 feature profiles (section 3.1): a command of a profile the CP does not list in its
SupportedFeatureProfiles is refused before it is sent."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.contracts.rpc import OfChargePoint, RegistryRpc

from .problems import TYPES, ProblemError

if TYPE_CHECKING:
    from .api.deps import AppState

log = logging.getLogger(__name__)

# Core actions are not checked: every CP implements Core.
PROFILE_OF = {
    "GetDiagnostics": "FirmwareManagement",
    "UpdateFirmware": "FirmwareManagement",
    "GetLocalListVersion": "LocalAuthListManagement",
    "SendLocalList": "LocalAuthListManagement",
    "ReserveNow": "Reservation",
    "CancelReservation": "Reservation",
    "SetChargingProfile": "SmartCharging",
    "ClearChargingProfile": "SmartCharging",
    "GetCompositeSchedule": "SmartCharging",
    "TriggerMessage": "RemoteTrigger",
}


def _folded(name: str) -> str:
    # Firmwares spell them "Firmware Management", "smartcharging", "Remote_Trigger", ...
    return "".join(c for c in name if c.isalnum()).casefold()


class ProfileNotSupported(ProblemError):
    """409: the CP's SupportedFeatureProfiles does not list the action's profile."""

    def __init__(self, cp_id: str, action: str, profile: str, listed: list[str]) -> None:
        super().__init__(
            409,
            f"Charge point {cp_id!r} does not support the {profile} feature profile that "
            f"{action} belongs to (its SupportedFeatureProfiles: {', '.join(listed) or 'none'}); "
            "the command was not sent",
            type=TYPES + "feature-profile-not-supported",
            title="The charge point does not support this feature profile",
            profile=profile,
            supportedFeatureProfiles=listed,
        )


async def check_feature_profile(state: AppState, cp_id: str, action: str) -> None:
    """ProfileNotSupported when the CP's configuration snapshot lists its profiles and not the
    action's; a CP whose profiles are not known yet (or a registry not answering) is sent to."""
    profile = PROFILE_OF.get(action)
    if profile is None:
        return
    rpc = state.dispatcher.rpc
    assert rpc is not None
    try:
        answer = await rpc.call(
            RegistryRpc.feature_profiles, OfChargePoint(id=cp_id), state.settings.rpc_timeout
        )
    except (RpcUnavailable, RpcError) as exc:
        log.warning("feature profiles of %s unknown (%s); sending %s", cp_id, exc, action)
        return
    listed = answer.supported_feature_profiles
    if listed is None:
        return
    if _folded(profile) not in {_folded(p) for p in listed}:
        raise ProfileNotSupported(cp_id, action, profile, listed)
