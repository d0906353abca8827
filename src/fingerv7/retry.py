"""Waiting between attempts: exponential backoff with jitter, a circuit breaker, Retry-After.

Used by the worker (registration, heartbeats), audio capture and the play log's flusher, so it
sits below all of them. Backoff spreads a fleet's retries out (equal jitter: a random delay
between half the ceiling and the ceiling) so a restarted orchestrator is not hit by every worker
in the same millisecond. The breaker stops a worker from hammering an orchestrator that keeps
failing: after `failure_threshold` failures in a row it fails calls at once for `open_s`
seconds, then lets one trial call through. `retry_after_s` reads the wait a server asks for.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from enum import StrEnum


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds from a numeric `Retry-After` header; None when absent or not a number (an
    HTTP date is rare from the services we call: our own backoff applies then)."""
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


class ExponentialBackoff:
    """Ceilings `base_s`, `2·base_s`, `4·base_s`… capped at `max_s`; with jitter each delay is
    drawn uniformly between half its ceiling and the ceiling, so delays still grow."""

    def __init__(
        self,
        base_s: float,
        max_s: float,
        *,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        if base_s <= 0 or max_s < base_s:
            raise ValueError("need 0 < base_s <= max_s")
        self.base_s = base_s
        self.max_s = max_s
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        """The delay before the next attempt; each call doubles the ceiling."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(self.attempts, 32))
        self.attempts += 1
        if not self.jitter:
            return ceiling
        # "Equal jitter": at least half the ceiling, so delays still grow.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """Start again from `base_s` (after a success)."""
        self.attempts = 0


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failures; while open, :meth:`allow` says no until `open_s` has passed."""

    def __init__(
        self,
        failure_threshold: int,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or open_s <= 0:
            raise ValueError("need failure_threshold >= 1 and open_s > 0")
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self._clock = clock
        self._consecutive_failures = 0
        self._opened_at: float | None = None
        self.times_opened = 0

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self.open_s:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def allow(self) -> bool:
        """May a call go out now? (Closed: yes. Open: no. Half-open: yes, as a trial.)"""
        return self.state is not CircuitState.OPEN

    def record_success(self) -> None:
        self._consecutive_failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self._consecutive_failures += 1
        half_open = self.state is CircuitState.HALF_OPEN
        if half_open or self._consecutive_failures >= self.failure_threshold:
            if self._opened_at is None or half_open:
                self.times_opened += 1
            self._opened_at = self._clock()
