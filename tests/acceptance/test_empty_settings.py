"""`KEY=` means "not set" for real processes on both sides (Compose passes `${REDIS_URL:-}`)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from fingerv7.worker.sample_streams import LocalStreamServer
from tests.acceptance.fleet_processes import Fleet, wait_until

pytestmark = pytest.mark.acceptance

# What an env file with its placeholders left blank looks like.
BLANK = {"REDIS_URL": "", "POSTGRES_HOST": "", "LOG_FILE": "", "MUSIC_LOG_TABLE": ""}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with LocalStreamServer() as streams:
        running = Fleet(tmp_path, streams)
        try:
            yield running
        finally:
            running.stop_everything()


def test_blank_variables_run_a_worker_and_an_orchestrator(fleet: Fleet) -> None:
    fleet.import_streams(2)
    fleet.start_orchestrator(extra_env=BLANK)
    worker = fleet.start_worker("w1", extra_env=BLANK | {"LOG_FORMAT": "json"})

    wait_until(lambda: worker.poll() is not None or fleet.settled([2], [1, 2]), 30, "w1 runs 2")
    assert worker.poll() is None, (fleet.workdir / "w1.log").read_text()[-2000:]
    worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=20) == 0
    log = (fleet.workdir / "w1.log").read_text()
    assert "Traceback" not in log
    assert '"instance_id": "w1"' in log  # LOG_FORMAT=json reaches the worker's lines too
