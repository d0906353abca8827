"""The orchestrator's app in this process, its fleet in an `InMemoryFleetStore` (or any store).

Requests go through `httpx.ASGITransport`: no server, no port. The routes read and write the
fleet through the store (`/instances`, `/streams/*`, `/health`, `/metrics`, the operator
actions). The runtime is wired by the orchestrator's own `build_runtime`; its other parts take
an engine on an in-memory SQLite that holds the stream-health tables only (the book's shared
copy, so stream health is judged here as in production). A route that reaches the monitor's or
the heartbeats' tables fails loudly here, 503, and belongs with the real-database tests, unless
the test passes its in-memory store as `reports` too (the assignment cache then reads it). The
lifespan is not run: nothing is started to stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from fingerv7.api.app import create_app
from fingerv7.orchestrator.runtime import OrchestratorRuntime, build_runtime
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.fleet_rows import FleetStorage
from fingerv7.storage.report_store import ReportStorage
from fingerv7.storage.stream_health_store import metadata as stream_health_tables
from fingerv7.storage.stream_source import SqlStreamSource

Store = TypeVar("Store", bound=FleetStorage)


@dataclass
class InProcessApp(Generic[Store]):
    client: httpx.AsyncClient
    store: Store
    runtime: OrchestratorRuntime


@asynccontextmanager
async def in_process_app(
    settings: OrchestratorSettings, store: Store, *, reports: ReportStorage | None = None
) -> AsyncIterator[InProcessApp[Store]]:
    """The app with a runtime whose fleet is `store`; a client that calls it in-process.

    `reports` (an `InMemoryFleetStore`, say) serves the answer cache and the heartbeat batches;
    without it they go to the SQLite engine, which has no such tables."""
    engine = create_async_engine("sqlite+aiosqlite://")  # one connection: the tables stay
    try:
        async with engine.begin() as conn:
            await conn.run_sync(stream_health_tables.create_all)
        runtime = build_runtime(
            settings,
            engine=engine,
            store=store,
            source=SqlStreamSource(engine, "streams"),
            reports=reports,
        )
        app = create_app(settings, runtime)
        app.state.runtime = runtime  # what the lifespan would do
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as client:
            yield InProcessApp(client, store, runtime)
    finally:
        await engine.dispose()
