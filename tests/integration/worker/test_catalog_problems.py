"""A fingerprint worker whose catalog is empty or unreachable says so at start, not silently."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from fingerv7.worker.processors import build_processor
from fingerv7.worker.processors.fingerprint import FingerprintProcessor
from fingerv7.worker.settings import WorkerSettings
from fingerv7.worker.stream_health import ProblemTracker
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


def settings(tmp_path: Path, catalog_url: str) -> WorkerSettings:
    values: dict[str, Any] = dict(
        INSTANCE_ID="w1",
        USE_ORCHESTRATOR=False,
        PROCESSOR="fingerprint",
        CATALOG_DATABASE_URL=catalog_url,
        MUSIC_LOG_PATH=tmp_path / "music.db",
        PLAYLOG_BUFFER_PATH=tmp_path / "playlog.sqlite3",
    )
    return WorkerSettings(**values)


@pytest.mark.parametrize(
    ("catalog", "words"),
    [
        ("sqlite:///{tmp}/empty-catalog.db", "is empty"),
        ("postgresql://nobody:secret-pw@127.0.0.1:1/catalog", "is unreachable"),
    ],
)
async def test_the_problem_is_logged_and_reported_before_any_stream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, catalog: str, words: str
) -> None:
    processor = build_processor(settings(tmp_path, catalog.format(tmp=tmp_path)))
    assert isinstance(processor, FingerprintProcessor)
    try:
        with caplog.at_level(logging.ERROR):
            problems = await eventually(processor.problems, 20, "the catalog problem")
        (problem,) = problems
        assert words in problem
        assert "secret-pw" not in problem  # the URL is described without its password
        assert any(words in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
        tracker = ProblemTracker()
        report = tracker.report(processor)
        assert report.processor == "fingerprint" and report.problems == [problem]
        assert tracker.report(processor).since == report.since  # the same episode
    finally:
        await processor.aclose()
