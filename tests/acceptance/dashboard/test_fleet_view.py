"""The dashboard shows the fleet as the API reports it, and follows changes without reloading."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from sqlalchemy import create_engine, text

from tests.acceptance.dashboard.conftest import OpenDashboard
from tests.acceptance.dashboard.support import (
    STEADY_TIMEOUTS,
    StartOrchestrator,
    sqlite_url,
    start_fleet,
)

pytestmark = pytest.mark.acceptance

SCREENSHOT = Path("/tmp/dashboard.png")
PHONE_SCREENSHOT = Path("/tmp/dashboard-phone.png")


def card(page: Page, instance_id: str) -> Locator:
    return page.get_by_role("listitem", name=instance_id, exact=True)


async def test_page_shows_the_fleet(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(database_url=database_url, **STEADY_TIMEOUTS)
    await start_fleet(orchestrator, database_url, sizes=[4, 5], streams=6)
    fleet = (await orchestrator.client.get("/instances")).json()
    status = (await orchestrator.client.get("/streams/status")).json()

    page = await open_dashboard(orchestrator, viewport={"width": 1280, "height": 1000})

    await expect(page.locator("#connection-state")).to_have_text("Live")
    for instance in fleet["instances"]:
        shown = page.get_by_role("listitem", name=instance["id"], exact=True)
        await expect(shown.locator(".state")).to_have_text(instance["status"])
        await expect(shown.locator(".load-text")).to_have_text(
            f"{instance['current_streams']}/{instance['max_streams']} streams"
        )
        await expect(shown.locator(".location")).to_have_text("eu-west")
        await expect(shown.locator(".version")).to_have_text("test")
        await expect(shown.locator(".heartbeat")).to_have_text(re.compile(r"^\d+ s ago$"))
    await expect(page.locator('[data-total="capacity"]')).to_have_text("9")
    await expect(page.locator('[data-total="assigned"]')).to_have_text("6")
    await expect(page.locator('[data-total="unassigned"]')).to_have_text("0")
    await expect(page.locator('#state-counts [data-state="active"]')).to_have_text("active 2")
    first_change = status["recent_changes"][0]
    await expect(page.locator("#changes")).to_contain_text(first_change["details"])
    await expect(page.locator("#changes")).to_contain_text(first_change["reason"])
    await expect(page.locator("#identifications-empty")).to_contain_text("audio pipeline runs")
    await page.screenshot(path=str(SCREENSHOT), full_page=True)


async def test_search_finds_instances_and_streams(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(database_url=database_url, **STEADY_TIMEOUTS)
    await start_fleet(orchestrator, database_url, sizes=[3, 3], streams=4)
    status = (await orchestrator.client.get("/streams/status")).json()
    owner = next(d for d in status["distribution"] if d["stream_ids"])
    other = next(d for d in status["distribution"] if d is not owner)
    stream_id = owner["stream_ids"][0]
    page = await open_dashboard(orchestrator)
    await expect(card(page, other["instance_id"])).to_be_visible()

    await page.get_by_label("Filter instances or find a stream").fill(str(stream_id))

    await expect(page.locator("#stream-lookup")).to_have_text(
        f"Stream {stream_id} is on {owner['instance_id']}."
    )
    await expect(card(page, owner["instance_id"])).to_be_visible()
    await expect(card(page, other["instance_id"])).to_be_hidden()

    await page.get_by_label("Filter instances or find a stream").fill("no-such-instance")
    await expect(page.locator("#stream-lookup")).to_have_text(
        "No instance matches “no-such-instance”."
    )
    await expect(page.locator("#instances .card:visible")).to_have_count(0)


async def test_state_change_appears_without_reload(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(
        database_url=database_url, heartbeat_warning_threshold=1, heartbeat_timeout=2
    )
    [silent] = await start_fleet(orchestrator, database_url, sizes=[3], streams=3)
    page = await open_dashboard(orchestrator)
    shown = card(page, silent.instance_id)
    await expect(shown.locator(".state")).to_have_text("active")
    await page.evaluate("window.loadedOnce = true")

    # The instance beats no more: WARNING after 1 s, INACTIVE after 2 s, its streams unassigned.
    await expect(shown.locator(".state")).to_have_text("inactive")
    await expect(page.locator('[data-total="unassigned"]')).to_have_text("3")
    await expect(shown.locator(".heartbeat")).to_have_text(re.compile(r"^([2-9]|\d{2,}) s ago$"))
    assert await page.evaluate("window.loadedOnce") is True, "the page reloaded"

    await orchestrator.stop()
    await expect(page.locator("#connection-state")).to_have_text("Connection lost, retrying")


SET_TAB_HIDDEN = """hidden => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event("visibilitychange"));
}"""


async def test_hidden_tab_pauses_polling_and_catches_up_when_shown(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(database_url=database_url, **STEADY_TIMEOUTS)
    await start_fleet(orchestrator, database_url, sizes=[2], streams=2)
    page = await open_dashboard(orchestrator)
    state = page.locator("#connection-state")
    await expect(state).to_have_text("Live")

    await page.evaluate(SET_TAB_HIDDEN, True)
    await expect(state).to_have_text("Paused while the tab is hidden")
    (await orchestrator.client.post("/instances/fingerv7-001/drain")).raise_for_status()
    await page.evaluate(SET_TAB_HIDDEN, False)

    await expect(state).to_have_text("Live")
    await expect(card(page, "fingerv7-001").locator(".badge.draining")).to_be_visible()


async def test_phone_viewport_has_no_horizontal_overflow(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(database_url=database_url, **STEADY_TIMEOUTS)
    long_place = "a-rather-long-datacentre-location-name-that-must-wrap-on-small-screens"
    await start_fleet(orchestrator, database_url, sizes=[4, 4], streams=8, location=long_place)
    page = await open_dashboard(
        orchestrator,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await expect(page.locator("#instances .card")).to_have_count(2)
    await expect(page.locator("#changes tr").first).to_be_visible()

    widths = await page.evaluate(
        "({page: document.documentElement.scrollWidth, viewport: window.innerWidth})"
    )
    assert widths["page"] <= widths["viewport"], widths
    drain = page.get_by_role("button", name="Drain fingerv7-001")
    box = await drain.bounding_box()
    assert box is not None and box["height"] >= 40, box  # a finger-sized target
    await page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)


async def test_assets_are_served_with_a_strict_policy(
    start_orchestrator: StartOrchestrator, tmp_path: Path
) -> None:
    orchestrator = await start_orchestrator(database_url=sqlite_url(tmp_path))
    async with httpx.AsyncClient(base_url=orchestrator.url) as anonymous:
        page = await anonymous.get("/dashboard")
        script = await anonymous.get("/dashboard/assets/dashboard.js")
        missing = await anonymous.get("/dashboard/assets/..%2Fapp.py")

    assert page.status_code == 200
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


def add_plays(database_url: str, plays: list[tuple[str, str, str, str]]) -> None:
    """A music_log in the embedded database, as workers would write it (original columns)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS music_log (id INTEGER PRIMARY KEY, date TEXT, "
                "time TEXT, name TEXT, artist TEXT, song_title TEXT, identified_by TEXT)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO music_log (date, time, name, artist, song_title, identified_by) "
                "VALUES ('2026-11-25', :time, :name, :artist, :title, 'fingerv7-001')"
            ),
            [{"time": t, "name": n, "artist": a, "title": s} for t, n, a, s in plays],
        )
    engine.dispose()


async def test_recent_identifications_appear_as_they_are_logged(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(database_url=database_url, **STEADY_TIMEOUTS)
    await start_fleet(orchestrator, database_url, sizes=[3], streams=2)
    await asyncio.to_thread(add_plays, database_url, [("10:00:00", "Radio 1", "Ana", "Alpha")])
    page = await open_dashboard(orchestrator, viewport={"width": 1280, "height": 1000})

    rows = page.locator("#identifications tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Ana - Alpha")
    await asyncio.to_thread(add_plays, database_url, [("10:04:00", "Radio 2", "Bia", "Beta")])
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Bia - Beta")  # newest first, without a reload
    await expect(rows.first).to_contain_text("Radio 2")
