"""Turning a bad environment into one readable message instead of a traceback.

One formatter for every command: each problem on its own line, named by the environment variable
an operator has to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import typer
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)

EXIT_CONFIGURATION = 2


def settings_or_exit(settings_class: type[S], env_file: Path | None = None) -> S:
    """Read settings from the environment (and `env_file`); if invalid, say what to fix, exit 2."""
    try:
        if env_file is None:
            return settings_class()
        return settings_class(_env_file=env_file)
    except ValidationError as error:
        typer.echo(describe_settings_errors(error, settings_class), err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None


def describe_settings_errors(
    error: ValidationError, settings_class: type[BaseSettings] | None = None
) -> str:
    """One line per problem, naming the environment variable an operator has to fix."""
    lines = ["invalid configuration:"]
    for problem in error.errors():
        message = str(problem["msg"]).removeprefix("Value error, ")
        location = [str(part) for part in problem["loc"]]
        if location:
            lines.append(f"  {_variable_name(location, settings_class)}: {message}")
        else:
            lines.append(f"  {message}")
    return "\n".join(lines)


def _variable_name(location: list[str], settings_class: type[BaseSettings] | None) -> str:
    """The environment variable for a field: its first alias if it has some, else its name."""
    field = settings_class.model_fields.get(location[0]) if settings_class else None
    alias = field.validation_alias if field else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        location = [alias.choices[0], *location[1:]]
    return "_".join(location).upper()
