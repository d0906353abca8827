"""The orchestrator's FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI

from fingerv7 import __version__
from fingerv7.api import routes_dashboard, routes_fleet, routes_instances, routes_streams
from fingerv7.api.errors import BodySizeLimit, install_error_handlers
from fingerv7.api.fast_path import ProtocolFastPath
from fingerv7.api.openapi import build_openapi
from fingerv7.api.request_metrics import RequestMetrics
from fingerv7.api.routes_fleet import credentials_report
from fingerv7.logs import configure_logging
from fingerv7.orchestrator.gc_tuning import tune_collector
from fingerv7.orchestrator.runtime import OrchestratorRuntime, start_runtime
from fingerv7.orchestrator.settings import OrchestratorSettings

log = logging.getLogger("fingerv7.orchestrator")


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
        _log_credentials_mode(settings)
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
        # The system's metrics are Prometheus (/metrics/prometheus); FastAPI's native
        # OpenTelemetry, unused, looked up the environment on every request: 13 % of the
        # orchestrator's CPU at 2,000 instances (py-spy --gil).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(routes_instances.router)
    app.include_router(routes_fleet.router)
    app.include_router(routes_streams.router)
    app.include_router(routes_dashboard.router)
    app.add_middleware(ProtocolFastPath)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(RequestMetrics)  # outermost: counts the 413s and 500s too
    return app


def _log_credentials_mode(settings: OrchestratorSettings) -> None:
    report = credentials_report(settings)
    if "warning" in report:
        log.warning("[STARTUP] credentials: %s", report["warning"])
    else:
        log.info("[STARTUP] credentials: per-instance keys (each key acts for its own instance)")


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
    """Factory for uvicorn's multi-process mode: each worker process reads the environment
    and, being a process of its own, sets its collector (`orchestrator/gc_tuning.py`)."""
    tune_collector()
    settings = OrchestratorSettings()
    configure_logging(
        settings.log_level, settings.log_format, settings.log_file, settings.log_rotation
    )
    return create_app(settings)
