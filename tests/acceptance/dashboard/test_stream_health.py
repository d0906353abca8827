"""Stream health end to end, with real processes: a local stream goes off air and comes back.

An orchestrator and a worker (`fingerv7` processes) run two local streams. One goes off air: the
orchestrator's `/streams/{id}`, `/streams/status`, `/health`, Prometheus and the dashboard (a real
headless Chromium) show it down within 2 x HEARTBEAT_INTERVAL; the StreamDown webhook fires once.
It comes back: every view shows it running again within 2 x HEARTBEAT_INTERVAL of the worker
reconnecting, and the alert resolves once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from fingerv7.worker.sample_streams import LocalStreamServer
from tests.acceptance.dashboard.conftest import OpenDashboard
from tests.acceptance.fleet_processes import HEARTBEAT_INTERVAL_S, Fleet
from tests.integration.notifications.webhook_server import WebhookServer
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.acceptance

DOWN_STREAM = 1
LIMIT_S = 2 * HEARTBEAT_INTERVAL_S


@dataclass
class Address:
    url: str


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


@pytest.fixture
def fleet(tmp_path: Path, webhook: WebhookServer) -> Iterator[tuple[Fleet, LocalStreamServer]]:
    with LocalStreamServer() as streams:
        running = Fleet(tmp_path, streams)
        running.import_streams(2)
        running.start_orchestrator(
            {
                "STREAM_DOWN_ALERT_SECONDS": "0.5",
                "ALERT_WEBHOOK_URL": f"{webhook.base_url}/hook",
                "ALERT_COOLDOWN_SECONDS": "0",
            }
        )
        running.start_worker("w1")
        try:
            yield running, streams
        finally:
            running.stop_everything()


def get(fleet: Fleet, path: str) -> Any:
    return httpx.get(f"{fleet.url}{path}", timeout=5)


def stream_state(fleet: Fleet) -> str:
    return str(get(fleet, f"/streams/{DOWN_STREAM}").json()["health"]["state"])


def prometheus_count(fleet: Fleet, state: str) -> float:
    for line in get(fleet, "/metrics/prometheus").text.splitlines():
        if line.startswith(f'fingerv7_stream_health{{state="{state}"}}'):
            return float(line.split()[-1])
    return -1.0


def stream_down_alerts(webhook: WebhookServer, after: int = 0) -> list[str]:
    """StreamDown notices for the stream, among the posts after the first `after` ones."""
    return [
        post.body["status"]
        for post in webhook.posts_to("/hook")[after:]
        if post.body["alert"] == "StreamDown" and post.body["subject"] == str(DOWN_STREAM)
    ]


async def test_a_stream_off_air_shows_in_every_view_and_alerts_once(
    fleet: tuple[Fleet, LocalStreamServer],
    webhook: WebhookServer,
    open_dashboard: OpenDashboard,
) -> None:
    running, streams = fleet
    await eventually(
        lambda: get(running, "/streams/status").json()["health"]["running"] == 2,
        timeout_s=30,
        what="both streams running",
    )
    page = await open_dashboard(Address(running.url))
    await expect(page.locator('#health-counts [data-health="running"]')).to_have_text("running 2")
    # The worker's card shows the process's own CPU and memory, then the host's.
    (worker,) = get(running, "/instances").json()["instances"]
    assert 0 < worker["process_memory_usage"] <= worker["memory_usage"]
    worker_card = page.get_by_role("listitem", name="w1", exact=True)
    await expect(worker_card.locator(".memory")).to_have_text(re.compile(r"^\d+ % \(host \d+ %\)$"))
    await expect(page.locator("#problems-empty")).to_be_visible()

    # Only this outage's notices count: a station still connecting at start-up is down too,
    # for as long as STREAM_DOWN_ALERT_SECONDS (0.5 s here, 300 by default) allows.
    await eventually(
        lambda: (notices := stream_down_alerts(webhook)) == [] or notices[-1] == "resolved",
        20,
        "no StreamDown firing for the station before it goes off air",
    )
    before = len(webhook.posts_to("/hook"))
    streams.take_down(DOWN_STREAM)
    off_air = time.monotonic()
    await eventually(lambda: stream_state(running) == "reconnecting", LIMIT_S, "stream shown down")
    assert time.monotonic() - off_air <= LIMIT_S
    detail = get(running, f"/streams/{DOWN_STREAM}").json()
    assert detail["instance_id"] == "w1" and detail["name"] == "Radio 1"
    assert detail["health"]["since"] is not None and detail["health"]["reason"]
    status = get(running, "/streams/status").json()
    assert status["health"] == {"running": 1, "connecting": 0, "reconnecting": 1, "unassigned": 0}
    assert [p["id"] for p in status["problem_streams"]] == [DOWN_STREAM]
    assert prometheus_count(running, "reconnecting") == 1
    health = await eventually(
        lambda: (body := get(running, "/health").json())["status"] == "degraded" and body,
        what="/health degraded once the stream is down past STREAM_DOWN_ALERT_SECONDS",
    )
    assert "streams_down" in health["degraded"]
    assert health["streams"]["health"]["reconnecting"] == 1
    row = page.locator(f'#problem-streams tr[data-stream-id="{DOWN_STREAM}"]')
    await expect(row.locator(".health-state")).to_have_text("reconnecting")
    await expect(row).to_contain_text("w1")
    await expect(row.locator(".down-for")).to_have_text(re.compile(r"^\d+ s$"))
    await eventually(
        lambda: stream_down_alerts(webhook, before) == ["firing"], 10, "StreamDown firing"
    )

    opened_before = streams.connections_opened().get(DOWN_STREAM, 0)
    streams.bring_back(DOWN_STREAM)
    await eventually(
        lambda: (
            streams.open_connections().get(DOWN_STREAM, 0) > 0
            and streams.connections_opened()[DOWN_STREAM] > opened_before
        ),
        timeout_s=40,
        what="the worker reconnecting to the stream",
    )
    reconnected = time.monotonic()
    await eventually(lambda: stream_state(running) == "running", LIMIT_S, "stream shown running")
    assert time.monotonic() - reconnected <= LIMIT_S
    assert get(running, "/streams/status").json()["health"]["running"] == 2
    assert prometheus_count(running, "running") == 2
    await eventually(lambda: get(running, "/health").json()["status"] == "healthy", 5, "healthy")
    await expect(page.locator("#problems-empty")).to_be_visible()
    await eventually(
        lambda: stream_down_alerts(webhook, before) == ["firing", "resolved"],
        10,
        "StreamDown resolved",
    )
