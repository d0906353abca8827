"""Worker settings: the manual's names, clear errors, secrets that stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from fingerv7.cli.main import app
from fingerv7.cli.worker import describe_settings_errors
from fingerv7.worker.settings import WorkerSettings, load_worker_settings

WORKER_VARIABLES = [
    "INSTANCE_ID", "SERVER_ID", "ORCHESTRATOR_URL", "ORCHESTRATOR_API_KEY",
    "ORCHESTRATOR_API_KEY_FILE", "USE_ORCHESTRATOR",
    "MAX_STREAMS", "HEARTBEAT_INTERVAL", "HEARTBEAT_TIMEOUT", "REDIS_URL", "REDIS_CHANNEL",
    "REDIS_KEY_PREFIX", "REDIS_HEARTBEAT_TTL_SECS", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB",
    "POSTGRES_USER", "POSTGRES_PASSWORD", "DB_TABLE_NAME", "STREAMS_TABLE_NAME",
    "IDENTIFICATION_DURATION", "DUPLICATE_PREVENTION_WINDOW_SECONDS", "DUPLICATE_CHECK_WINDOW",
    "DISTRIBUTE_LOAD", "TOTAL_SERVERS", "ENABLE_ROTATION", "ROTATION_HOURS", "LOG_LEVEL",
    "PROCESSOR", "WORKER_HTTP_PORT", "WORKER_HTTP_HOST", "WORKER_JOURNAL_PATH",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WORKER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_reads_the_manuals_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "INSTANCE_ID": "fingerv7-001",
        "SERVER_ID": "fingerv7-001",
        "ORCHESTRATOR_URL": "https://orchestrator.example/",
        "ORCHESTRATOR_API_KEY": "k3y",
        "USE_ORCHESTRATOR": "True",
        "MAX_STREAMS": "40",
        "HEARTBEAT_INTERVAL": "30",
        "REDIS_URL": "redis://default:pw@redis:6399/0",
        "REDIS_CHANNEL": "smf:server_heartbeats",
        "REDIS_KEY_PREFIX": "smf:server",
        "REDIS_HEARTBEAT_TTL_SECS": "120",
        "POSTGRES_HOST": "db.example",
        "POSTGRES_PASSWORD": "s3cret",
        "DB_TABLE_NAME": "music_log",
        "IDENTIFICATION_DURATION": "15",
        "DUPLICATE_CHECK_WINDOW": "120",
        "DUPLICATE_PREVENTION_WINDOW_SECONDS": "900",
        "DISTRIBUTE_LOAD": "True",
        "TOTAL_SERVERS": "8",
        "ENABLE_ROTATION": "False",
        "ROTATION_HOURS": "24",
        "LOG_LEVEL": "debug",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = WorkerSettings()
    assert settings.instance_id == "fingerv7-001"
    assert settings.orchestrator_url == "https://orchestrator.example"
    assert settings.max_streams == 40
    assert settings.heartbeat_interval == 30
    assert settings.effective_heartbeat_timeout == 90  # three intervals by default
    assert settings.total_servers == 8
    assert settings.log_level == "DEBUG"
    assert settings.processor == "probe"
    assert settings.duplicate_check_window == 120  # accepted, documented as ignored
    assert "password='s3cret'" in settings.postgres_conninfo()


def test_secrets_never_appear_in_the_settings_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTANCE_ID", "w1")
    monkeypatch.setenv("ORCHESTRATOR_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("ORCHESTRATOR_API_KEY", "very-secret-key")
    monkeypatch.setenv("POSTGRES_PASSWORD", "very-secret-password")
    monkeypatch.setenv("REDIS_URL", "redis://default:very-secret-redis@h:1/0")
    text = repr(WorkerSettings()) + str(WorkerSettings().model_dump())
    assert "very-secret" not in text


def test_server_id_is_the_instance_id_when_instance_id_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVER_ID", "fingerv7-004")
    monkeypatch.setenv("ORCHESTRATOR_URL", "http://127.0.0.1:1")
    assert WorkerSettings().instance_id == "fingerv7-004"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORCHESTRATOR_URL": "http://o"}, "set INSTANCE_ID"),
        ({"INSTANCE_ID": "w 1", "ORCHESTRATOR_URL": "http://o"}, "1-64 letters"),
        ({"INSTANCE_ID": "w1"}, "ORCHESTRATOR_URL is not set"),
        ({"INSTANCE_ID": "w1", "ORCHESTRATOR_URL": "orchestrator:8000"}, "http:// or https://"),
        ({"INSTANCE_ID": "w1", "ORCHESTRATOR_URL": "http://o", "MAX_STREAMS": "0"},
         "MAX_STREAMS: Input should be"),
        ({"INSTANCE_ID": "w1", "ORCHESTRATOR_URL": "http://o", "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        (
            {"INSTANCE_ID": "w1", "ORCHESTRATOR_URL": "http://o", "HEARTBEAT_INTERVAL": "5",
             "HEARTBEAT_TIMEOUT": "5"},
            "longer than HEARTBEAT_INTERVAL",
        ),
        ({"INSTANCE_ID": "alpha", "USE_ORCHESTRATOR": "false"}, "server number"),
        (
            {"SERVER_ID": "4", "USE_ORCHESTRATOR": "false", "TOTAL_SERVERS": "3"},
            "between 1 and 3",
        ),
    ],
)  # fmt: skip
def test_invalid_settings_say_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        WorkerSettings()
    assert message in describe_settings_errors(caught.value)


def test_static_mode_needs_no_orchestrator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_ORCHESTRATOR", "false")
    monkeypatch.setenv("SERVER_ID", "fingerv7-002")
    monkeypatch.setenv("TOTAL_SERVERS", "3")
    settings = WorkerSettings()
    assert (settings.shard.server_number, settings.shard.total_servers) == (2, 3)


def test_env_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "fingerv7-003.env"
    env_file.write_text("INSTANCE_ID=fingerv7-003\nORCHESTRATOR_URL=http://o\nMAX_STREAMS=7\n")
    monkeypatch.setenv("MAX_STREAMS", "9")
    settings = load_worker_settings(env_file)
    assert (settings.instance_id, settings.max_streams) == ("fingerv7-003", 9)


def test_cli_exits_2_with_a_readable_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTANCE_ID", "w1")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "ORCHESTRATOR_URL is not set" in result.output
    assert "Traceback" not in result.output


def test_the_key_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "instance-key"
    key_file.write_text("w1.MAC\n")  # as `fingerv7 instance-key w1 > file` writes it
    for name, value in {
        "INSTANCE_ID": "w1",
        "ORCHESTRATOR_URL": "http://o",
        "ORCHESTRATOR_API_KEY_FILE": str(key_file),
    }.items():
        monkeypatch.setenv(name, value)

    settings = WorkerSettings()

    assert settings.orchestrator_api_key is not None
    assert settings.orchestrator_api_key.get_secret_value() == "w1.MAC"
    assert "w1.MAC" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "also_key", "message"),
    [
        (None, False, "No such file or directory"),
        ("  \n", False, "is empty"),
        ("w1.MAC", True, "not both"),
    ],
)
def test_an_unusable_key_file_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: str | None,
    also_key: bool,
    message: str,
) -> None:
    key_file = tmp_path / "instance-key"
    if content is not None:
        key_file.write_text(content)
    monkeypatch.setenv("INSTANCE_ID", "w1")
    monkeypatch.setenv("ORCHESTRATOR_URL", "http://o")
    monkeypatch.setenv("ORCHESTRATOR_API_KEY_FILE", str(key_file))
    if also_key:
        monkeypatch.setenv("ORCHESTRATOR_API_KEY", "w1.OTHER")

    result = CliRunner().invoke(app, ["worker"])

    assert result.exit_code == 2
    assert "ORCHESTRATOR_API_KEY_FILE" in result.output and message in result.output
    assert "Traceback" not in result.output and "w1.MAC" not in result.output
