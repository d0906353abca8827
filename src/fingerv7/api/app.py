"""The orchestrator's FastAPI application factory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.routing import Match

from fingerv7 import __version__
from fingerv7.api import routes_fleet, routes_instances
from fingerv7.api.errors import BodySizeLimit, install_error_handlers
from fingerv7.logs import configure_logging
from fingerv7.orchestrator.runtime import start_runtime
from fingerv7.orchestrator.settings import OrchestratorSettings


def create_app(settings: OrchestratorSettings) -> FastAPI:
    """Build the app; the orchestrator runtime starts with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="FingerV7 Orchestrator",
        version=__version__,
        description="Spreads internet-radio streams over FingerV7 workers. See docs/protocol.md.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(routes_instances.router)
    app.include_router(routes_fleet.router)
    app.middleware("http")(_observe_requests)
    app.add_middleware(BodySizeLimit)
    return app


async def _observe_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        route = _route_template(request)
        runtime.metrics.observe_request(
            request.method, route, response.status_code, time.perf_counter() - started
        )
    return response


def _route_template(request: Request) -> str:
    """`/instances/{instance_id}` rather than one label per instance id."""
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return "unmatched"


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn's multi-process mode: each worker process reads the environment."""
    settings = OrchestratorSettings()
    configure_logging(
        settings.log_level, settings.log_format, settings.log_file, settings.log_rotation
    )
    return create_app(settings)
