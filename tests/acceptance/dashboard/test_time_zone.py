"""One time zone, labelled, everywhere: the orchestrator's TZ, whatever the browser's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from fingerv7.playlog import Play, SqliteMusicLogWriter
from tests.acceptance.dashboard.conftest import OpenDashboard
from tests.acceptance.dashboard.support import (
    STEADY_TIMEOUTS,
    StartOrchestrator,
    sqlite_url,
    start_fleet,
)

pytestmark = pytest.mark.acceptance

ZONE = "Asia/Tokyo"  # far from the browser's zone below, and from UTC


async def test_changes_and_identifications_share_one_labelled_zone(
    start_orchestrator: StartOrchestrator, open_dashboard: OpenDashboard, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path)
    orchestrator = await start_orchestrator(database_url=database_url, tz=ZONE, **STEADY_TIMEOUTS)
    await start_fleet(orchestrator, database_url, sizes=[3], streams=2)
    heard = datetime(2026, 12, 2, 18, 30, 5, tzinfo=UTC)
    writer = SqliteMusicLogWriter(
        tmp_path / "orchestrator.db", "music_log", window_s=0, zone=ZoneInfo(ZONE)
    )
    await writer.write(Play(1, "Radio 1", "Artist", "Song", heard, identified_by="fingerv7-001"))
    status = (await orchestrator.client.get("/streams/status")).json()
    assert status["time_zone"] == ZONE
    changed_at = datetime.fromisoformat(status["recent_changes"][0]["timestamp"])

    page = await open_dashboard(orchestrator, timezone_id="America/New_York", locale="en-US")

    for header in ("#changes-when", "#identifications-when"):
        await expect(page.locator(header)).to_have_text(f"When ({ZONE})")
    shown_change = changed_at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
    await expect(page.locator("#changes tr").first.locator("td").first).to_have_text(shown_change)
    await expect(page.locator("#identifications tr").first.locator("td").first).to_have_text(
        "2026-12-03 03:30:05"  # 18:30:05 UTC in Tokyo, no AM/PM
    )
