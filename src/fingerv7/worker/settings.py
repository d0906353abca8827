"""Everything a worker reads from its environment, read once by the CLI and passed down.

Names are the manual's ("Variáveis necessárias para FingerV7"); settings the manual lacks are
marked *(new)* in docs/worker.md. Secrets are :class:`SecretStr` so they never reach a log line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from fingerv7.core.credentials import is_loopback
from fingerv7.core.sharding import ShardSpec, server_number_from_id
from fingerv7.settings import FingerV7Settings

_INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


RECOGNIZER_NAMES = ("catalog", "shazam", "http", "icy")


class WorkerSettings(FingerV7Settings):
    """The worker's configuration (environment variables, optionally an env file)."""

    model_config = SettingsConfigDict(frozen=True)

    # Identity: INSTANCE_ID wins; SERVER_ID is the original's name for the same thing.
    instance_id_value: str | None = Field(
        default=None, validation_alias=AliasChoices("INSTANCE_ID", "instance_id")
    )
    server_id: str | None = None

    # Orchestrator connection.
    use_orchestrator: bool = True
    orchestrator_url: str | None = None
    orchestrator_api_key: SecretStr | None = None
    # The key read from a file instead (a mounted Secret): Kubernetes gives each pod its own.
    orchestrator_api_key_file: Path | None = None
    max_streams: int = Field(default=50, ge=1, le=1000)
    heartbeat_interval: float = Field(default=30.0, gt=0, le=3600)
    heartbeat_timeout: float | None = Field(default=None, gt=0)
    assignment_wait_seconds: float = Field(default=25.0, gt=0, le=60)
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    worker_location: str | None = None

    # Presence in Redis, as the original dashboard reads it.
    redis_url: SecretStr | None = None
    redis_channel: str = "smf:server_heartbeats"
    redis_key_prefix: str = "smf:server"
    redis_heartbeat_ttl_secs: int = Field(default=120, ge=1)

    # PostgreSQL: identifications go to MUSIC_LOG_TABLE; static mode reads STREAMS_TABLE. The
    # manual's DB_TABLE_NAME (music_log on a worker) and STREAMS_TABLE_NAME are accepted too.
    # Unset POSTGRES_HOST: libpq's default (PGHOST, else the local socket).
    postgres_host: str | None = None
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    postgres_db: str = "music_log"
    postgres_user: str = "postgres"
    postgres_password: SecretStr | None = None
    db_table_name: str = Field(
        default="music_log", validation_alias=AliasChoices("MUSIC_LOG_TABLE", "DB_TABLE_NAME")
    )
    streams_table_name: str = Field(
        default="streams", validation_alias=AliasChoices("STREAMS_TABLE", "STREAMS_TABLE_NAME")
    )

    # Processing.
    processor: str = "probe"
    identification_duration: float = Field(default=15.0, gt=0)
    duplicate_prevention_window_seconds: int = Field(default=900, ge=0)
    duplicate_check_window: int | None = None  # ignored; see docs/worker.md

    # Identification (PROCESSOR=fingerprint); see docs/identification.md.
    catalog_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "CATALOG_DATABASE_URL", "catalog_database_url", "DATABASE_URL", "database_url"
        ),
    )
    identification_interval: float | None = Field(default=None, gt=0)
    catalog_refresh_seconds: float = Field(default=300.0, gt=0)
    match_min_aligned_hashes: int | None = Field(default=None, ge=1)
    match_min_confidence: float | None = Field(default=None, ge=0, le=1)
    match_min_score: float | None = Field(default=None, ge=0)
    match_min_runner_up_ratio: float | None = Field(default=None, ge=0)
    # Index entries a whole-catalog search may gather (MatchConfig.max_search_postings); 0 lifts
    # the budget: every search is exhaustive.
    match_max_search_postings: int | None = Field(default=None, ge=0)
    # Index entries past which a whole-catalog search is nominated by a part of the query
    # (MatchConfig.nominate_above_postings); 0: every search is exhaustive.
    match_nominate_above_postings: int | None = Field(default=None, ge=0)
    # Leading tracks checked peak by peak when the best alignment's hashes fall short of the bar
    # (MatchConfig.verified_candidates); 0 lets the hashes alone decide.
    match_verified_candidates: int | None = Field(default=None, ge=0)
    # When a window names nothing, look again (without the leading voice, then steadied) among
    # this many tracks that came closest (MatchConfig.second_look_tracks); 0: no second look.
    match_second_look_tracks: int | None = Field(default=None, ge=0)
    # When the looks name nothing either, search the 20-160 Hz band (MatchConfig.low_band_look).
    match_low_band: bool | None = None
    playlog_buffer_path: Path | None = None
    # A SQLite file for music_log instead of PostgreSQL: one machine only (`fingerv7 demo`).
    music_log_path: Path | None = None
    tz: str = "America/Sao_Paulo"

    # Static mode (USE_ORCHESTRATOR=false).
    distribute_load: bool = True
    total_servers: int = Field(default=1, ge=1)
    enable_rotation: bool = False
    rotation_hours: float = Field(default=24.0, gt=0)
    static_refresh_seconds: float = Field(default=300.0, gt=0)

    # The worker's own surface.
    log_level: str = "INFO"
    worker_http_host: str = "127.0.0.1"  # beyond loopback only with WORKER_HTTP_KEY
    worker_http_port: int = Field(default=8081, ge=0, le=65535)
    worker_journal_path: Path | None = None
    # Logs as the orchestrator writes them (fingerv7.logs): plain or JSON lines, rotated files.
    log_format: Literal["plain", "json"] = "plain"
    log_file: str | None = None
    log_rotation: str = "100MB,7"

    # Bearer key for the worker's /metrics (required to listen beyond loopback); /health stays
    # open for probes and shows no credentials.
    worker_http_key: SecretStr | None = None

    # Fallback recognizers and the learning catalog (PROCESSOR=fingerprint); see
    # docs/identification.md#fallback-recognizers.
    recognizers: str = "catalog"
    recognizer_requests_per_minute: float = Field(default=4.0, gt=0, le=6000)
    recognizer_hold_seconds: float = Field(default=60.0, gt=0)
    recognizer_cost_per_call: float = Field(default=0.0, ge=0)
    recognizer_http_url: str | None = None
    recognizer_http_key: SecretStr | None = None
    recognizer_http_fields: str = ""
    recognizer_http_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    catalog_learning: bool = True
    learned_refresh_seconds: float = Field(default=10.0, gt=0)
    recognizer_egress: str | None = None  # e.g. the VPN exit; needs REDIS_URL
    recognizer_egress_requests_per_minute: int = Field(default=10, ge=1, le=6000)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("processor")
    @classmethod
    def _normalised_processor(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("tz")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        key = value.strip().removeprefix(":") or "UTC"
        try:
            ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"TZ {value!r} is not a known time zone; use e.g. TZ=America/Sao_Paulo"
            ) from None
        return key

    @field_validator("orchestrator_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError("ORCHESTRATOR_URL must start with http:// or https://")
        return url

    @model_validator(mode="before")
    @classmethod
    def _key_from_file(cls, data: object) -> object:
        """ORCHESTRATOR_API_KEY_FILE becomes ORCHESTRATOR_API_KEY, read once at startup."""
        if not isinstance(data, dict) or not data.get("orchestrator_api_key_file"):
            return data
        if data.get("orchestrator_api_key"):
            raise ValueError("set ORCHESTRATOR_API_KEY or ORCHESTRATOR_API_KEY_FILE, not both")
        return {**data, "orchestrator_api_key": read_key_file(data["orchestrator_api_key_file"])}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        identity = self.instance_id_value or self.server_id
        if not identity:
            raise ValueError(
                "set INSTANCE_ID (or SERVER_ID) to this worker's name, e.g. fingerv7-001"
            )
        if not _INSTANCE_ID_PATTERN.fullmatch(identity):
            raise ValueError(
                f"INSTANCE_ID {identity!r} must be 1-64 letters, digits, '.', '_' or '-'"
            )
        if self.use_orchestrator and not self.orchestrator_url:
            raise ValueError(
                "USE_ORCHESTRATOR is true but ORCHESTRATOR_URL is not set; set it, or set "
                "USE_ORCHESTRATOR=false for static sharding"
            )
        if not self.use_orchestrator and self.distribute_load:
            _ = self.shard  # raises ValueError with the reason
        if self.heartbeat_timeout is not None and self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("HEARTBEAT_TIMEOUT must be longer than HEARTBEAT_INTERVAL")
        self._check_http_exposure()
        return self

    def _check_http_exposure(self) -> None:
        key = self.worker_http_key
        if (key is None or not key.get_secret_value().strip()) and not is_loopback(
            self.worker_http_host
        ):
            raise ValueError(
                f"WORKER_HTTP_HOST={self.worker_http_host} would publish /metrics to the network "
                "without a key: set WORKER_HTTP_KEY (scrapers send it as a Bearer token), or "
                "keep WORKER_HTTP_HOST=127.0.0.1"
            )

    @property
    def instance_id(self) -> str:
        """This worker's name: INSTANCE_ID, else SERVER_ID."""
        identity = self.instance_id_value or self.server_id
        assert identity is not None  # guaranteed by the validator
        return identity

    @property
    def effective_heartbeat_timeout(self) -> float:
        """HEARTBEAT_TIMEOUT, or three intervals (the manual's 60 s / 180 s ratio)."""
        return self.heartbeat_timeout or 3 * self.heartbeat_interval

    @property
    def zone(self) -> ZoneInfo:
        """TZ as a time zone: music_log's date and time are local wall-clock time in it."""
        return ZoneInfo(self.tz)

    @property
    def effective_identification_interval(self) -> float:
        """IDENTIFICATION_INTERVAL, or IDENTIFICATION_DURATION (back-to-back windows)."""
        return self.identification_interval or self.identification_duration

    @property
    def effective_playlog_buffer_path(self) -> Path:
        """PLAYLOG_BUFFER_PATH, or `playlog-{INSTANCE_ID}.sqlite3` in the working directory."""
        return self.playlog_buffer_path or Path(f"playlog-{self.instance_id}.sqlite3")

    @property
    def shard(self) -> ShardSpec:
        """Static mode's shard: the number at the end of SERVER_ID (else INSTANCE_ID)."""
        number = server_number_from_id(self.server_id or self.instance_id)
        return ShardSpec(server_number=number, total_servers=self.total_servers)

    def postgres_conninfo(self) -> str:
        """A libpq connection string for the POSTGRES_* settings (with the password)."""
        parts = {"host": self.postgres_host} if self.postgres_host else {}
        parts |= {
            "port": str(self.postgres_port),
            "dbname": self.postgres_db,
            "user": self.postgres_user,
        }
        if self.postgres_password is not None:
            parts["password"] = self.postgres_password.get_secret_value()
        return " ".join(f"{key}={_quote_conninfo(value)}" for key, value in parts.items())

    @field_validator("recognizers")
    @classmethod
    def _known_recognizers(cls, value: str) -> str:
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(RECOGNIZER_NAMES))
        if unknown:
            choices = ", ".join(RECOGNIZER_NAMES)
            raise ValueError(f"RECOGNIZERS: unknown {', '.join(unknown)}; choose from {choices}")
        if not names or names[0] != "catalog" or len(set(names)) != len(names):
            raise ValueError("RECOGNIZERS must start with catalog and name each recognizer once")
        return ",".join(names)

    @field_validator("recognizer_http_fields")
    @classmethod
    def _field_mapping(cls, value: str) -> str:
        if value.strip():
            from fingerv7.audio.remote import parse_field_mapping  # NumPy etc.: only when set

            parse_field_mapping(value)  # raises ValueError with the reason
        return value

    @model_validator(mode="after")
    def _egress_needs_redis(self) -> Self:
        if self.recognizer_egress and not self.redis_url:
            raise ValueError("RECOGNIZER_EGRESS shares a limit through Redis: set REDIS_URL")
        return self

    @model_validator(mode="after")
    def _http_recognizer_configured(self) -> Self:
        if "http" in self.recognizer_list and not (self.recognizer_http_url or "").startswith(
            ("http://", "https://")
        ):
            raise ValueError(
                "RECOGNIZERS includes http: set RECOGNIZER_HTTP_URL to its http(s) URL"
            )
        return self

    @property
    def recognizer_list(self) -> tuple[str, ...]:
        """RECOGNIZERS as names, catalog first."""
        return tuple(self.recognizers.split(","))


def read_key_file(path: object) -> str:
    """The key in `path` without surrounding whitespace; ValueError naming the file if unusable."""
    try:
        key = Path(str(path)).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "unreadable"
        raise ValueError(f"ORCHESTRATOR_API_KEY_FILE {path}: {reason}") from None
    if not key:
        raise ValueError(f"ORCHESTRATOR_API_KEY_FILE {path} is empty")
    return key


def _quote_conninfo(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def load_worker_settings(env_file: Path | None = None) -> WorkerSettings:
    """Read the settings from the environment (and `env_file` when given)."""
    if env_file is None:
        return WorkerSettings()
    return WorkerSettings(_env_file=env_file)  # type: ignore[call-arg]
