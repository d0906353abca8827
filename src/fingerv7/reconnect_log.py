"""How a stream that keeps failing to connect is logged: once loudly, then a reminder.

A radio that is down for an hour would otherwise write a line per retry. Here the first failure
of an episode is a WARNING on one line (an exception's message may span several: only its first
line is kept), retries are DEBUG, and every `every_s` a WARNING says the stream is still down,
for how long and after how many attempts. An episode ends when a connection delivered audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REMIND_EVERY_S = 300.0


def one_line(problem: str) -> str:
    lines = problem.strip().splitlines()
    return lines[0] if lines else problem


class ReconnectLog:
    def __init__(
        self,
        logger: logging.Logger,
        label: str,
        *,
        every_s: float = REMIND_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._label = label
        self._every_s = every_s
        self._clock = clock
        self._episode_started: float | None = None
        self._last_warning = 0.0
        self.attempts = 0

    def failed(self, problem: str, delay_s: float, *, delivered_audio: bool) -> None:
        """One failed (or ended) connection; `delivered_audio`: it worked for a while first."""
        now = self._clock()
        problem = one_line(problem)
        if delivered_audio or self._episode_started is None:
            self._episode_started, self._last_warning, self.attempts = now, now, 1
            self._logger.warning(
                "[STREAM] %s: %s; reconnecting in %.1f s", self._label, problem, delay_s
            )
            return
        self.attempts += 1
        if now - self._last_warning >= self._every_s:
            self._last_warning = now
            self._logger.warning(
                "[STREAM] %s: still not connected after %d attempts over %.0f s (%s)",
                self._label,
                self.attempts,
                now - self._episode_started,
                problem,
            )
        else:
            self._logger.debug(
                "[STREAM] %s: %s; reconnecting in %.1f s", self._label, problem, delay_s
            )
