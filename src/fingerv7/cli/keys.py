"""`fingerv7 instance-key ID`: print the bearer key of one instance.

The key is derived from ORCHESTRATOR_INSTANCE_SECRET (environment, else `.env`) and the id, so
the orchestrator stores nothing per instance. Give each worker its own key as its
ORCHESTRATOR_API_KEY; it admits calls for that id only. Never give a worker the secret itself.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fingerv7.core.credentials import instance_key

EXIT_CONFIGURATION = 2


class _SecretOnly(BaseSettings):
    """Just the secret: a key can be printed whatever the rest of the environment holds."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    orchestrator_instance_secret: SecretStr | None = None

    @field_validator("orchestrator_instance_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def instance_secret() -> str | None:
    """ORCHESTRATOR_INSTANCE_SECRET from the environment or `.env`, if set."""
    secret = _SecretOnly().orchestrator_instance_secret
    return secret.get_secret_value() if secret is not None else None


def instance_key_command(
    instance_id: Annotated[str, typer.Argument(help="The instance's INSTANCE_ID.")],
) -> None:
    """Print one instance's key (its ORCHESTRATOR_API_KEY); needs ORCHESTRATOR_INSTANCE_SECRET."""
    secret = instance_secret()
    if secret is None:
        typer.echo(
            "error: ORCHESTRATOR_INSTANCE_SECRET is not set (environment or .env); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            err=True,
        )
        raise typer.Exit(EXIT_CONFIGURATION)
    try:
        typer.echo(instance_key(secret, instance_id))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None


def register(app: typer.Typer) -> None:
    app.command("instance-key")(instance_key_command)
