"""The allocator's own profile on a station of a site, kept its own: an operator's stored profile
never takes it over.

The allocator holds each EVSE of a station on a site to its share with a TxDefaultProfile of id
`LOADS_ALLOCATION_PROFILE_ID` + the EVSE at stack level `LOADS_ALLOCATION_STACK_LEVEL`. Per purpose
the profile of the highest stack level prevails (1.6 §3.13.2), a TxProfile in place of every
TxDefaultProfile while its transaction runs, and the station applies the lower of that and its
station maximum (1.6 §3.13.3, 2.0.1 K08). So three kinds of profile would lift an EVSE above its
share:

- one of the allocator's ids (on any station: one placed later would have it), which replaces
  the allocator's profile (1.6 §5.16, 2.0.1 K01.FR.05);
- on a station of a site, a TxDefaultProfile at the allocator's stack level or above: above it
  wins; at it, 1.6 replaces the allocator's (one purpose and stack level) and 2.0.1 refuses the
  allocator's next (K01.FR.06);
- on a station of a site, a TxProfile.

Each is refused (422 naming the field and the rule), not held under the allocation: a profile
held under it would have to be rewritten at every change of the site's shares, and a station
holding one between two rewrites could draw over a limit. A station maximum only lowers the
composite, and a TxDefaultProfile under the allocator's level is overruled by it: both stay the
operator's. A station that holds (or is about to be sent) a profile of those kinds is not placed
on a site until it is deleted (409).
"""

from __future__ import annotations

from collections.abc import Iterable

from csms_shared.charging import ChargingProfile, ProfilePurpose
from csms_shared.contracts.rpc_loads import MAX_EVSES

from ..settings import Settings


def allocator_ids(settings: Settings) -> range:
    """The profile ids the allocator installs: its id + each EVSE a station may have."""
    first = settings.allocation_profile_id + 1
    return range(first, first + MAX_EVSES)


def reserved(profile: ChargingProfile, settings: Settings) -> str | None:
    """Why a profile may not be stored on any station (its id is the allocator's), or None."""
    ids = allocator_ids(settings)
    if profile.id in ids:
        return (
            f"profile.id: {profile.id} is the site allocator's own (LOADS_ALLOCATION_PROFILE_ID "
            f"+ EVSE: {ids.start}..{ids.stop - 1}); on a station it would replace the site's "
            "limit: use another id"
        )
    return None


def unmanaged(profile: ChargingProfile, settings: Settings) -> str | None:
    """Why a profile may not be on a station of a site (it would lift an EVSE above the
    allocator's limit), or None."""
    level = settings.allocation_stack_level
    if profile.purpose is ProfilePurpose.TX:
        return (
            "profile.purpose: a TxProfile overrides the site allocator's TxDefaultProfile while "
            "its transaction runs, lifting the EVSE above its share of the site: not on a "
            "station of a site"
        )
    if profile.purpose is ProfilePurpose.TX_DEFAULT and profile.stack_level >= level:
        return (
            f"profile.stackLevel: {profile.stack_level} is at or above the site allocator's "
            f"{level} (LOADS_ALLOCATION_STACK_LEVEL): on a station of a site a TxDefaultProfile "
            "there takes the place of the site's limit; use a lower stack level"
        )
    return None


def refusal(profile: ChargingProfile, settings: Settings, on_site: bool) -> str | None:
    """Why an operator's profile may not be stored for a station (on a site or not), or None."""
    return reserved(profile, settings) or (unmanaged(profile, settings) if on_site else None)


def blocking(profiles: Iterable[ChargingProfile], settings: Settings) -> list[str]:
    """The stored profiles that keep a station off a site, each with why."""
    found = []
    for profile in profiles:
        why = unmanaged(profile, settings)
        if why is not None:
            found.append(f"{profile.id} ({why.removeprefix('profile.')})")
    return found
