"""A real headless Chromium (Debian's `chromium`, driven by Playwright) and a fleet to look at.

Playwright's async API runs in the test's event loop, the same loop that serves the orchestrator,
so the browser and the server make progress together. Any script error or refused resource on the
page (a Content-Security-Policy violation, a 404 asset) fails the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.orchestrator import RunningOrchestrator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
EXPECT_TIMEOUT_MS = 10_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


OpenDashboard = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_dashboard(browser: Browser) -> AsyncIterator[OpenDashboard]:
    """Factory: a fresh browser context on `<orchestrator>/dashboard`; page errors fail the test."""
    problems: list[str] = []

    async def open_page(orchestrator: RunningOrchestrator, **context_options: Any) -> Page:
        context = await browser.new_context(**context_options)
        page = await context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type == "error" and not _expected_refusal(message.text)
                else None
            ),
        )
        await page.goto(f"{orchestrator.url}/dashboard")
        return page

    yield open_page
    assert problems == [], problems


def _expected_refusal(text: str) -> bool:
    """Chromium logs every refused fetch; tests provoke 401/403 and a stopped server on purpose."""
    return any(
        sign in text for sign in ("status of 401", "status of 403", "ERR_CONNECTION_REFUSED")
    )
