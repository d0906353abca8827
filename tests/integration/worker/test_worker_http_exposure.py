"""The worker's HTTP surface: /metrics behind WORKER_HTTP_KEY, /health open for probes, and no
stream credential in either (nor in the logs)."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from fingerv7.logs import RedactingFilter
from fingerv7.worker.http_server import WorkerHttpServer
from fingerv7.worker.journal import OwnershipJournal
from fingerv7.worker.processors.probe import ProbeProcessor
from fingerv7.worker.reconciler import Reconciler
from fingerv7.worker.status import AgentCounters, StatusReporter
from fingerv7.worker.supervisor import StreamSupervisor
from fingerv7.worker.system_metrics import SystemSampler

STREAM_URL = "http://dj:hunter2-pw@radio.example:8000/live?token=tok-123&bitrate=128"


def _reporter(counters: AgentCounters) -> StatusReporter:
    probe = ProbeProcessor()
    supervisor = StreamSupervisor(probe, OwnershipJournal(None, "w1"))
    return StatusReporter(
        instance_id="w1",
        mode="orchestrator",
        processor_name=probe.name,
        supervisor=supervisor,
        reconciler=Reconciler(supervisor, max_streams=5),
        counters=counters,
        sampler=SystemSampler(),
    )


async def test_metrics_need_the_key_and_health_shows_no_credentials() -> None:
    counters = AgentCounters(registered=True, orchestrator_reachable=True)
    counters.last_error = f"cannot read {STREAM_URL}: connection reset"
    server = WorkerHttpServer(_reporter(counters), "127.0.0.1", 0, key=SecretStr("metrics-key"))
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get("/metrics/prometheus", headers=wrong)).status_code == 403
            right = {"Authorization": "Bearer metrics-key"}
            assert (await client.get("/metrics", headers=right)).status_code == 200
            health = await client.get("/health")
            assert health.status_code == 200
            shown = health.json()["orchestrator"]["last_error"]
            assert "radio.example" in shown and "bitrate=128" in shown
            assert "hunter2-pw" not in health.text and "tok-123" not in health.text
            huge = await client.get("/health", headers={"X-Junk": "a" * 200_000})
            assert huge.status_code == 431
    finally:
        await server.stop()


def test_log_lines_never_carry_url_credentials(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("fingerv7.worker.test")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.warning("[STREAM] 7 failed: %s", f"GET {STREAM_URL} -> 401")
    assert "hunter2-pw" not in caplog.text and "tok-123" not in caplog.text
    assert "radio.example:8000/live" in caplog.text
