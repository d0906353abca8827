"""Turning a bad environment into one readable message instead of a traceback."""

from __future__ import annotations

from typing import TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def settings_or_exit(settings_class: type[S]) -> S:
    """Read settings from the environment; on invalid values print what to fix and exit 2."""
    try:
        return settings_class()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper() or "configuration"
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"  {name}: {message}")
        typer.echo("invalid configuration:\n" + "\n".join(lines), err=True)
        raise typer.Exit(2) from None
