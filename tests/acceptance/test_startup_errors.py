"""Configuration errors at start: one line, exit code 2, no traceback and no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fingerv7", *args],
        env=os.environ | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unsupported_database_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _run(["orchestrator"], {"DATABASE_URL": "mysql://user:pa55w0rd@db/x"}, tmp_path)

    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "pa55w0rd" not in output
    assert output.strip().count("\n") == 0
    assert "DATABASE_URL" in output and "unsupported database 'mysql'" in output


def test_a_worker_will_not_publish_metrics_without_a_key(tmp_path: Path) -> None:
    env = {
        "INSTANCE_ID": "w1",
        "ORCHESTRATOR_URL": "http://127.0.0.1:9",
        "WORKER_HTTP_HOST": "0.0.0.0",
        "WORKER_HTTP_KEY": "",
    }
    result = _run(["worker"], env, tmp_path)

    assert result.returncode == 2
    assert "WORKER_HTTP_KEY" in result.stderr and "Traceback" not in result.stderr
