"""A real orchestrator over real HTTP: uvicorn serving the app on a free loopback port.

Registered as a pytest plugin by tests/conftest.py, so every test can use `start_orchestrator`
(and `database_url`, which runs a test on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.api.app import create_app
from fingerv7.http_limits import HeaderLimitedHttpTools
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.database import create_engine
from fingerv7.storage.migrate import upgrade_to_head

FAST_TIMEOUTS = {
    "heartbeat_interval": 0.5,
    "heartbeat_warning_threshold": 1.0,
    "heartbeat_timeout": 2.0,
    "instance_removal_timeout": 60,
    "stream_sync_interval": 0.5,
    "monitor_interval": 0.1,
    "rebalance_cooldown": 0,
    "initial_placement_delay": 0,  # tests of the cold-start hold turn it on
    "postgres_startup_timeout": 5,
    "leader_lease_seconds": 1.0,
    "heartbeat_flush_interval": 0.1,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningOrchestrator:
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]
    client: httpx.AsyncClient

    @property
    def runtime(self) -> OrchestratorRuntime:
        app = self.server.config.app
        assert isinstance(app, FastAPI)
        runtime: OrchestratorRuntime = app.state.runtime
        return runtime

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        await self.client.aclose()


async def eventually(
    check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition"
) -> Any:
    """Poll `check` (sync or async) until truthy; fail naming `what` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Any = None
    while loop.time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The orchestrator's own database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orchestrator.db'}"
    make: Callable[[], str] = request.getfixturevalue("make_pg_database")
    return make()


@pytest.fixture
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `database_url` with the orchestrator's schema; disposed after the test."""
    await asyncio.to_thread(upgrade_to_head, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def start_orchestrator() -> AsyncIterator[Callable[..., Awaitable[RunningOrchestrator]]]:
    """Factory: start an orchestrator with settings overrides; all stopped after the test."""
    started: list[RunningOrchestrator] = []

    async def start(**overrides: Any) -> RunningOrchestrator:
        values = FAST_TIMEOUTS | overrides
        settings = OrchestratorSettings(_env_file=None, **values)  # type: ignore[call-arg]
        port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            http=HeaderLimitedHttpTools,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("orchestrator exited during startup")
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        headers = {}
        key = settings.orchestrator_admin_key or settings.orchestrator_api_key
        if key is not None:
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        running = RunningOrchestrator(
            url, server, task, httpx.AsyncClient(base_url=url, headers=headers, timeout=30)
        )
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            with contextlib.suppress(Exception):
                await running.stop()
