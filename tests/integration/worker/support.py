"""Helpers for worker tests: real orchestrators, real streams, real workers in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from typer.testing import CliRunner

from fingerv7.api.app import create_app
from fingerv7.cli.main import app as cli_app
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.worker.runtime import WorkerRuntime
from fingerv7.worker.sample_streams import LocalStreamServer
from fingerv7.worker.settings import WorkerSettings
from tests.support.orchestrator import eventually, free_port

ORCHESTRATOR_FAST = {
    "heartbeat_interval": 0.5,
    "heartbeat_warning_threshold": 1.0,
    "heartbeat_timeout": 2.0,
    "instance_removal_timeout": 60,
    "stream_sync_interval": 0.5,
    "monitor_interval": 0.1,
    "rebalance_cooldown": 0,
    # Rebalance as soon as two workers differ by more than one stream.
    "imbalance_threshold": 0.0,
    "max_stream_difference": 1,
}


async def import_streams(
    database_url: str, server: LocalStreamServer, count: int, tmp: Path
) -> None:
    """Load `count` local test streams into the orchestrator's database (`streams import`)."""
    listing = tmp / f"streams-{count}.json"
    listing.write_text(
        json.dumps([{"url": server.url(i), "name": f"Radio {i}"} for i in range(1, count + 1)])
    )
    # The command runs its own event loop, so it runs in a thread of its own.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["streams", "import", str(listing), "--database-url", database_url],
    )
    assert result.exit_code == 0, result.output


@dataclass
class InProcessOrchestrator:
    """The real orchestrator app under uvicorn, in this test's event loop."""

    database_url: str
    port: int
    overrides: dict[str, Any] = field(default_factory=dict)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> InProcessOrchestrator:
        values = ORCHESTRATOR_FAST | {"database_url": self.database_url} | self.overrides
        settings = OrchestratorSettings(_env_file=None, **values)  # type: ignore[call-arg]
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_config=None
        )
        server = self.server = uvicorn.Server(config)
        task = self.task = asyncio.create_task(server.serve())
        await eventually(lambda: server.started or task.done(), what="orchestrator")
        if task.done():
            task.result()
        return self

    async def stop(self) -> None:
        if self.server is not None and self.task is not None and not self.task.done():
            self.server.should_exit = True
            await self.task


@dataclass
class InProcessWorker:
    runtime: WorkerRuntime
    task: asyncio.Task[int]

    @property
    def running(self) -> list[int]:
        return self.runtime.supervisor.running_ids()

    async def stop(self) -> int:
        self.runtime.shutdown.set()
        return await self.task


def worker_settings(
    instance_id: str, orchestrator_url: str, journal: Path | None = None, **overrides: Any
) -> WorkerSettings:
    values: dict[str, Any] = {
        "instance_id": instance_id,
        "orchestrator_url": orchestrator_url,
        "heartbeat_interval": 0.5,
        "heartbeat_timeout": 2.0,
        "assignment_wait_seconds": 5,
        "shutdown_timeout_seconds": 3,
        "worker_http_host": "127.0.0.1",
        "worker_http_port": 0,
        "worker_journal_path": journal,
    }
    return WorkerSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


class Cluster:
    """Starts orchestrators and workers for one test and stops every one of them afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.workers: list[InProcessWorker] = []
        self.orchestrators: list[InProcessOrchestrator] = []

    async def orchestrator(
        self, database_url: str, port: int | None = None, **overrides: Any
    ) -> InProcessOrchestrator:
        orchestrator = InProcessOrchestrator(database_url, port or free_port(), overrides)
        self.orchestrators.append(orchestrator)
        return await orchestrator.start()

    def worker(self, settings: WorkerSettings) -> InProcessWorker:
        runtime = WorkerRuntime(settings)
        worker = InProcessWorker(runtime, asyncio.create_task(runtime.run()))
        self.workers.append(worker)
        return worker

    async def stop(self) -> None:
        for worker in self.workers:
            if not worker.task.done():
                worker.runtime.shutdown.set()
        for worker in self.workers:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(worker.task, 15)
        for orchestrator in self.orchestrators:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(orchestrator.stop(), 15)


class ScriptedProcessor:
    """A processor whose behaviour a test chooses: crash N times, then count forever."""

    name: ClassVar[str] = "scripted"

    def __init__(self, crashes: int = 0, on_cancel_delay_s: float = 0.0) -> None:
        self.crashes_left = crashes
        self.on_cancel_delay_s = on_cancel_delay_s
        self.runs = 0

    async def run(self, stream: AssignedStream, stats: StreamStats) -> None:
        self.runs += 1
        if self.crashes_left > 0:
            self.crashes_left -= 1
            raise RuntimeError(f"scripted crash of {stream.id}")
        stats.status = "running"
        try:
            while True:
                await asyncio.sleep(0.01)
                if stats.may_process():
                    stats.processed += 1
        except asyncio.CancelledError:
            if self.on_cancel_delay_s:
                # A processor that takes its time to clean up (flushing, closing files).
                await asyncio.shield(asyncio.sleep(self.on_cancel_delay_s))
            raise

    async def aclose(self) -> None:
        pass
