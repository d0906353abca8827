"""`fingerv7 worker`: run one FingerV7 worker (settings: environment, see docs/worker.md)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from fingerv7.cli.settings_errors import (
    EXIT_CONFIGURATION,
    describe_settings_errors,
    settings_or_exit,
)
from fingerv7.logs import configure_logging
from fingerv7.worker.agent import WorkerFatalError
from fingerv7.worker.processors import ProcessorUnavailable
from fingerv7.worker.settings import WorkerSettings

__all__ = ["describe_settings_errors", "register", "worker"]


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
    settings = settings_or_exit(WorkerSettings, env_file)
    configure_logging(
        settings.log_level,
        settings.log_format,
        settings.log_file,
        settings.log_rotation,
        stream=sys.stderr,
        instance_id=settings.instance_id,
    )
    from fingerv7.worker.runtime import run_worker

    try:
        code = asyncio.run(run_worker(settings))
    except (WorkerFatalError, ProcessorUnavailable, OSError) as exc:
        logging.getLogger("fingerv7.worker").error("[WORKER] cannot run: %s", exc)
        raise typer.Exit(EXIT_CONFIGURATION) from None
    raise typer.Exit(code)
