"""The orchestrator's configuration: environment variables (and `.env`) with the manual's names.

Read once, in the CLI or the app factory, and passed down as typed values. Every duration is in
seconds and accepts small values, so tests can run the whole lifecycle in a few seconds.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from fingerv7.core.cold_start import ColdStartPolicy
from fingerv7.core.planning.model import BalancePolicy, BalanceStrategy
from fingerv7.settings import FingerV7Settings
from fingerv7.storage.database_url import DEFAULT_DATABASE_URL

PositiveSeconds = Annotated[float, Field(gt=0)]
DEFAULT_REGISTRATION_RATE_PER_MINUTE = 3000.0


class OrchestratorDatabaseSettings(FingerV7Settings):
    """DATABASE_URL alone, read like the orchestrator reads it (for `fingerv7 streams`)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8")

    # The orchestrator's own state. Default: an embedded SQLite file in the working directory.
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)


class OrchestratorSettings(OrchestratorDatabaseSettings):
    """Environment of `fingerv7 orchestrator`; defaults are the manual's."""

    # The external PostgreSQL that holds the streams to monitor. Unset host = the streams table
    # lives in the orchestrator's own database (embedded default, filled by `streams import`).
    postgres_host: str | None = None
    postgres_port: int = 5432
    postgres_db: str = "music_log"
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    # STREAMS_TABLE; DB_TABLE_NAME is the manual's name for it (on a worker it means music_log).
    db_table_name: str = Field(
        default="streams", validation_alias=AliasChoices("STREAMS_TABLE", "DB_TABLE_NAME")
    )
    # Where the workers log plays, read for the dashboard's recent identifications.
    music_log_table: str = "music_log"
    # Where the workers' music_log lives when it is not the streams database (their POSTGRES_*).
    music_log_database_url: SecretStr | None = None

    redis_url: SecretStr | None = None

    orchestrator_api_key: SecretStr | None = None
    orchestrator_admin_key: SecretStr | None = None

    imbalance_threshold: Annotated[float, Field(ge=0, le=1)] = 0.15
    max_stream_difference: Annotated[int, Field(ge=0)] = 3
    rebalance_cooldown: Annotated[float, Field(ge=0)] = 300
    balance_strategy: BalanceStrategy = BalanceStrategy.CAPACITY
    max_rebalance_moves: Annotated[int, Field(ge=1)] | None = None
    # Cold start (nothing assigned): place streams once no instance has registered for this
    # long, at most INITIAL_PLACEMENT_MAX_DELAY after the first (core/cold_start.py). 0: off.
    initial_placement_delay: Annotated[float, Field(ge=0)] = 3
    initial_placement_max_delay: Annotated[float, Field(ge=0)] = 15
    # The change audit (stream_changes) keeps this many days; each stream's latest change stays.
    stream_changes_retention_days: Annotated[float, Field(ge=0)] = 30

    heartbeat_interval: PositiveSeconds = 30  # the workers' default too
    heartbeat_warning_threshold: PositiveSeconds = 90
    heartbeat_timeout: PositiveSeconds = 180
    max_missed_heartbeats: Annotated[int, Field(ge=1)] = 2
    instance_removal_timeout: PositiveSeconds = 3600
    stream_sync_interval: PositiveSeconds = 60
    monitor_interval: PositiveSeconds = 5.0

    postgres_startup_timeout: PositiveSeconds = 60
    redis_startup_timeout: PositiveSeconds = 30
    app_startup_timeout: PositiveSeconds = 120
    exponential_backoff: bool = True
    run_migrations: bool = True

    # Alert webhooks: comma-separated URLs per format; empty = off (they are secrets).
    alert_slack_webhook_url: SecretStr | None = None
    alert_discord_webhook_url: SecretStr | None = None
    alert_webhook_url: SecretStr | None = None
    alert_cooldown_seconds: Annotated[float, Field(ge=0)] = 900
    # Stream health (issue 11): a stream down or silent this long alerts and degrades /health.
    stream_down_alert_seconds: Annotated[float, Field(ge=0)] = 300
    stream_silent_alert_seconds: Annotated[float, Field(ge=0)] = 1800
    streams_down_share_alert: Annotated[float, Field(ge=0, le=1)] = 0.2
    # A stream its instance reports down this long moves to another instance, once per episode
    # (the fault may be that instance's network or VPN exit). 0 = off.
    stream_quarantine_seconds: Annotated[float, Field(ge=0)] = 0

    # The one time zone of every time the dashboard shows (music_log's date and time are the
    # workers' TZ wall-clock; keep both the same).
    tz: str = "America/Sao_Paulo"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["plain", "json"] = "plain"
    log_file: str | None = None
    log_rotation: str = "100MB,7"
    max_workers: Annotated[int, Field(ge=1, le=64)] = 1

    # Fleet scale (docs/orchestrator.md#at-fleet-scale). The leader renews its lease every quarter
    # of this; a follower takes over when it lapses (at once when the leader's process is gone).
    leader_lease_seconds: PositiveSeconds = 5.0
    # Steady heartbeats are written in one batch this often; changed reports within 20 ms.
    heartbeat_flush_interval: Annotated[float, Field(gt=0, le=10)] = 1.0
    database_pool_size: Annotated[int, Field(ge=2, le=100)] = 10

    # Per-instance credentials (docs/security.md): the key of instance X is derived from this
    # secret and X (`fingerv7 instance-key X`), and admits calls for X only. Unset = the shared
    # ORCHESTRATOR_API_KEY admits any instance id (flagged at start and in /health).
    orchestrator_instance_secret: SecretStr | None = None
    # The most streams one instance may claim, whatever max_streams it registers with.
    max_streams_per_instance: Annotated[int, Field(ge=1, le=1000)] = 1000
    # New instance ids accepted per minute (burst of the same size); 0 = no limit. A stopped
    # worker deregisters, so a whole fleet restarting registers as new ids: the default admits a
    # 2,000-instance fleet (the design scale) at once with half as many again to spare, and
    # still bounds a client inventing ids to 50 a second (docs/security.md).
    registration_rate: Annotated[float, Field(ge=0)] = DEFAULT_REGISTRATION_RATE_PER_MINUTE

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"TZ={value!r} is not a time zone name (e.g. America/Sao_Paulo)"
            ) from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_timeouts(self) -> OrchestratorSettings:
        if self.heartbeat_warning_threshold >= self.heartbeat_timeout:
            raise ValueError(
                "HEARTBEAT_WARNING_THRESHOLD must be smaller than HEARTBEAT_TIMEOUT "
                f"(got {self.heartbeat_warning_threshold} >= {self.heartbeat_timeout})"
            )
        if self.instance_removal_timeout <= self.heartbeat_timeout:
            raise ValueError("INSTANCE_REMOVAL_TIMEOUT must be larger than HEARTBEAT_TIMEOUT")
        return self

    @property
    def uses_external_source(self) -> bool:
        return bool(self.postgres_host)

    @property
    def auth_enabled(self) -> bool:
        return (
            self.orchestrator_api_key is not None
            or self.orchestrator_admin_key is not None
            or self.orchestrator_instance_secret is not None
        )

    @property
    def credentials_mode(self) -> Literal["per_instance", "shared_key", "open"]:
        """How instances prove who they are; anything but per_instance lets one act as another."""
        if self.orchestrator_instance_secret is not None:
            return "per_instance"
        return "shared_key" if self.auth_enabled else "open"

    def balance_policy(self) -> BalancePolicy:
        return BalancePolicy(
            strategy=self.balance_strategy,
            imbalance_threshold=self.imbalance_threshold,
            max_stream_difference=self.max_stream_difference,
            rebalance_cooldown_s=self.rebalance_cooldown,
            max_voluntary_moves=self.max_rebalance_moves,
        )

    def cold_start_policy(self) -> ColdStartPolicy:
        return ColdStartPolicy(
            quiet_s=self.initial_placement_delay, max_s=self.initial_placement_max_delay
        )

    def timeout_warnings(self) -> list[str]:
        """Settings that are legal but contradict each other (logged at startup)."""
        warnings = []
        allowed_silence_s = self.heartbeat_interval * self.max_missed_heartbeats
        if self.heartbeat_timeout < allowed_silence_s:
            warnings.append(
                f"HEARTBEAT_TIMEOUT ({self.heartbeat_timeout:g}s) is shorter than "
                f"HEARTBEAT_INTERVAL x MAX_MISSED_HEARTBEATS ({allowed_silence_s:g}s): instances "
                "will be declared dead before they have missed that many heartbeats"
            )
        return warnings
