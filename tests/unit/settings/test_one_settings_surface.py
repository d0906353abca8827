"""The orchestrator and the worker read their shared variable names by the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fingerv7.cli.settings_errors import describe_settings_errors
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.worker.settings import WorkerSettings

SHARED = ("REDIS_URL", "POSTGRES_HOST", "HEARTBEAT_INTERVAL", "LOG_FILE", "LOG_ROTATION")
TABLES = ("DB_TABLE_NAME", "STREAMS_TABLE", "STREAMS_TABLE_NAME", "MUSIC_LOG_TABLE")


@pytest.fixture(autouse=True)
def worker_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*SHARED, *TABLES, "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("INSTANCE_ID", "w1")
    monkeypatch.setenv("ORCHESTRATOR_URL", "http://127.0.0.1:1")


def both() -> tuple[OrchestratorSettings, WorkerSettings]:
    return OrchestratorSettings(), WorkerSettings()


def test_an_empty_value_is_unset_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "POSTGRES_HOST", "LOG_FILE", "HEARTBEAT_INTERVAL", "LOG_ROTATION"):
        monkeypatch.setenv(name, "")
    for settings in both():
        assert settings.redis_url is None
        assert settings.postgres_host is None
        assert settings.log_file is None
        assert settings.heartbeat_interval == 30
        assert settings.log_rotation == "100MB,7"


def test_an_empty_value_in_an_env_file_is_unset_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REDIS_URL=\nPOSTGRES_HOST=\nINSTANCE_ID=w1\n")
    assert OrchestratorSettings().redis_url is None
    worker = WorkerSettings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert (worker.redis_url, worker.postgres_host) == (None, None)


def test_shared_names_have_the_same_defaults() -> None:
    orchestrator, worker = both()
    assert orchestrator.heartbeat_interval == worker.heartbeat_interval == 30
    assert orchestrator.postgres_host is None
    assert worker.postgres_host is None
    assert "host=" not in worker.postgres_conninfo()  # libpq's own default (PGHOST, socket)


def test_documented_table_names_mean_the_same_on_both_sides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMS_TABLE", "feeds")
    monkeypatch.setenv("MUSIC_LOG_TABLE", "plays")
    monkeypatch.setenv("DB_TABLE_NAME", "ignored-when-the-new-names-are-set")
    orchestrator, worker = both()
    assert orchestrator.db_table_name == worker.streams_table_name == "feeds"
    assert orchestrator.music_log_table == worker.db_table_name == "plays"


def test_the_manuals_db_table_name_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_TABLE_NAME", "feeds")
    assert OrchestratorSettings().db_table_name == "feeds"  # the manual's orchestrator section
    monkeypatch.setenv("DB_TABLE_NAME", "plays")
    monkeypatch.setenv("STREAMS_TABLE_NAME", "feeds")
    worker = WorkerSettings()  # the manual's worker section
    assert (worker.db_table_name, worker.streams_table_name) == ("plays", "feeds")


@pytest.mark.parametrize("settings_class", [OrchestratorSettings, WorkerSettings])
def test_one_error_message_names_the_variables(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[OrchestratorSettings | WorkerSettings]
) -> None:
    monkeypatch.setenv("HEARTBEAT_INTERVAL", "-1")
    monkeypatch.setenv("LOG_ROTATION", "huge")
    with pytest.raises(ValidationError) as caught:
        settings_class()
    text = describe_settings_errors(caught.value, settings_class)
    assert text.splitlines()[0] == "invalid configuration:"
    assert "  HEARTBEAT_INTERVAL: Input should be greater than 0" in text
    assert "  LOG_ROTATION: LOG_ROTATION must look like '100MB,7'" in text
