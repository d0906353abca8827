"""Operator actions clicked on the dashboard take effect in the API, behind the admin key."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.acceptance.dashboard.conftest import OpenDashboard
from tests.acceptance.dashboard.support import (
    ADMIN_KEY,
    API_KEY,
    STEADY_TIMEOUTS,
    StartOrchestrator,
    sqlite_url,
    start_fleet,
)
from tests.support.orchestrator import RunningOrchestrator, eventually

pytestmark = pytest.mark.acceptance


async def enter_key(page: Page, key: str) -> None:
    dialog = page.get_by_role("dialog", name="Orchestrator key")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Key", exact=True).fill(key)
    await dialog.get_by_role("button", name="Use key").click()
    await expect(dialog).to_be_hidden()


async def draining(orchestrator: RunningOrchestrator, instance_id: str) -> bool:
    response = await orchestrator.client.get(f"/instances/{instance_id}")
    response.raise_for_status()
    return bool(response.json()["draining"])


async def test_drain_from_the_page_takes_effect(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(
        database_url=database_url, orchestrator_admin_key=ADMIN_KEY, **STEADY_TIMEOUTS
    )
    await start_fleet(orchestrator, database_url, sizes=[2, 2], streams=4)
    page = await open_dashboard(orchestrator)

    await enter_key(page, ADMIN_KEY)  # reads need a key too: the page asks once
    await expect(page.locator("#connection-state")).to_have_text("Live")
    await expect(page.get_by_role("alert")).to_be_hidden()  # "missing credentials" went away
    await page.get_by_role("button", name="Drain fingerv7-001").click()

    await expect(page.locator("#action-result")).to_have_text("fingerv7-001 is draining")
    assert await draining(orchestrator, "fingerv7-001")
    shown = page.get_by_role("listitem", name="fingerv7-001", exact=True)
    await expect(shown.locator(".badge.draining")).to_be_visible()
    assert "key" not in page.url.lower() and ADMIN_KEY not in page.url

    await page.get_by_role("button", name="Undrain fingerv7-001").click()
    await expect(shown.locator(".badge.draining")).to_be_hidden()
    assert not await draining(orchestrator, "fingerv7-001")
    await expect(page.get_by_role("dialog")).to_have_count(0)  # the key was asked only once


async def test_refused_action_shows_the_api_error(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(
        database_url=database_url,
        orchestrator_api_key=API_KEY,
        orchestrator_admin_key=ADMIN_KEY,
        **STEADY_TIMEOUTS,
    )
    await start_fleet(orchestrator, database_url, sizes=[2], streams=2)
    page = await open_dashboard(orchestrator)
    await enter_key(page, API_KEY)  # enough to read, not to act

    await page.get_by_role("button", name="Drain fingerv7-001").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("this call needs ORCHESTRATOR_ADMIN_KEY")
    assert not await draining(orchestrator, "fingerv7-001")

    await alert.get_by_role("button", name="Use a different key").click()
    await enter_key(page, ADMIN_KEY)
    await page.get_by_role("button", name="Drain fingerv7-001").click()
    await eventually(lambda: draining(orchestrator, "fingerv7-001"), what="drain with admin key")
    await expect(alert).to_be_hidden()


async def test_deregister_asks_first_and_rebalance_is_accepted(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(
        database_url=database_url, **STEADY_TIMEOUTS
    )  # no keys: open
    await start_fleet(orchestrator, database_url, sizes=[2, 2], streams=4)
    page = await open_dashboard(orchestrator)
    deregister = page.get_by_role("button", name="Deregister fingerv7-002")

    await deregister.click()
    confirm = page.get_by_role("dialog", name="Are you sure?")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert (await orchestrator.client.get("/instances/fingerv7-002")).status_code == 200

    await deregister.click()
    await confirm.get_by_role("button", name="Deregister fingerv7-002").click()
    await expect(page.get_by_role("listitem", name="fingerv7-002", exact=True)).to_have_count(0)
    assert (await orchestrator.client.get("/instances/fingerv7-002")).status_code == 404

    await page.get_by_role("button", name="Rebalance now").click()
    await expect(page.locator("#action-result")).to_have_text(
        "rebalance requested; see /streams/status"
    )
