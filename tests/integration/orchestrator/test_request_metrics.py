"""Request metrics tell the truth: failed handlers count, long-polls do not skew the average,
the database latency histogram has samples, and the error rate is a recent one."""

from __future__ import annotations

import re

import pytest

from fingerv7.orchestrator.metrics import RecentErrorRate
from tests.support.instances import ScriptedInstance

pytestmark = pytest.mark.integration


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_handler_that_raises_is_counted_as_a_5xx(database_url, start_orchestrator):
    orch = await start_orchestrator(database_url=database_url)

    async def broken() -> None:
        raise RuntimeError("a bug in a handler")

    orch.server.config.app.add_api_route("/broken", broken)
    assert (await orch.client.get("/broken")).status_code == 500
    metrics = (await orch.client.get("/metrics")).json()["system_metrics"]
    assert metrics["error_rate"] > 0
    prometheus = (await orch.client.get("/metrics/prometheus")).text
    assert (
        sample(
            prometheus, 'fingerv7_http_requests_total{method="GET",route="/broken",status="500"}'
        )
        == 1
    )


async def test_long_polls_are_not_response_time(database_url, start_orchestrator):
    orch = await start_orchestrator(database_url=database_url)
    worker = ScriptedInstance(orch.client, "w1", 5)
    await worker.register()
    answer = await orch.client.get("/instances/w1/assignment?after_generation=999&wait=5")
    assert answer.status_code == 200  # it waited the full 5 s
    average = (await orch.client.get("/metrics")).json()["system_metrics"]["average_response_time"]
    # Counted, the long-poll alone would put the average of the two requests above 2,500 ms.
    assert int(average.removesuffix("ms")) < 2000
    # Labelled by route template, not one series per instance id.
    prometheus = (await orch.client.get("/metrics/prometheus")).text
    assert "/instances/w1/assignment" not in prometheus
    series = 'fingerv7_http_requests_total{method="GET",route="/instances/{instance_id}/assignment"'
    assert series in prometheus


async def test_database_latency_is_observed(database_url, start_orchestrator):
    orch = await start_orchestrator(database_url=database_url)
    assert (await orch.client.get("/health")).status_code == 200
    prometheus = (await orch.client.get("/metrics/prometheus")).text
    assert sample(prometheus, 'fingerv7_database_latency_seconds_count{database="internal"}') >= 1
    assert sample(prometheus, 'fingerv7_database_latency_seconds_count{database="external"}') >= 1


def test_the_error_rate_forgets_old_requests() -> None:
    recent = RecentErrorRate(window_s=300)
    assert recent.rate(0) is None
    for second in range(10):
        recent.observe(True, second)  # a burst of errors at the start
    recent.observe(False, 100)
    assert recent.rate(100) == pytest.approx(10 / 11)
    for second in range(400, 410):
        recent.observe(False, second)
    assert recent.rate(410) == 0.0  # the burst left the window
    assert recent.rate(1000) is None
