"""What the deployment files may rely on: the metric names and commands the code provides.

Kept as data here (the deployment files are checked against it); when the code's metrics or
commands change, this list and the files change together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
DEPLOY = REPO_ROOT / "deploy"
DOCS = (
    REPO_ROOT / "docs" / "deployment.md",
    REPO_ROOT / "docs" / "operations.md",
    REPO_ROOT / "docs" / "orchestrator.md",
)

# `fingerv7 <command>` sub-commands an image may run.
CLI_COMMANDS = frozenset({"orchestrator", "worker", "migrate", "streams", "env", "version", "demo"})

ORCHESTRATOR_METRICS = frozenset(
    {
        "fingerv7_instances",
        "fingerv7_capacity_streams",
        "fingerv7_streams",
        "fingerv7_imbalance_ratio",
        "fingerv7_stream_moves_total",
        "fingerv7_external_database_up",
        "fingerv7_instance_state_changes_total",
        "fingerv7_discrepancies_total",
        "fingerv7_http_requests_total",
        "fingerv7_process_resident_memory_ratio",
        "fingerv7_stream_health",
        "fingerv7_streams_down_too_long",
        "fingerv7_streams_silent_too_long",
        "fingerv7_instances_with_problems",
        "fingerv7_monitor_failing",
        "fingerv7_instance_plays_buffered",
        "fingerv7_instance_plays_buffered_oldest_seconds",
    }
)
HISTOGRAMS = frozenset(
    {
        "fingerv7_heartbeat_latency_seconds",
        "fingerv7_failover_duration_seconds",
        "fingerv7_database_latency_seconds",
        "fingerv7_monitor_tick_seconds",
    }
)
WORKER_METRICS = frozenset(
    {
        "fingerv7_worker_streams_running",
        "fingerv7_worker_processed_total",
        "fingerv7_worker_errors_total",
        "fingerv7_worker_stream_restarts_total",
        "fingerv7_worker_up",
        "fingerv7_worker_plays_buffered",
        "fingerv7_worker_plays_buffered_oldest_seconds",
    }
)
# Series a query may name: every metric, and each histogram's _bucket/_sum/_count series.
KNOWN_SERIES = (
    ORCHESTRATOR_METRICS
    | WORKER_METRICS
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)
# Prometheus' own per-target series, written by Prometheus itself on every scrape.
PROMETHEUS_SERIES = frozenset({"up"})

# The orchestrator's environment (docs/deployment.md describes each).
ORCHESTRATOR_VARIABLES = frozenset(
    {
        "DATABASE_URL",
        "MUSIC_LOG_TABLE",
        "MUSIC_LOG_DATABASE_URL",
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "STREAMS_TABLE",
        "REDIS_URL",
        "ORCHESTRATOR_API_KEY",
        "ORCHESTRATOR_ADMIN_KEY",
        "ORCHESTRATOR_INSTANCE_SECRET",
        "MAX_STREAMS_PER_INSTANCE",
        "REGISTRATION_RATE",
        "IMBALANCE_THRESHOLD",
        "MAX_STREAM_DIFFERENCE",
        "REBALANCE_COOLDOWN",
        "INITIAL_PLACEMENT_DELAY",
        "INITIAL_PLACEMENT_MAX_DELAY",
        "STREAM_CHANGES_RETENTION_DAYS",
        "BALANCE_STRATEGY",
        "HEARTBEAT_INTERVAL",
        "HEARTBEAT_WARNING_THRESHOLD",
        "HEARTBEAT_TIMEOUT",
        "MAX_MISSED_HEARTBEATS",
        "INSTANCE_REMOVAL_TIMEOUT",
        "STREAM_SYNC_INTERVAL",
        "POSTGRES_STARTUP_TIMEOUT",
        "REDIS_STARTUP_TIMEOUT",
        "APP_STARTUP_TIMEOUT",
        "EXPONENTIAL_BACKOFF",
        "RUN_MIGRATIONS",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "LOG_FILE",
        "LOG_ROTATION",
        "MAX_WORKERS",
        "TZ",
        "ALERT_SLACK_WEBHOOK_URL",
        "ALERT_DISCORD_WEBHOOK_URL",
        "ALERT_WEBHOOK_URL",
        "ALERT_COOLDOWN_SECONDS",
        "STREAM_DOWN_ALERT_SECONDS",
        "STREAM_SILENT_ALERT_SECONDS",
        "STREAMS_DOWN_SHARE_ALERT",
    }
)


def load_yaml_documents(path: Path) -> list[Any]:
    """Every document of a YAML file (Kubernetes files may hold several)."""
    with path.open(encoding="utf-8") as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
