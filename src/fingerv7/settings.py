"""What every FingerV7 settings class shares: how a process reads its environment.

Both sides read the manual's variable names with the same rules, so a name never means "unset"
on one side and "empty string" on the other: `KEY=` (an empty value, as `.env.example` ships
them and as Compose passes `${KEY:-}`) means the variable is not set and its default applies.
"""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fingerv7.logs import parse_rotation


class FingerV7Settings(BaseSettings):
    """Base of the orchestrator's and the worker's settings."""

    model_config = SettingsConfigDict(
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
        # Fields with aliases (STREAMS_TABLE, MUSIC_LOG_TABLE) can still be passed by field name.
        populate_by_name=True,
    )

    @field_validator("log_rotation", check_fields=False)
    @classmethod
    def _parsable_rotation(cls, value: str) -> str:
        parse_rotation(value)  # ValueError names LOG_ROTATION and the expected form
        return value
