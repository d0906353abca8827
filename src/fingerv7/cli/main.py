"""The `fingerv7` command: one entry point, one sub-command module per concern."""

from __future__ import annotations

import typer

from fingerv7 import __version__
from fingerv7.cli import catalog, demo, env, keys, orchestrator, streams, worker

app = typer.Typer(
    name="fingerv7",
    help="FingerV7: an orchestrator and a fleet of fingerprinting workers for internet radio.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback (with its locals: a DATABASE_URL and its password) is never how we report an
    # error; every command turns expected failures into one line and an exit code.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """FingerV7: an orchestrator and a fleet of audio-fingerprinting workers for internet radio."""


@app.command()
def version() -> None:
    """Print the FingerV7 version."""
    typer.echo(__version__)


for module in (orchestrator, streams, worker, demo, catalog, env, keys):
    module.register(app)
