"""A real browser (Debian's Chromium driven by Playwright) against the suite's console."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.integration.conftest import ADMIN_PASSWORD, Suite

CHROMIUM = Path(os.environ.get("CSMS_CHROMIUM", "/usr/bin/chromium"))
# Where the screenshots go: the test's own folder, or docs/console when asked for.
SCREENSHOTS = os.environ.get("CSMS_CONSOLE_SCREENSHOTS")
WAIT_MS = 30_000  # a loaded machine: generous waits, never a timed assertion
PASSWORD = "viewer-pass-" + uuid.uuid4().hex[:12]
expect.set_options(timeout=WAIT_MS)
# The console's fallback refresh: its live parts re-read themselves `every 30s` (hx-trigger).
POLL_SECONDS = 30.0


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - once per session, before any browser
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/browser.sh)")
    async with async_playwright() as playwright:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest.fixture
def console_url(suite: Suite) -> str:
    return suite.api_url.removesuffix("/api/v1")


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(
    context: BrowserContext, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Page]:
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    assert not errors, f"scripts failed in the page: {errors}"


async def screenshot(page: Page, name: str) -> None:
    """Keep a picture of the page: in docs/console when CSMS_CONSOLE_SCREENSHOTS says so."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else Path("/tmp/csms-console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def log_in(page: Page, base: str, username: str, password: str) -> None:
    """Fill the login form and send it."""
    await page.goto(base + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def log_in_as_admin(page: Page, base: str) -> None:
    """Log in as the bootstrap admin and wait for the overview."""
    await log_in(page, base, "admin", ADMIN_PASSWORD)
    await page.wait_for_selector("#whoami")


async def log_in_as_admin_over_http(client: httpx.AsyncClient) -> None:
    """Log an HTTP client (no browser) in as the bootstrap admin: its cookies hold the session."""
    form = await client.get("/login")
    answer = await client.post(
        "/login",
        data={
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "csrf_token": form.cookies["csms_login_csrf"],
        },
    )
    assert answer.status_code == 303


def before_first_poll(loaded: float) -> float:
    """Milliseconds left until 5 s before the first poll of a page loaded after `loaded`
    (time.monotonic()): what shows up by then came by the live stream, not by polling."""
    return max(1.0, (loaded + POLL_SECONDS - 5 - time.monotonic()) * 1000)


async def live_open(page: Page) -> None:
    """Wait until the page's live stream is open: events from now on reach it."""
    await page.wait_for_selector("body[data-live-open]", state="attached")


async def make_user(api: httpx.AsyncClient, role: str) -> str:
    """A new user with `role` and PASSWORD; returns the username."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    created = await api.post(
        "/users", json={"username": username, "password": PASSWORD, "role": role}
    )
    assert created.status_code == 201, created.text
    return username


def exactly(text: str) -> re.Pattern[str]:
    """A pattern matching `text` literally (for expect(...).to_have_text)."""
    return re.compile(re.escape(text))
