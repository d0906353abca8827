"""The orchestrator's app in this process, its fleet in an `InMemoryFleetStore`.

Requests go through `httpx.ASGITransport`: no server, no port, no database behind the routes that
read and write through the store (`/instances`, `/metrics`, the operator actions). The runtime's
other parts (monitor, assignment cache, heartbeat intake, stream-health book) still take an
engine; they get one that is never connected, so a route that reaches them fails loudly here and
belongs with the real-database tests. The lifespan is not run: nothing is started to stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from fingerv7.api.app import create_app
from fingerv7.orchestrator.assignment_cache import AssignmentCache
from fingerv7.orchestrator.controller import FleetController
from fingerv7.orchestrator.discrepancies import DiscrepancyRecorder
from fingerv7.orchestrator.heartbeat_intake import HeartbeatIntake
from fingerv7.orchestrator.leadership import Leadership, holder_id
from fingerv7.orchestrator.metrics import OrchestratorMetrics
from fingerv7.orchestrator.quarantine import StreamQuarantine
from fingerv7.orchestrator.registration_intake import RegistrationIntake
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.orchestrator.stream_health import StreamHealthBook
from fingerv7.storage.fleet_rows import FleetStorage
from fingerv7.storage.leader_lease import LeaderLease
from fingerv7.storage.report_store import ReportStore
from fingerv7.storage.stream_health_store import StreamHealthStore
from fingerv7.storage.stream_source import SqlStreamSource
from fingerv7.storage.tick_store import TickStore

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
    leadership = Leadership(LeaderLease(engine, holder_id(), settings.leader_lease_seconds))
    source = SqlStreamSource(engine, "streams")
    controller = FleetController(TickStore(engine), source, settings, leadership)
    reports = ReportStore(engine)
    metrics = OrchestratorMetrics()
    runtime = OrchestratorRuntime(
        settings=settings,
        engine=engine,
        store=store,
        source=source,
        source_engine=None,
        controller=controller,
        cache=AssignmentCache(reports),
        intake=HeartbeatIntake(reports, controller.wake),
        metrics=metrics,
        stream_health=StreamHealthBook(StreamHealthStore(engine), settings),
        discrepancies=DiscrepancyRecorder(store, metrics),
        quarantine=StreamQuarantine(
            settings.stream_quarantine_seconds,
            request=controller.request_move_away,
            load_moved=store.quarantined_streams,
            epoch=lambda: leadership.epoch,
        ),
        registrations=RegistrationIntake(store.register_many),
    )
    app = create_app(settings, runtime)
    app.state.runtime = runtime  # what the lifespan would do
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as client:
            yield InProcessApp(client, store, runtime)
    finally:
        await engine.dispose()
