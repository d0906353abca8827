"""The `fingerv7` command: one entry point, one sub-command module per concern."""

from __future__ import annotations

import typer

from fingerv7 import __version__

app = typer.Typer(
    name="fingerv7",
    help="FingerV7: an orchestrator and a fleet of fingerprinting workers for internet radio.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """FingerV7: an orchestrator and a fleet of audio-fingerprinting workers for internet radio."""


@app.command()
def version() -> None:
    """Print the FingerV7 version."""
    typer.echo(__version__)


# Sub-command modules register themselves here, one line each: `<module>.register(app)`.
from fingerv7.cli import streams as _streams_cli  # noqa: E402, I001
_streams_cli.register(app)
from fingerv7.cli import env as _env_cli  # noqa: E402, I001
_env_cli.register(app)
from fingerv7.cli import orchestrator as _orchestrator_cli  # noqa: E402, I001
_orchestrator_cli.register(app)
