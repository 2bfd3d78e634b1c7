"""A station's charging profiles in the console: the stored profiles and where their sending
stands, a small form for a simple profile, a delete per profile; and the site the station is on.
Every form calls the `/charge-points/{id}/charging-profiles` REST route itself, so a profile is
checked by the same rules (`csms_shared.charging.rules`) for the version the station speaks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import ValidationError

from csms_shared.charging import ChargingProfile, ChargingSchedule, ProfilePurpose, SchedulePeriod
from csms_shared.contracts.rpc_base import BIGINT
from csms_shared.ocpp._base import JsonObject
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..api import charging_profiles as profile_api
from ..api import sites as site_api
from ..problems import ProblemError, wire_loc
from .web import OperatorPage, Page, ViewerPage, shown

router = APIRouter(include_in_schema=False)
CpId = Annotated[str, Path(pattern=CHARGE_POINT_ID_PATTERN)]
ProfileId = Annotated[int, Path(ge=1, le=BIGINT)]
# What the CSMS may set: ExternalConstraints comes from a local energy manager, never from it.
PURPOSES = [p.value for p in ProfilePurpose if p is not ProfilePurpose.EXTERNAL_CONSTRAINTS]
MAX_PERIODS = 3
SHOWN = 100  # profiles on the page: OCPP stations hold a few per connector


@dataclass(frozen=True)
class Profiles:
    """A station's stored profiles for its page: each as the API shows it, whether any is on
    its way (the list then refreshes itself until every one is answered), or why there are
    none."""

    items: list[JsonObject]
    pending: bool = False
    error: str | None = None


@dataclass(frozen=True)
class SitePlace:
    """The site a station is on, by id and name, and its node there."""

    site_id: int
    site_name: str
    node_id: int


async def profiles_of(page: Page, cp_id: str) -> Profiles:
    """The stored profiles, whether any is on its way, or why there are none."""
    try:
        listing = await profile_api.list_charging_profiles(
            page.state, page.principal, cp_id, limit=SHOWN, offset=0
        )
    except HTTPException as exc:
        return Profiles(items=[], error=str(exc.detail))
    return Profiles(
        items=[shown(p) for p in listing.items],
        pending=any(p.send.status == "pending" for p in listing.items),
    )


async def site_of(page: Page, cp_id: str) -> SitePlace | None:
    """The site and node the station is on (by name), or None when it is on none."""
    try:
        placed = await site_api.get_station_site(page.state, page.principal, cp_id)
        found = await site_api.get_site(page.state, page.principal, placed.site_id)
    except HTTPException:
        return None
    return SitePlace(site_id=found.id, site_name=found.name, node_id=placed.node_id)


def _refusals(exc: ValidationError, where: tuple[int | str, ...] = ()) -> list[str]:
    """What a model refuses, each field by its path (under `where`) as the REST body spells
    it."""
    return [
        f"{'.'.join(str(p) for p in (*where, *wire_loc(e['loc']))) or 'profile'}: {e['msg']}"
        for e in exc.errors()
    ]


def _problems(exc: Exception) -> list[str]:
    """Every problem the form's profile has, each on its own line."""
    if isinstance(exc, ValidationError):
        return _refusals(exc)
    if isinstance(exc, ProblemError):
        errors = exc.extensions.get("errors")
        if isinstance(errors, list) and errors:
            return [f"{e['field'] or 'profile'}: {e['msg']} ({e['rule']})" for e in errors]
        return [exc.detail]
    if isinstance(exc, HTTPException):
        return [str(exc.detail)]
    return [str(exc)]


@contextmanager
def _noted(problems: list[str], *where: int | str) -> Iterator[None]:
    """A model built inside that refuses what the form gave: its problems noted (`where`:
    the model's path in the REST body)."""
    try:
        yield
    except ValidationError as exc:
        problems.extend(_refusals(exc, where))


def _periods(text: str, problems: list[str]) -> list[tuple[int, Decimal]]:
    """`startPeriod limit` lines, as the schedule's periods' start and limit (a limit is a
    number, never the text typed: the model refuses a rate given as a string)."""
    periods: list[tuple[int, Decimal]] = []
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        problems.append("periods: one line `startPeriod limit` at least, e.g. `0 16`")
    if len(lines) > MAX_PERIODS:
        problems.append(f"periods: at most {MAX_PERIODS} lines here (the REST API takes more)")
    for number, parts in enumerate(lines[:MAX_PERIODS], start=1):
        if len(parts) != 2:
            problems.append(f"periods line {number}: `startPeriod limit`, two numbers")
            continue
        try:
            periods.append((int(parts[0]), Decimal(parts[1])))
        except (ValueError, InvalidOperation):
            problems.append(f"periods line {number}: {' '.join(parts)!r} is not two numbers")
    return periods


def profile_body(form: Any) -> tuple[ChargingProfile | None, list[str]]:
    """The profile the form describes, or None and what the form spells wrong: first its
    periods' lines, then what the model refuses (the periods', the schedule's, the profile's
    own fields), each field named as the REST body spells it. A field left blank is given as
    None (the model parses the text typed in the others)."""
    problems: list[str] = []

    def text(name: str) -> str | None:
        raw = str(form.get(name) or "").strip()
        return raw or None

    lines = _periods(str(form.get("periods") or ""), problems)
    if problems:
        return None, problems
    periods: list[SchedulePeriod] = []
    for n, (start, limit) in enumerate(lines):
        with _noted(problems, "schedules", 0, "periods", n):
            periods.append(SchedulePeriod(start_period=start, limit=limit))
    if problems:
        return None, problems
    schedule: ChargingSchedule | None = None
    with _noted(problems, "schedules", 0):
        schedule = ChargingSchedule(
            rate_unit=text("rateUnit"),
            periods=tuple(periods),
            start_schedule=text("startSchedule"),
            duration=text("duration"),
        )
    if schedule is None:
        return None, problems
    profile: ChargingProfile | None = None
    with _noted(problems):
        profile = ChargingProfile(
            id=text("id"),
            purpose=text("purpose"),
            stack_level=text("stackLevel"),
            kind=text("kind"),
            connector_id=text("connectorId"),
            transaction_id=text("transactionId"),
            valid_from=text("validFrom"),
            valid_to=text("validTo"),
            schedules=(schedule,),
        )
    return profile, problems


def _listed(page: Page, **context: Any) -> Response:
    """The outcome of a form; on success the profile list re-reads itself once it is shown."""
    answer = page.render("cp_profile_outcome.html", **context)
    if context.get("ok"):
        answer.headers["HX-Trigger-After-Swap"] = "profiles-changed"
    return answer


@router.get("/charge-points/{cp_id}/charging-profiles")
async def profiles(page: ViewerPage, cp_id: CpId) -> Response:
    """The profile list alone, refreshed in place."""
    return page.render("cp_profiles.html", cp_id=cp_id, profiles=await profiles_of(page, cp_id))


@router.post("/charge-points/{cp_id}/charging-profiles")
async def add_profile(page: OperatorPage, cp_id: CpId) -> Response:
    """Store a profile and send it (SetChargingProfile in the station's version); what the
    form, the model or OCPP's rules refuse is listed, nothing is stored then."""
    form = await page.form()
    profile, problems = profile_body(form)
    if profile is None:
        return _listed(page, ok=False, text="Not stored", problems=problems)
    try:
        stored = await profile_api.create_charging_profile(
            page.state, page.principal, cp_id, profile
        )
    except (ValidationError, ProblemError, HTTPException) as exc:
        return _listed(page, ok=False, text="Not stored", problems=_problems(exc))
    return _listed(page, ok=True, text=f"Stored profile {stored.profile.id}, sent to {cp_id}")


@router.post("/charge-points/{cp_id}/charging-profiles/{profile_id}/delete")
async def delete_profile(page: OperatorPage, cp_id: CpId, profile_id: ProfileId) -> Response:
    """Send ClearChargingProfile for a stored profile; it is gone once the station clears it."""
    await page.form()
    try:
        await profile_api.delete_charging_profile(page.state, page.principal, cp_id, profile_id)
    except (ProblemError, HTTPException) as exc:
        return _listed(page, ok=False, text="Not deleted", problems=_problems(exc))
    return _listed(page, ok=True, text=f"ClearChargingProfile sent for profile {profile_id}")
