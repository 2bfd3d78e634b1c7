"""Sites in the console: the list, a site's tree of nodes with their limits and the stations on
them; operators add sites and nodes, change limits, and place stations. Every form calls the
`/sites` REST route itself, so the console keeps the API's checks and answers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from csms_shared.contracts.resources_loads import SiteSample
from csms_shared.contracts.rpc_base import BIGINT
from csms_shared.ocpp._base import JsonObject
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..api import sites as site_api
from ..models import Node, Site
from ..problems import ProblemError
from .charging import PAGE_SIZE, Offset
from .web import OperatorPage, Page, ViewerPage, shown

router = APIRouter(include_in_schema=False)
SiteId = Annotated[int, Path(ge=1, le=BIGINT)]
CpId = Annotated[str, Path(pattern=CHARGE_POINT_ID_PATTERN)]


class FormError(ValueError):
    """A field the form spells wrong, before any model sees it."""


def _text(form: Any, name: str) -> str | None:
    raw = str(form.get(name) or "").strip()
    return raw or None


def _integer(form: Any, name: str) -> int | None:
    raw = _text(form, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise FormError(f"{name}: {raw!r} is not a whole number") from None


@dataclass(frozen=True)
class _Limit:
    """A node's limit as typed in: A per phase or W, the other None."""

    amps: list[Decimal] | None = None
    watts: int | None = None


@dataclass(frozen=True)
class _Supply:
    """A new node as the form gives it: its name, limit, voltage and phases."""

    name: str | None
    limit: _Limit
    voltage: int
    phases: int


def _limit(form: Any, phases: int) -> _Limit:
    """The limit typed in: W as one number, or A per phase (one number for every phase, or one
    per phase, separated by spaces or commas)."""
    raw = (_text(form, "limit") or "").replace(",", " ").split()
    if not raw:
        raise FormError("limit: a node needs a limit")
    if form.get("unit") == "W":
        if len(raw) != 1 or not raw[0].isdigit():
            raise FormError("limit: a limit in W is one whole number")
        return _Limit(watts=int(raw[0]))
    try:
        amps = [Decimal(part) for part in raw]
    except InvalidOperation:
        raise FormError(f"limit: {' '.join(raw)!r} is not A per phase") from None
    return _Limit(amps=amps * phases if len(amps) == 1 else amps)


def _supply(form: Any) -> _Supply:
    """Name, voltage, phases and limit of a new node (230 V, 3 phases unless given, as a site's
    NodeSettings default them)."""
    phases = _integer(form, "phases") or 3
    limit = _limit(form, phases)
    voltage = _integer(form, "voltage")
    return _Supply(
        name=_text(form, "name"),
        limit=limit,
        voltage=230 if voltage is None else voltage,
        phases=phases,
    )


def new_site(form: Any) -> site_api.NewSite:
    """The site the form describes (FormError or ValidationError: what it spells wrong)."""
    supply = _supply(form)
    return site_api.NewSite(
        name=supply.name,
        limit_amps=supply.limit.amps,
        limit_watts=supply.limit.watts,
        voltage=supply.voltage,
        phases=supply.phases,
    )


def new_node(form: Any) -> site_api.NewSiteNode:
    """The node the form describes under its `parentId` (as `new_site`)."""
    supply = _supply(form)
    return site_api.NewSiteNode(
        parent_id=_integer(form, "parentId"),
        name=supply.name,
        limit_amps=supply.limit.amps,
        limit_watts=supply.limit.watts,
        voltage=supply.voltage,
        phases=supply.phases,
    )


def _refused(page: Page, failed: str, exc: Exception) -> Response:
    """Why a form's change did not happen, as a message where the form is (never a 500)."""
    if isinstance(exc, ValidationError | HTTPException):
        return page.refused(failed, exc)
    if isinstance(exc, ProblemError):
        return page.outcome(exc.status, ok=False, text=f"{failed}: {exc.detail}")
    return page.outcome(422, ok=False, text=f"{failed}: {exc}")


def _done(page: Page, target: str) -> Response:
    """A change made: the page showing it (htmx follows HX-Redirect, a plain post the 303)."""
    if page.request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


@router.get("/sites")
async def sites(page: ViewerPage, offset: Offset = 0) -> Response:
    """Sites by id with their grid connection's limit, and a form for a new one (operators)."""
    try:
        result = shown(
            await site_api.list_sites(page.state, page.principal, limit=PAGE_SIZE, offset=offset)
        )
    except HTTPException as exc:
        result = {"items": [], "total": 0, "error": str(exc.detail)}
    return page.render("sites.html", result=result, offset=offset, page_size=PAGE_SIZE)


@router.post("/sites")
async def create_site(page: OperatorPage) -> Response:
    """Add a site with its grid connection's limit."""
    form = await page.form()
    try:
        created = await site_api.create_site(page.state, page.principal, new_site(form))
    except (FormError, ValidationError, HTTPException, ProblemError) as exc:
        return _refused(page, "Not created", exc)
    return _done(page, f"/sites/{created.id}")


@router.get("/sites/{site_id}")
async def site(page: ViewerPage, site_id: SiteId) -> Response:
    """A site's tree: each node's limit and supply, the stations on it and their settings."""
    try:
        found = await site_api.get_site(page.state, page.principal, site_id)
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return page.render("site.html", site=shown(found), live=await _allocation(page, found))


@dataclass(frozen=True)
class Chart:
    """SVG polylines of a site's limit, allocation and draw over its last hours, in a box of
    `width` by `height` whose top is `top` A; `start` and `end` the window's times of day."""

    width: int
    height: int
    top: int | float
    start: str
    end: str
    limit: str
    allocated: str
    drawn: str


@dataclass(frozen=True)
class LiveAllocation:
    """A site's live allocation card: what the allocator gives now as the API shows it, and
    the chart of its last hours; or why there is none. `names`: its nodes' names by id."""

    site_id: int
    names: dict[int, str]
    allocation: JsonObject | None = None
    chart: Chart | None = None
    error: str | None = None


async def _allocation(page: Page, found: Site) -> LiveAllocation:
    """The site's live allocation for its template, with the node names to show."""
    names: dict[int, str] = {}
    pending: list[Node] = [found]
    while pending:
        node = pending.pop()
        names[node.id] = node.name
        pending.extend(node.nodes)
    try:
        allocation = await site_api.get_allocation(page.state, page.principal, found.id)
        history = await site_api.get_history(page.state, page.principal, found.id, CHART_HOURS)
    except HTTPException as exc:
        return LiveAllocation(site_id=found.id, names=names, error=str(exc.detail))
    return LiveAllocation(
        site_id=found.id,
        names=names,
        allocation=shown(allocation),
        chart=chart(history.samples),
    )


# The chart on a site's page: its last hours, one sample a minute.
CHART_HOURS = 6.0
CHART_WIDTH, CHART_HEIGHT = 600, 160


def chart(samples: list[SiteSample]) -> Chart | None:
    """SVG polylines of the limit, the allocation and the draw over the samples (None: fewer
    than two samples, nothing to draw yet)."""
    if len(samples) < 2:
        return None
    start, end = samples[0].at, samples[-1].at
    span = max((end - start).total_seconds(), 1.0)
    top = max(max(s.limit_amps, s.allocated_amps, s.drawn_amps) for s in samples) or 1

    def line(values: list[float]) -> str:
        return " ".join(
            f"{(s.at - start).total_seconds() / span * CHART_WIDTH:.1f},"
            f"{CHART_HEIGHT - v / top * CHART_HEIGHT:.1f}"
            for s, v in zip(samples, values, strict=True)
        )

    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        top=top,
        start=start.strftime("%H:%M"),
        end=end.strftime("%H:%M"),
        limit=line([float(s.limit_amps) for s in samples]),
        allocated=line([float(s.allocated_amps) for s in samples]),
        drawn=line([float(s.drawn_amps) for s in samples]),
    )


@router.get("/sites/{site_id}/allocation")
async def allocation(page: ViewerPage, site_id: SiteId) -> Response:
    """The live allocation card of a site's page (re-read every 5 s)."""
    try:
        found = await site_api.get_site(page.state, page.principal, site_id)
    except HTTPException as exc:
        return page.render("not_found.html", exc.status_code, message=str(exc.detail))
    return page.render("site_allocation.html", live=await _allocation(page, found))


@router.post("/sites/{site_id}/nodes")
async def create_node(page: OperatorPage, site_id: SiteId) -> Response:
    """Add a circuit or panel under a node of the site."""
    form = await page.form()
    try:
        await site_api.create_node(page.state, page.principal, site_id, new_node(form))
    except (FormError, ValidationError, HTTPException, ProblemError) as exc:
        return _refused(page, "Not added", exc)
    return _done(page, f"/sites/{site_id}")


@router.post("/sites/{site_id}/nodes/{node_id}/limit")
async def change_limit(page: OperatorPage, site_id: SiteId, node_id: SiteId) -> Response:
    """Replace a node's limit (the site's own node: the grid connection's)."""
    form = await page.form()
    state, who = page.state, page.principal
    try:
        limit = _limit(form, _integer(form, "phases") or 3)
        # Both given (one None): the limit replaces the stored one, in whichever unit.
        if node_id == site_id:
            site_change = site_api.SitePatch(limit_amps=limit.amps, limit_watts=limit.watts)
            await site_api.update_site(state, who, site_id, site_change)
        else:
            node_change = site_api.NodePatch(limit_amps=limit.amps, limit_watts=limit.watts)
            await site_api.update_node(state, who, site_id, node_id, node_change)
    except (FormError, ValidationError, HTTPException, ProblemError) as exc:
        return _refused(page, "Not changed", exc)
    return _done(page, f"/sites/{site_id}")


@router.post("/sites/{site_id}/stations")
async def assign_station(page: OperatorPage, site_id: SiteId) -> Response:
    """Put a station on a node of the site (off any node it was on), with its settings."""
    form = await page.form()
    cp_id = _text(form, "chargePointId") or ""
    try:
        # The currents as typed: the model reads A with one decimal.
        body = site_api.StationSite(
            node_id=_integer(form, "nodeId"),
            max_current=_text(form, "maxCurrent"),
            min_current=_text(form, "minCurrent"),
            priority=_integer(form, "priority") or 0,
        )
        await _of_site(page, site_id, body.node_id)
        await site_api.assign_station(page.state, page.principal, cp_id, body)
    except (FormError, ValidationError, HTTPException, ProblemError) as exc:
        return _refused(page, "Not assigned", exc)
    return _done(page, f"/sites/{site_id}")


async def _of_site(page: Page, site_id: int, node_id: int) -> None:
    """422 unless the node is of this site: a form of one site's page never places a station
    on another site."""
    try:
        await site_api.get_node(page.state, page.principal, site_id, node_id)
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
        raise FormError(f"nodeId: node {node_id} is not of site {site_id}") from None


@router.post("/sites/{site_id}/stations/{cp_id}/unassign")
async def unassign_station(page: OperatorPage, site_id: SiteId, cp_id: CpId) -> Response:
    """Take a station off its site."""
    await page.form()
    try:
        await site_api.unassign_station(page.state, page.principal, cp_id)
    except HTTPException as exc:
        return _refused(page, "Not unassigned", exc)
    return _done(page, f"/sites/{site_id}")
