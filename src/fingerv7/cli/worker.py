"""`fingerv7 worker`: run one FingerV7 worker (settings: environment, see docs/worker.md)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from fingerv7.logs import RedactingFilter
from fingerv7.worker.agent import WorkerFatalError
from fingerv7.worker.processors import ProcessorUnavailable
from fingerv7.worker.settings import WorkerSettings, load_worker_settings

EXIT_CONFIGURATION = 2


def register(app: typer.Typer) -> None:
    """Add the `worker` command to the `fingerv7` CLI."""
    app.command("worker")(worker)


def worker(
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="Read settings from this file as well (KEY=value lines); the environment wins.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Run a worker: register with the orchestrator and process the streams it assigns.

    Settings come from environment variables (INSTANCE_ID, ORCHESTRATOR_URL, MAX_STREAMS, ...;
    see docs/worker.md). With USE_ORCHESTRATOR=false it shards the streams table by itself.
    SIGTERM/SIGINT drains and exits 0; a second signal exits at once.
    """
    try:
        settings = load_worker_settings(env_file)
    except ValidationError as exc:
        typer.echo(describe_settings_errors(exc), err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None
    configure_logging(settings)
    from fingerv7.worker.runtime import run_worker

    try:
        code = asyncio.run(run_worker(settings))
    except (WorkerFatalError, ProcessorUnavailable, OSError) as exc:
        logging.getLogger("fingerv7.worker").error("[WORKER] cannot run: %s", exc)
        raise typer.Exit(EXIT_CONFIGURATION) from None
    raise typer.Exit(code)


def describe_settings_errors(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable an operator has to fix."""
    lines = ["fingerv7 worker: invalid settings"]
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        location = [str(part) for part in error["loc"]]
        if location:
            field = location[0]
            name = "INSTANCE_ID" if field == "instance_id_value" else field.upper()
            lines.append(f"  {name}: {message}")
        else:
            lines.append(f"  {message}")
    return "\n".join(lines)


def configure_logging(settings: WorkerSettings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s [%(levelname)s] {settings.instance_id} %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    # httpx logs every request at INFO; heartbeats would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
