"""Sites and charging profiles in the browser: an operator builds a site, places a station on it
and takes it off; a site's page charts its samples; a viewer reads without a form; an operator
stores, sees answered and deletes a charging profile on a station's page, stores a Recurring one
on one phase in either version, and an invalid one shows every rule it breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from csms_shared.ocpp._base import format_datetime
from tests.integration.browser import (
    PASSWORD,
    browser,
    console_url,
    context,
    log_in,
    make_user,
    page,
)
from tests.integration.test_charging_profiles import START, received, station
from tests.integration.test_load_demand import Session
from tests.integration.test_sites import created, problem, unique

# The allocator's profiles: LOADS_ALLOCATION_PROFILE_ID + the EVSE.
ALLOCATOR = 1_900_000_000

pytestmark = pytest.mark.integration
__all__ = ["browser", "console_url", "context", "page"]  # fixtures used by the tests below


async def _as(page: Page, console_url: str, api: httpx.AsyncClient, role: str) -> None:
    """Log the browser in as a new user with `role`."""
    user = await make_user(api, role)
    await log_in(page, console_url, user, PASSWORD)
    await expect(page.locator("#whoami")).to_contain_text(role)


async def test_an_operator_builds_a_site_and_places_a_station(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    await station(api, connect_cp, cp_id, "1.6")
    await _as(page, console_url, api, "operator")
    await page.click("nav a[href='/sites']")
    name = unique("Depot <b>")
    new = page.locator("#new-site")
    await new.locator("summary").click()
    await new.locator("input[name=name]").fill(name)
    await new.locator("input[name=limit]").fill("100")
    await new.locator("button[type=submit]").click()
    # A limit typed once is the limit of every phase; the name is shown as text, never markup.
    await expect(page.locator("#site-name")).to_have_text(name)
    await expect(page.locator("#site-limit")).to_have_text("100 / 100 / 100 A per phase")
    site_id = int(page.url.rsplit("/", 1)[-1])

    root = page.locator(f'section[data-node="{site_id}"]')

    async def add_panel() -> None:
        await root.locator(".add-node summary").click()
        form = root.locator(".add-node form")
        await form.locator("input[name=name]").fill("Panel A")
        await form.locator("input[name=limit]").fill("63 63 50")
        await form.locator("button[type=submit]").click()

    await add_panel()
    await expect(page.locator('section[data-node-name="Panel A"]')).to_have_count(1)
    # Its sibling has the name now: the load-manager's 409, said where the form is.
    await add_panel()
    await expect(root.locator(".add-node .outcome-text")).to_contain_text("Not added:")
    panel = page.locator('section[data-node-name="Panel A"]')
    await expect(panel.locator(".node-limit")).to_have_text("63 / 63 / 50 A per phase")
    node_id = int(await panel.get_attribute("data-node") or 0)

    await panel.locator(".change-limit summary").click()
    change = panel.locator(".change-limit form")
    await change.locator("input[name=limit]").fill("22000")
    await change.locator("select[name=unit]").select_option("W")
    await change.locator("button[type=submit]").click()
    await expect(page.locator(f'section[data-node="{node_id}"] .node-limit')).to_have_text(
        "22000 W"
    )

    assign = page.locator("#assign-station")
    await assign.locator("summary").click()
    await assign.locator("input[name=chargePointId]").fill("CP-never-seen-here")
    await assign.locator("button[type=submit]").click()
    await expect(assign.locator(".outcome-text")).to_contain_text("Not assigned:")
    await assign.locator("input[name=chargePointId]").fill(cp_id)
    await assign.locator("select[name=nodeId]").select_option(label="Panel A")
    await assign.locator("input[name=maxCurrent]").fill("16")
    await assign.locator("button[type=submit]").click()
    row = page.locator(f'section[data-node="{node_id}"] tr[data-station="{cp_id}"]')
    await expect(row).to_be_visible()
    await expect(row.locator("td").nth(1)).to_have_text("16")
    placed = (await api.get(f"/charge-points/{cp_id}/site")).json()
    assert (placed["siteId"], placed["nodeId"], placed["maxCurrent"]) == (site_id, node_id, 16)
    # The live allocation card: the station's EVSE is given its 16 A, within Panel A's 31.8 A.
    await page.goto(f"{console_url}/sites/{site_id}")
    evse = page.locator(f'#allocation tr[data-evse="{cp_id}/1"]')
    await expect(evse.locator(".limit")).to_have_text("16")
    # No chart before the site has two minutes of samples; it says so.
    await expect(page.locator("#allocation-chart-empty")).to_be_visible()
    await expect(page.locator(f'#allocation tr[data-node="{node_id}"] td').nth(1)).to_have_text(
        "31.8, 31.8, 31.8"
    )

    await page.click("nav a[href='/sites']")
    await expect(page.locator(f'tr[data-site="{site_id}"] .limit')).to_have_text(
        "100 / 100 / 100 A per phase"
    )
    await page.goto(f"{console_url}/sites/{site_id}")
    await page.locator(f'tr[data-station="{cp_id}"] button.unassign').click()
    await expect(page.locator(f'tr[data-station="{cp_id}"]')).to_have_count(0)
    problem(await api.get(f"/charge-points/{cp_id}/site"), 404)


async def test_a_sites_page_says_a_car_suspended_itself_and_what_it_draws(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    """A 1.6 car reports SuspendedEV mid-session: the live card says it is held at its
    minimum, with its last reading; Charging again shows it charging."""
    cp = await station(api, connect_cp, cp_id, "1.6")
    site = await created(api, "/sites", {"name": unique("Suspend"), "limitAmps": [32, 32, 32]})
    body = {"nodeId": site["id"], "maxCurrent": 32, "minCurrent": 6}
    placed = await api.put(f"/charge-points/{cp_id}/site", json=body)
    assert placed.status_code == 200, placed.text
    session = Session(api, cp, "1.6")
    await session.start()
    await session.draws(12)
    await _as(page, console_url, api, "viewer")
    await page.goto(f"{console_url}/sites/{site['id']}")
    evse = page.locator(f'#allocation tr[data-evse="{cp_id}/1"]')
    # The card re-reads itself every 5 s.
    await expect(evse.locator(".session")).to_have_text("charging", timeout=20_000)
    await expect(evse.locator(".drawn")).to_have_text("12", timeout=20_000)
    await session.ev("SuspendedEV")
    await expect(evse.locator(".session")).to_have_text(
        "EV suspended (held at its minimum)", timeout=20_000
    )
    await session.ev("Charging")
    await expect(evse.locator(".session")).to_have_text("charging", timeout=20_000)


async def test_a_sites_page_charts_its_last_hours(
    page: Page, console_url: str, api: httpx.AsyncClient, db: Any
) -> None:
    """The chart draws the site's samples (the load-manager writes one a minute; three are
    written here, minutes apart, rather than waited for): the limit, the allocation and the
    draw on its busiest phase, scaled to the highest of them."""
    site = await created(api, "/sites", {"name": unique("Charted"), "limitAmps": [100, 100, 100]})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    samples = [(3, 100, 40, 0), (2, 100, 60, 30), (1, 100, 60, 50)]
    await db.executemany(
        "INSERT INTO loads.site_samples (site_id, at, limit_amps, allocated_amps, drawn_amps)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(site["id"], now - timedelta(minutes=m), lim, al, dr) for m, lim, al, dr in samples],
    )
    history = (await api.get(f"/sites/{site['id']}/allocation/history")).json()
    assert [s["drawnAmps"] for s in history["samples"]] == [0, 30, 50], history
    await _as(page, console_url, api, "viewer")
    await page.goto(f"{console_url}/sites/{site['id']}")
    chart = page.locator("#allocation-chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator("figcaption")).to_contain_text("0\u2013100 A on the busiest phase")
    box = (await chart.locator("svg").get_attribute("viewBox") or "").split()
    width, height = float(box[2]), float(box[3])

    async def points(line: str) -> list[tuple[float, float]]:
        text = await chart.locator(f"polyline.{line}").get_attribute("points") or ""
        return [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]

    # Oldest at the left edge, newest at the right; 100 A at the top, 0 A at the bottom.
    assert await points("limit") == [(0, 0), (width / 2, 0), (width, 0)]
    assert await points("allocated") == [
        (0, height * 0.6),
        (width / 2, pytest.approx(height * 0.4, abs=0.1)),
        (width, pytest.approx(height * 0.4, abs=0.1)),
    ]
    assert [y for _, y in await points("drawn")] == [
        height,
        pytest.approx(height * 0.7, abs=0.1),
        pytest.approx(height * 0.5, abs=0.1),
    ]


async def test_a_viewer_reads_sites_without_a_form(
    page: Page, console_url: str, api: httpx.AsyncClient, cp_id: str
) -> None:
    site = await created(api, "/sites", {"name": unique("Yard"), "limitWatts": 50_000})
    await created(
        api,
        f"/sites/{site['id']}/nodes",
        {"name": "Row 1", "limitAmps": [32], "phases": 1, "parentId": site["id"]},
    )
    await _as(page, console_url, api, "viewer")
    await page.goto(f"{console_url}/sites")
    await expect(page.locator(f'tr[data-site="{site["id"]}"] .limit')).to_have_text("50000 W")
    await expect(page.locator("#new-site")).to_have_count(0)
    await page.goto(f"{console_url}/sites/{site['id']}")
    await expect(page.locator('section[data-node-name="Row 1"] .node-limit')).to_have_text(
        "32 A per phase"
    )
    await expect(page.locator("main form")).to_have_count(0)
    # The server refuses a viewer's post too, with the session's own CSRF token.
    token = await page.locator("header input[name=csrf_token]").input_value()
    refused = await page.request.post(
        f"{console_url}/sites", form={"csrf_token": token, "name": "No", "limit": "10"}
    )
    assert refused.status == 403
    assert "operator role" in await refused.text()


async def test_an_operator_adds_a_profile_the_station_accepts_then_deletes_it(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "1.6")
    site = await created(api, "/sites", {"name": unique("Garage"), "limitAmps": [40, 40, 40]})
    placed = await api.put(f"/charge-points/{cp_id}/site", json={"nodeId": site["id"]})
    assert placed.status_code == 200, placed.text
    await _as(page, console_url, api, "operator")
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    # The site the station is on, a link to its page.
    await expect(page.locator("#cp-site a")).to_have_text(site["name"])
    await expect(page.locator("#cp-site a")).to_have_attribute("href", f"/sites/{site['id']}")

    panel = page.locator("#charging-profiles")
    await panel.locator("#new-profile > summary").click()
    form = panel.locator("#new-profile form")
    await form.locator("select[name=purpose]").select_option("TxDefaultProfile")
    await form.locator("input[name=stackLevel]").fill("2")
    await form.locator("input[name=connectorId]").fill("1")
    await form.locator('textarea[name="schedules.0.periods"]').fill("0 16\n3600 10.5")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".outcome-text")).to_have_text(f"Stored profile 1, sent to {cp_id}")
    row = panel.locator('tr[data-profile="1"]')
    # The list re-reads itself until the station's answer is on the row.
    await expect(row.locator(".send-status")).to_have_text("accepted")
    await expect(row.locator(".schedule")).to_have_text("0 s 16 A, 3600 s 10.5 A")
    # The allocator's own TxDefaultProfile (the station is on a site) left aside.
    sent = [
        p
        for action, p in cp.received_calls
        if action == "SetChargingProfile"
        and p["csChargingProfiles"]["chargingProfileId"] < ALLOCATOR
    ]
    assert sent == [
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 2,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16},
                        {"startPeriod": 3600, "limit": 10.5},
                    ],
                },
            },
        }
    ]

    await row.locator("button.delete-profile").click()
    await expect(panel.locator("#profile-outcome .outcome-text")).to_have_text(
        "ClearChargingProfile sent for profile 1"
    )
    # Once the station clears it, it is gone from the list.
    await expect(row).to_have_count(0)
    cleared = [p for action, p in cp.received_calls if action == "ClearChargingProfile"]
    assert cleared == [{"id": 1}]
    # The allocator's profile is the site's: it stays, at the station's share of the 40 A.
    assert any(
        p["csChargingProfiles"]["chargingProfileId"] == ALLOCATOR + 1
        for action, p in cp.received_calls
        if action == "SetChargingProfile"
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_operator_adds_a_recurring_profile_on_one_phase(
    page: Page,
    console_url: str,
    api: httpx.AsyncClient,
    connect_cp: Any,
    cp_id: str,
    version: str,
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    await _as(page, console_url, api, "operator")
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    panel = page.locator("#charging-profiles")
    await panel.locator("#new-profile > summary").click()
    form = panel.locator("#new-profile form")
    # The form offers what the station's version takes: a 2.0.1 station's schedules have ids
    # and alternatives, a 1.6 charge point's one schedule has neither.
    v201 = version == "2.0.1"
    await expect(form.locator('input[name="schedules.0.id"]')).to_have_count(int(v201))
    await expect(form.locator(".more-schedules")).to_have_count(int(v201))
    await form.locator("select[name=kind]").select_option("Recurring")
    await form.locator("select[name=recurrencyKind]").select_option("Daily")
    start = format_datetime(START)
    await form.locator('input[name="schedules.0.startSchedule"]').fill(start)
    await form.locator('input[name="schedules.0.duration"]').fill("43200")
    await form.locator('input[name="schedules.0.minChargingRate"]').fill("6")
    # 16 A on one phase (2.0.1: on its second), then 10 A on three.
    first = "0 16 1 2" if v201 else "0 16 1"
    await form.locator('textarea[name="schedules.0.periods"]').fill(f"{first}\n3600 10")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".outcome-text")).to_have_text(f"Stored profile 1, sent to {cp_id}")

    row = panel.locator('tr[data-profile="1"]')
    await expect(row.locator(".send")).to_contain_text("accepted SetChargingProfile: Accepted")
    await expect(row.locator(".kind")).to_have_text("Recurring (Daily)")
    phase = " (phase 2)" if v201 else ""
    await expect(row.locator(".schedule")).to_have_text(
        f"from {start}: 0 s 16 A on 1 phase{phase}, 3600 s 10 A; for 43200 s; at least 6 A"
    )
    [sent] = received(cp, version, "SetChargingProfile")
    if v201:
        profile = sent["chargingProfile"]
        [schedule] = profile["chargingSchedule"]
        assert (sent["evseId"], profile["chargingProfileKind"]) == (1, "Recurring")
    else:
        profile = sent["csChargingProfiles"]
        schedule = profile["chargingSchedule"]
        assert (sent["connectorId"], profile["chargingProfileKind"]) == (1, "Recurring")
    assert profile["recurrencyKind"] == "Daily"
    assert (schedule["startSchedule"], schedule["duration"]) == (start, 43200)
    assert schedule["minChargingRate"] == 6
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16, "numberPhases": 1, **({"phaseToUse": 2} if v201 else {})},
        {"startPeriod": 3600, "limit": 10},
    ]


async def test_an_invalid_profile_shows_every_problem_and_is_not_stored(
    page: Page, console_url: str, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "1.6")
    await _as(page, console_url, api, "operator")
    await page.goto(f"{console_url}/charge-points/{cp_id}")
    form = page.locator("#new-profile form")
    await page.locator("#new-profile > summary").click()

    # What the form spells wrong first: a line of one number, a line of five.
    periods = form.locator('textarea[name="schedules.0.periods"]')
    await periods.fill("0\n10 16 1 2 3")
    await form.locator("button[type=submit]").click()
    problems = form.locator(".problems li")
    line = "`startPeriod limit [numberPhases [phaseToUse]]`"
    await expect(problems).to_have_text(
        [
            f"schedules.0.periods line 1: '0' is not {line}",
            f"schedules.0.periods line 2: '10 16 1 2 3' is not {line}",
        ]
    )
    # Then what the model refuses, each field by its path in the REST body.
    await periods.fill("0 16\nten 10 one")
    await form.locator("button[type=submit]").click()
    await expect(problems).to_have_text(
        [
            "schedules.0.periods.1.startPeriod: Input should be a valid integer, unable to parse"
            " string as an integer",
            "schedules.0.periods.1.numberPhases: Input should be a valid integer, unable to parse"
            " string as an integer",
        ]
    )
    # Then OCPP 1.6's rules, each named: a station maximum on a connector, below stack level 0,
    # a first period after 0, a phase to use (2.0.1's alone).
    await form.locator("select[name=purpose]").select_option("StationMaxProfile")
    await form.locator("input[name=stackLevel]").fill("-1")
    await periods.fill("60 16 1 2")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".outcome-text")).to_have_text("Not stored")
    await expect(problems).to_have_count(4)
    await expect(problems.nth(0)).to_contain_text("stackLevel: the lowest stack level is 0")
    texts = await problems.all_inner_texts()
    assert any(t.startswith("connectorId: a station maximum profile") for t in texts), texts
    assert any("startPeriod: the first period starts at 0" in t for t in texts), texts
    assert any("phaseToUse: 1.6 has no phaseToUse" in t for t in texts), texts
    problem_free = (await api.get(f"/charge-points/{cp_id}/charging-profiles")).json()
    assert problem_free["items"] == []
    assert not [c for c in cp.received_calls if c[0] == "SetChargingProfile"]
