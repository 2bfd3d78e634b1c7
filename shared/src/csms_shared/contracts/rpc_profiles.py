"""The load-manager's RPC methods on stored charging profiles (`ProfilesRpc`).

command-api checks a profile against OCPP's rules for the station's version before it stores
one (`charging.validate`); the load-manager checks it again, against the profiles the station
holds too (`charging.conflicts`), stores it and sends it through the command path.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..charging import ActiveTransaction, ChargingProfile, CompositeSchedule, RateUnit
from ..ocpp.v16.datatypes import OcppDateTime
from ..ocpp.version import OcppVersion
from .resources_base import Page, Resource
from .resources_profiles import StoredChargingProfile
from .rpc_base import BIGINT, LOAD_MANAGER, Paged, RpcMethod
from .rpc_loads import OfStation

__all__ = [
    "MAX_COMPOSITE_DURATION",
    "CheckProfile",
    "ComputeComposite",
    "ListStationProfiles",
    "OfStationProfile",
    "ProfileVerdict",
    "ProfilesRpc",
    "StoreProfile",
]

# A week: a composite schedule longer than that is not a plan anyone reads.
MAX_COMPOSITE_DURATION = 7 * 24 * 3600

ProfileId = Annotated[int, Field(ge=1, le=BIGINT)]


class ListStationProfiles(Paged, OfStation):
    """A page of a station's stored profiles, by connector and id."""


class OfStationProfile(OfStation):
    """One stored profile of a station, by its id."""

    profile_id: ProfileId


class StoreProfile(OfStation):
    """Store a profile for a station (replacing the stored one of the same id) and send it in
    the version the station speaks."""

    ocpp_version: OcppVersion
    profile: ChargingProfile


class ComputeComposite(OfStation):
    """The composite schedule of one connector/EVSE (0: the station) from the stored profiles."""

    connector_id: int = Field(ge=0, le=BIGINT)
    start: OcppDateTime
    duration: int = Field(ge=1, le=MAX_COMPOSITE_DURATION)
    rate_unit: RateUnit
    transaction: ActiveTransaction | None = Field(
        default=None, description="The transaction running there: its TxProfiles count"
    )


class CheckProfile(OfStation):
    """May an operator's profile go to a station as it is (sent raw, not stored): none may take
    over the site allocator's (`load_manager.managed_profiles`)."""

    profile: ChargingProfile


class ProfileVerdict(Resource):
    """Why the profile may not go to the station (the field and the rule), or None."""

    refusal: str | None = None


class ProfilesRpc:
    """The load-manager's RPC methods on charging profiles."""

    list_profiles = RpcMethod(
        "profiles.list", LOAD_MANAGER, ListStationProfiles, Page[StoredChargingProfile]
    )
    store_profile = RpcMethod("profiles.store", LOAD_MANAGER, StoreProfile, StoredChargingProfile)
    clear_profile = RpcMethod(
        "profiles.clear", LOAD_MANAGER, OfStationProfile, StoredChargingProfile
    )
    composite = RpcMethod("profiles.composite", LOAD_MANAGER, ComputeComposite, CompositeSchedule)
    check_profile = RpcMethod("profiles.check", LOAD_MANAGER, CheckProfile, ProfileVerdict)
