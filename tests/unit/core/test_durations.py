"""Uptime as the manual prints it, for the orchestrator's `/health` and a worker's `/metrics`."""

from __future__ import annotations

import pytest

from fingerv7.core.durations import format_uptime


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0h 0m 0s"), (59.9, "0h 0m 59s"), (8130, "2h 15m 30s"), (90_061, "25h 1m 1s")],
)
def test_uptime_in_hours_minutes_and_seconds(seconds: float, shown: str) -> None:
    assert format_uptime(seconds) == shown
