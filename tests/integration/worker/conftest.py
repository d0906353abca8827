"""Fixtures for worker tests: local test streams served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fingerv7.worker.sample_streams import LocalStreamServer
from tests.integration.worker.support import Cluster


@pytest.fixture
def stream_server() -> Iterator[LocalStreamServer]:
    with LocalStreamServer() as server:
        yield server


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Orchestrators and workers in this test's loop; all stopped after the test, pass or fail."""
    started = Cluster(tmp_path)
    yield started
    await started.stop()
