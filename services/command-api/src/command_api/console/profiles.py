"""A station's charging profiles in the console: the stored profiles and where their sending
stands, a form for a profile with every field the REST body takes, a delete per profile; and the
site the station is on. Every form calls the `/charge-points/{id}/charging-profiles` REST route
itself, so a profile is checked by the same model and rules (`csms_shared.charging`) for the
version the station speaks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from annotated_types import MaxLen
from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from csms_shared.charging import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
)
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
SHOWN = 100  # profiles on the page: OCPP stations hold a few per connector
# The form's fields are the model's: a profile's, each schedule's (named
# `schedules.<index>.<field>`, its periods a text of lines), and a period's line, its fields in
# this order, the last two optional.
PROFILE_FIELDS = tuple(name for name in ChargingProfile.model_fields if name != "schedules")
SCHEDULE_FIELDS = tuple(ChargingSchedule.model_fields)
PERIOD_FIELDS = ("start_period", "limit", "number_phases", "phase_to_use")
LINE = "startPeriod limit [numberPhases [phaseToUse]]"


@dataclass(frozen=True)
class ProfileForm:
    """What the "Add a profile" form offers: the model's choices and its number of schedules."""

    # What the CSMS may set: ExternalConstraints comes from a local energy manager, never from it.
    purposes: tuple[str, ...] = tuple(
        p.value for p in ProfilePurpose if p is not ProfilePurpose.EXTERNAL_CONSTRAINTS
    )
    kinds: tuple[str, ...] = tuple(k.value for k in ProfileKind)
    recurrencies: tuple[str, ...] = tuple(r.value for r in RecurrencyKind)
    rate_units: tuple[str, ...] = tuple(u.value for u in RateUnit)
    # As many as the model takes (2.0.1's chargingSchedule maxItems; 1.6's rules take one).
    schedules: int = next(
        m.max_length
        for m in ChargingProfile.model_fields["schedules"].metadata
        if isinstance(m, MaxLen)
    )


PROFILE_FORM = ProfileForm()


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


def _refusals(exc: ValidationError) -> list[str]:
    """What a model refuses, each field by its path as the REST body spells it."""
    errors = exc.errors()
    # pydantic counts a tuple's items after dropping those it refused, so a refused period also
    # reads as "too short" on its periods and its schedules: only the period's problem is one.
    own = [
        e
        for e in errors
        if e["type"] != "too_short" or not any(_inside(o["loc"], e["loc"]) for o in errors)
    ]
    return [f"{'.'.join(str(p) for p in wire_loc(e['loc'])) or 'profile'}: {e['msg']}" for e in own]


def _inside(loc: tuple[int | str, ...], outer: tuple[int | str, ...]) -> bool:
    return len(loc) > len(outer) and loc[: len(outer)] == outer


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


def _text(form: Any, name: str) -> str | None:
    """A field's text, None when left blank."""
    raw = str(form.get(name) or "").strip()
    return raw or None


def _rate(text: str | None) -> Decimal | str | None:
    """A rate typed, as the number it reads as; text that reads as none is kept for the model
    to refuse (a rate given as a string is refused, never parsed)."""
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def _lines(text: str, at: str, problems: list[str]) -> list[dict[str, Any]]:
    """The period lines `startPeriod limit [numberPhases [phaseToUse]]` of the schedule at
    `at`, each as its period's fields (as typed: the model reads them)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        problems.append(f"{at}: one line `{LINE}` at least, e.g. `0 16`")
    periods: list[dict[str, Any]] = []
    for number, parts in enumerate(lines, start=1):
        if not 2 <= len(parts) <= len(PERIOD_FIELDS):
            problems.append(f"{at} line {number}: {' '.join(parts)!r} is not `{LINE}`")
            continue
        fields: dict[str, Any] = dict(zip(PERIOD_FIELDS, parts, strict=False))
        fields["limit"] = _rate(fields["limit"])
        periods.append(fields)
    return periods


def _typed(form: Any, index: int) -> dict[str, str | None]:
    """The fields of the form's schedule `index`, as typed."""
    return {name: _text(form, f"schedules.{index}.{to_camel(name)}") for name in SCHEDULE_FIELDS}


def _given(form: Any, problems: list[str]) -> list[int]:
    """The form's schedules filled in, in order as the body lists them: the first always, each
    other once any field of it but its rate unit (a choice always made) is."""
    filled = [
        index == 0 or any(v for k, v in _typed(form, index).items() if k != "rate_unit")
        for index in range(PROFILE_FORM.schedules)
    ]
    last = max(i for i, f in enumerate(filled) if f)
    problems.extend(
        f"schedules.{index}: schedule {index + 1} is blank but schedule {last + 1} is not:"
        " fill them in order"
        for index in range(last)
        if not filled[index]
    )
    return [] if problems else list(range(last + 1))


def _schedule(form: Any, index: int, problems: list[str]) -> dict[str, Any]:
    """The form's schedule `index` as the model's fields, its period lines read."""
    typed = _typed(form, index)
    return {
        **typed,
        "min_charging_rate": _rate(typed["min_charging_rate"]),
        "periods": _lines(typed["periods"] or "", f"schedules.{index}.periods", problems),
    }


def profile_body(form: Any) -> tuple[ChargingProfile | None, list[str]]:
    """The profile the form describes, or None and what the form spells wrong: first its
    schedules' order and period lines, then every field the model refuses, each named as the
    REST body spells it. A field left blank is given as None (the model parses the text typed
    in the others)."""
    problems: list[str] = []
    schedules = [_schedule(form, index, problems) for index in _given(form, problems)]
    if problems:
        return None, problems
    body = {name: _text(form, to_camel(name)) for name in PROFILE_FIELDS}
    try:
        return ChargingProfile.model_validate({**body, "schedules": schedules}), []
    except ValidationError as exc:
        return None, _refusals(exc)


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
