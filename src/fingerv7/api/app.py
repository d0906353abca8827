"""The orchestrator's FastAPI application factory."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI, Request, Response
from starlette.routing import Match

from fingerv7 import __version__
from fingerv7.api import routes_dashboard, routes_fleet, routes_instances, routes_streams
from fingerv7.api.errors import BodySizeLimit, install_error_handlers
from fingerv7.logs import configure_logging
from fingerv7.orchestrator.runtime import OrchestratorRuntime, start_runtime
from fingerv7.orchestrator.settings import OrchestratorSettings


def create_app(
    settings: OrchestratorSettings, runtime: OrchestratorRuntime | None = None
) -> FastAPI:
    """Build the app. The runtime starts with the app's lifespan unless one is handed in
    (the CLI starts it first, so a dependency failure is one clear line, not a traceback)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal runtime
        if runtime is None:
            runtime = await start_runtime(settings)
        app.state.runtime = runtime
        restore_signals = _begin_shutdown_on_signals(runtime)
        try:
            yield
        finally:
            restore_signals()
            await runtime.stop()
            music_log = getattr(app.state, "music_log_engine", None)
            if music_log is not None:
                await music_log.dispose()

    app = FastAPI(
        title="FingerV7 Orchestrator",
        version=__version__,
        description="Spreads internet-radio streams over FingerV7 workers. See docs/protocol.md.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(routes_instances.router)
    app.include_router(routes_fleet.router)
    app.include_router(routes_streams.router)
    app.include_router(routes_dashboard.router)
    app.middleware("http")(_observe_requests)
    app.add_middleware(BodySizeLimit)
    return app


async def _observe_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    status = 500  # a handler that raised answers 500: it must count, or the error rate lies
    try:
        response = await call_next(request)
        status = response.status_code
    finally:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            route = _route_template(request)
            runtime.metrics.observe_request(
                request.method, route, status, time.perf_counter() - started
            )
    return response


def _route_template(request: Request) -> str:
    """`/instances/{instance_id}` rather than one label per instance id.

    The router records the route it chose in the scope; included routers (FastAPI wraps them)
    have no path of their own, so the scan below only serves requests that matched no route.
    """
    chosen = request.scope.get("route")
    if chosen is not None and isinstance(getattr(chosen, "path", None), str):
        return str(chosen.path)
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def _begin_shutdown_on_signals(runtime: OrchestratorRuntime) -> Callable[[], None]:
    """Chain onto the server's SIGTERM/SIGINT handlers: stop the monitor before draining."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(runtime.begin_shutdown)
        chained = previous[signal.Signals(signum)]
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:
            raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)

    return restore


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn's multi-process mode: each worker process reads the environment."""
    settings = OrchestratorSettings()
    configure_logging(
        settings.log_level, settings.log_format, settings.log_file, settings.log_rotation
    )
    return create_app(settings)
