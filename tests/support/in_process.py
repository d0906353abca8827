"""The orchestrator's app in this process, its fleet in an `InMemoryFleetStore` (or any store).

Requests go through `httpx.ASGITransport`: no server, no port, no database behind the routes that
read and write through the store (`/instances`, `/metrics`, the operator actions). The runtime's
other parts (monitor, assignment cache, heartbeat intake, stream-health book) still take an
engine; they get one that is never connected, so a route that reaches them fails loudly here and
belongs with the real-database tests. The runtime is wired by the orchestrator's own
`build_runtime`; the lifespan is not run: nothing is started to stop.
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
from fingerv7.storage.stream_source import SqlStreamSource

Store = TypeVar("Store", bound=FleetStorage)


@dataclass
class InProcessApp(Generic[Store]):
    client: httpx.AsyncClient
    store: Store
    runtime: OrchestratorRuntime


@asynccontextmanager
async def in_process_app(
    settings: OrchestratorSettings, store: Store
) -> AsyncIterator[InProcessApp[Store]]:
    """The app with a runtime whose fleet is `store`; a client that calls it in-process."""
    engine = create_async_engine("sqlite+aiosqlite://")  # never connected by the store's routes
    runtime = build_runtime(
        settings, engine=engine, store=store, source=SqlStreamSource(engine, "streams")
    )
    app = create_app(settings, runtime)
    app.state.runtime = runtime  # what the lifespan would do
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as client:
            yield InProcessApp(client, store, runtime)
    finally:
        await engine.dispose()
