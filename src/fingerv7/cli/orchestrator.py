"""`fingerv7 orchestrator` (serve the API) and `fingerv7 migrate` (apply the schema)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

import typer

from fingerv7.cli.settings_errors import settings_or_exit
from fingerv7.core.credentials import is_loopback
from fingerv7.logs import configure_logging
from fingerv7.orchestrator.gc_tuning import tune_collector
from fingerv7.orchestrator.runtime import StartupError, start_runtime
from fingerv7.orchestrator.settings import OrchestratorSettings

# Workers beat every 10-60 s: keep their connection open across beats instead of reconnecting
# (uvicorn's 5 s default closes it between every two beats, and a client reusing it at that
# instant sees a reset). A fleet of thousands also opens thousands of connections at once.
KEEP_ALIVE_S = 75
BACKLOG = 4096


def orchestrator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    insecure: Annotated[
        bool,
        typer.Option(help="Allow listening beyond loopback with no ORCHESTRATOR_*_KEY configured."),
    ] = False,
) -> None:
    """Run the orchestrator API and monitor (configuration from the environment and .env)."""
    import uvicorn

    from fingerv7.http_limits import HeaderLimitedHttpTools

    settings = settings_or_exit(OrchestratorSettings)
    _database_url_or_exit(settings)
    configure_logging(
        settings.log_level, settings.log_format, settings.log_file, settings.log_rotation
    )
    if not settings.auth_enabled and not is_loopback(host) and not insecure:
        typer.echo(
            f"refusing to listen on {host} without keys: set ORCHESTRATOR_INSTANCE_SECRET and "
            "ORCHESTRATOR_ADMIN_KEY, or pass --insecure to accept an open API",
            err=True,
        )
        raise typer.Exit(2)
    if settings.max_workers > 1:
        # Each worker process sets its collector in create_app_from_env.
        uvicorn.run(
            "fingerv7.api.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=settings.max_workers,
            log_config=None,
            timeout_keep_alive=KEEP_ALIVE_S,
            backlog=BACKLOG,
            http=HeaderLimitedHttpTools,
            timeout_worker_healthcheck=60,  # each process imports and migrates before answering
        )
        return
    tune_collector()
    try:
        # uvloop, as uvicorn itself would pick: the event loop is a third of a heartbeat's cost.
        with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
            runner.run(_serve(settings, host, port))
    except StartupError as error:
        typer.echo(f"[ERROR] [STARTUP] {error}", err=True)
        raise typer.Exit(3) from None


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; plain asyncio works too
        return None
    return uvloop.new_event_loop


async def _serve(settings: OrchestratorSettings, host: str, port: int) -> None:
    import uvicorn

    from fingerv7.api.app import create_app
    from fingerv7.http_limits import HeaderLimitedHttpTools

    runtime = await start_runtime(settings)
    config = uvicorn.Config(
        create_app(settings, runtime),
        host=host,
        port=port,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=BACKLOG,
        http=HeaderLimitedHttpTools,
    )
    await uvicorn.Server(config).serve()


def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (idempotent)."""
    from fingerv7.storage.database_url import describe_url
    from fingerv7.storage.migrate import upgrade_to_head

    settings = settings_or_exit(OrchestratorSettings)
    _database_url_or_exit(settings)
    configure_logging(settings.log_level)
    url = settings.database_url.get_secret_value()
    upgrade_to_head(url)
    typer.echo(f"schema up to date on {describe_url(url)}")


def _database_url_or_exit(settings: OrchestratorSettings) -> None:
    """One line and exit 2 for a DATABASE_URL we cannot use (the message never shows the URL)."""
    from fingerv7.storage.database_url import to_async_url

    try:
        to_async_url(settings.database_url.get_secret_value())
    except ValueError as error:
        typer.echo(f"invalid configuration: DATABASE_URL: {error}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.command()(orchestrator)
    app.command()(migrate)
