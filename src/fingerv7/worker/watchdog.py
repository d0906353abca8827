"""Freeze detection: the worker notices when its own process stopped running for too long.

A worker frozen (SIGSTOP, a paused VM, a stalled host) longer than the heartbeat timeout has been
declared dead by the orchestrator, and its streams run elsewhere. On resume it must drop them
*before* processing anything more. The watchdog ticks on the monotonic clock; the lease it gives
(:meth:`FreezeWatchdog.lease_valid`) compares the clock with the last tick directly, so it turns
False the instant the process resumes, whichever task the event loop happens to run first.

An unreachable orchestrator is not a freeze: the loop keeps ticking and streams keep running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger("fingerv7.worker.watchdog")

FreezeHandler = Callable[[float, float], Awaitable[None]]


def freeze_limit_s(heartbeat_interval_s: float, heartbeat_timeout_s: float) -> float:
    """Longest gap the worker tolerates: the orchestrator may give up on it after this.

    The orchestrator counts from the last heartbeat it received, which can be up to one interval
    before a freeze starts; so a gap longer than `timeout - interval` may already have cost the
    worker its streams. Never below 1 s, so ordinary scheduling jitter is not a freeze.
    """
    return max(1.0, heartbeat_timeout_s - heartbeat_interval_s)


class FreezeWatchdog:
    """Ticks every `tick_s`; on a gap longer than `limit_s` fences the worker and calls back."""

    def __init__(
        self,
        limit_s: float,
        on_freeze: FreezeHandler,
        *,
        tick_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit_s = limit_s
        self.tick_s = tick_s if tick_s is not None else min(0.25, limit_s / 4)
        self._on_freeze = on_freeze
        self._clock = clock
        self._last_tick = clock()
        self._fenced = False
        self.freezes_detected = 0

    def lease_valid(self) -> bool:
        """May the worker act for its streams right now? False while frozen or being fenced."""
        return not self._fenced and self._clock() - self._last_tick <= self.limit_s

    @property
    def fenced(self) -> bool:
        return self._fenced

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            await asyncio.sleep(self.tick_s)
            await self.check()

    async def check(self) -> None:
        """One tick: notice a gap since the previous tick and handle it before anything else."""
        now = self._clock()
        gap_from = self._last_tick
        if now - gap_from <= self.limit_s:
            self._last_tick = now
            return
        # Fence first (the lease must stay invalid while we stop streams), then move the tick.
        self._fenced = True
        self._last_tick = now
        self.freezes_detected += 1
        logger.warning(
            "[WORKER] process did not run for %.1f s (limit %.1f s): dropping every stream "
            "and re-syncing with the orchestrator",
            now - gap_from,
            self.limit_s,
        )
        try:
            await self._on_freeze(gap_from, now)
        finally:
            self._fenced = False
            self._last_tick = self._clock()
