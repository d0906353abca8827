"""A worker waits as long as a load-shedding orchestrator asks (Retry-After), and no longer.

The orchestrator here is a real HTTP server that sheds the first requests of each kind with
503 and `Retry-After: 1`, then answers as the protocol says; the worker is a real one in this
test's loop. Without the header the worker would retry within its own backoff (0.25-0.5 s for
a registration, 0.1-0.2 s for a long-poll) and beat again at its 0.5 s interval.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from fingerv7.background_http import BackgroundHttpServer
from fingerv7.worker.client import OrchestratorClient, OrchestratorUnavailable
from fingerv7.worker.messages import RegisterRequest
from tests.integration.worker.support import Cluster, worker_settings
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration

ASKED_S = 1.0


class SheddingOrchestrator(BackgroundHttpServer):
    """Sheds the first request to each path with `status` + Retry-After, then follows the
    protocol."""

    thread_name = "shedding-orchestrator"

    def __init__(self, status: int = 503, retry_after: str = f"{ASKED_S:g}") -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.status = status
        self.retry_after = retry_after
        self._lock = threading.Lock()
        super().__init__()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                kind = path.rsplit("/", 1)[-1]  # register, heartbeat, assignment
                with server._lock:
                    server.calls[kind].append(time.monotonic())
                    first = len(server.calls[kind]) == 1
                if first:
                    headers = {"Retry-After": server.retry_after}
                    self._send(server.status, {"detail": "busy"}, headers)
                elif kind == "register":
                    self._send(200, {"status": "registered", "instance_id": "w1"})
                else:
                    self._send(200, {"instance_id": "w1", "generation": 0, "streams": []})

            def _send(self, status: int, body: object, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def gap_s(times: list[float]) -> float:
    return times[1] - times[0]


async def test_the_worker_waits_as_long_as_the_orchestrator_asks(
    tmp_path: Path, cluster: Cluster
) -> None:
    with SheddingOrchestrator() as orchestrator:
        worker = cluster.worker(worker_settings("w1", orchestrator.base_url))  # beats every 0.5 s
        calls = orchestrator.calls
        await eventually(
            lambda: len(calls["register"]) >= 2 and len(calls["assignment"]) >= 2,
            timeout_s=10,
            what="registration and long-poll retried",
        )
        await eventually(lambda: len(calls["heartbeat"]) >= 2, timeout_s=10, what="beat again")
        assert worker.runtime.counters.registered

    assert gap_s(calls["register"]) >= ASKED_S
    assert gap_s(calls["assignment"]) >= ASKED_S
    # Retry-After is a floor under the cadence: a shed beat is not followed by one at the
    # 0.5 s interval (nor by a beat for a change) before the asked second has passed.
    assert gap_s(calls["heartbeat"]) >= ASKED_S


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [(503, "1", 1.0), (429, "2", 2.0), (503, "3600", 60.0), (429, "soon", None)],
)
async def test_the_client_reads_retry_after_capped_at_a_minute(
    status: int, header: str, expected: float | None
) -> None:
    with SheddingOrchestrator(status, header) as orchestrator:
        client = OrchestratorClient(orchestrator.base_url, "w1")
        try:
            with pytest.raises(OrchestratorUnavailable) as shed:
                await client.register(
                    RegisterRequest(instance_id="w1", max_streams=1, version="test")
                )
        finally:
            await client.aclose()
    assert shed.value.retry_after_s == expected
