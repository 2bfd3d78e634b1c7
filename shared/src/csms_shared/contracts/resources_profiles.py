"""The load-manager's stored charging profiles, and a station's composite schedule beside the one
the CSMS computes (see `resources.py`).

A stored profile is the suite's own `charging.ChargingProfile` (the same for OCPP 1.6 and 2.0.1)
with what the CSMS last asked the station about it and the station's answer: SetChargingProfile
once stored (and again after each accepted boot), ClearChargingProfile once deleted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..charging import ChargingProfile, CompositeSchedule
from .resources_base import DateTime, JsonObject, Omit, Resource

__all__ = [
    "CompositeSchedules",
    "ProfileAction",
    "ProfileSend",
    "ProfileSendStatus",
    "StationCompositeError",
    "StoredChargingProfile",
]

ProfileAction = Literal["SetChargingProfile", "ClearChargingProfile"]
ProfileSendStatus = Literal["pending", "accepted", "rejected", "failed"]


class ProfileSend(Resource):
    """The last command about a stored profile and how it ended: `pending` (on its way),
    `accepted` / `rejected` (the station's answer), `failed` (no answer: offline, timeout,
    CALLERROR, refused before it was sent, or not valid in the version the station speaks)."""

    action: ProfileAction
    status: ProfileSendStatus
    command_id: Omit[str] = Field(
        default=None, description="The command in the audit log (/commands/{commandId})"
    )
    outcome: Omit[str] = Field(
        default=None,
        description="The command's: result, offline, timeout, error, refused, ... (absent while"
        " pending)",
    )
    response: Omit[JsonObject] = Field(
        default=None, description="The station's answer as it sent it (status, statusInfo)"
    )
    reason: Omit[str] = Field(default=None, description="Why it failed or was rejected")
    requested_at: DateTime
    answered_at: Omit[DateTime] = None


class StoredChargingProfile(Resource):
    """A charging profile the CSMS keeps for a station, and where its sending stands."""

    charge_point_id: str
    profile: ChargingProfile
    ocpp_version: Literal["1.6", "2.0.1"] = Field(
        description="The version the station spoke when the profile was last sent"
    )
    send: ProfileSend
    created_at: DateTime
    updated_at: DateTime


class StationCompositeError(Resource):
    """Why the station gave no composite schedule: its answer's status (`Rejected`) or the
    command's outcome (offline, timeout, error, ...)."""

    outcome: str
    detail: str
    command_id: Omit[str] = None


class CompositeSchedules(Resource):
    """A connector's (EVSE's; 0: the station's) composite schedule as the station answers
    GetCompositeSchedule, beside the one the CSMS computes from the profiles it stores."""

    station: CompositeSchedule | None = Field(
        description="The station's answer; null when it gave none (see stationError)"
    )
    station_error: Omit[StationCompositeError] = None
    command_id: Omit[str] = Field(default=None, description="The GetCompositeSchedule command")
    computed: CompositeSchedule = Field(
        description="From the stored profiles (those being cleared left out), over the same"
        " window and in the same unit as the station's answer"
    )
