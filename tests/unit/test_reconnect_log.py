"""A stream that cannot connect for an hour: one WARNING, then a reminder every 5 minutes."""

from __future__ import annotations

import logging

import pytest

from fingerv7.reconnect_log import ReconnectLog


def test_one_warning_per_episode_then_periodic_reminders(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = ReconnectLog(logging.getLogger("test.reconnect"), "7 (Radio)", clock=lambda: now[0])
    problem = "HTTPStatusError: Server error '503 Service Unavailable'\nFor more information..."
    with caplog.at_level(logging.DEBUG, logger="test.reconnect"):
        for _ in range(120):  # an hour of retries every 30 s
            log.failed(problem, 30.0, delivered_audio=False)
            now[0] += 30.0
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 + 3600 // 300 - 1  # the first, then one per 5 minutes
        assert all("\n" not in w for w in warnings)
        assert warnings[0] == (
            "[STREAM] 7 (Radio): HTTPStatusError: Server error '503 Service Unavailable'; "
            "reconnecting in 30.0 s"
        )
        assert "still not connected after 11 attempts over 300 s" in warnings[1]
        assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 120 - len(warnings)

        caplog.clear()
        log.failed("stream ended", 0.5, delivered_audio=True)  # it worked, then dropped: new
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
