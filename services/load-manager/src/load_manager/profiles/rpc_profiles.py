"""RPC methods on stored charging profiles: list a station's, store one (and send it), clear
one, and the composite schedule they make."""

from __future__ import annotations

from sqlalchemy import func, select

from csms_shared.bus.access import COMMAND_API
from csms_shared.charging import CompositeSchedule, ProfilePurpose
from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.resources_profiles import StoredChargingProfile
from csms_shared.contracts.rpc_profiles import (
    CheckProfile,
    ComputeComposite,
    ListStationProfiles,
    OfStationProfile,
    ProfilesRpc,
    ProfileVerdict,
    StoreProfile,
)

from ..db import charging_profiles, stations
from ..followed import follow
from ..router import Ctx, router
from . import store as profiles
from .managed import refusal

c = charging_profiles.c


@router.rpc(ProfilesRpc.list_profiles, callers={COMMAND_API})
async def list_profiles(params: ListStationProfiles, ctx: Ctx) -> Page[StoredChargingProfile]:
    """A page of a station's stored profiles, by connector and id, each with its last send."""
    where = c.charge_point_id == params.charge_point_id
    total = await ctx.session.scalar(
        select(func.count()).select_from(charging_profiles).where(where)
    )
    rows = await ctx.session.execute(
        select(charging_profiles)
        .where(where)
        .order_by(c.connector_id, c.profile_id)
        .limit(params.limit)
        .offset(params.offset)
    )
    return Page[StoredChargingProfile](
        items=[profiles.stored(row) for row in rows],
        total=int(total or 0),
        limit=params.limit,
        offset=params.offset,
    )


@router.rpc(ProfilesRpc.store_profile, callers={COMMAND_API})
async def store_profile(params: StoreProfile, ctx: Ctx) -> StoredChargingProfile:
    """Store a profile for a station and send it as SetChargingProfile in its version; a
    TxProfile's station is followed, for the transaction's end that drops it (following.py)."""
    row = await profiles.store(ctx.session, ctx.settings, params)
    if params.profile.purpose is ProfilePurpose.TX:
        await follow(ctx, [params.charge_point_id])
    return profiles.stored(row)


@router.rpc(ProfilesRpc.clear_profile, callers={COMMAND_API})
async def clear_profile(params: OfStationProfile, ctx: Ctx) -> StoredChargingProfile:
    """Send ClearChargingProfile for a stored profile; the row goes once the station clears it."""
    row = await profiles.clear(ctx.session, ctx.settings, params.charge_point_id, params.profile_id)
    return profiles.stored(row)


@router.rpc(ProfilesRpc.composite, callers={COMMAND_API})
async def composite(params: ComputeComposite, ctx: Ctx) -> CompositeSchedule:
    """The composite schedule of a connector/EVSE from the station's stored profiles."""
    return await profiles.composite(ctx.session, params)


@router.rpc(ProfilesRpc.check_profile, callers={COMMAND_API})
async def check_profile(params: CheckProfile, ctx: Ctx) -> ProfileVerdict:
    """Whether a profile an operator sends raw (SetChargingProfile, a remote start's profile)
    may go to the station: by the rules a stored one obeys (`managed_profiles`)."""
    on_site = await ctx.session.scalar(
        select(stations.c.site_id).where(stations.c.charge_point_id == params.charge_point_id)
    )
    return ProfileVerdict(refusal=refusal(params.profile, ctx.settings, on_site is not None))
