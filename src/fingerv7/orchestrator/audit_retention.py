"""Keep the change audit bounded: history older than STREAM_CHANGES_RETENTION_DAYS goes.

`stream_changes` gains a row for every move, and a cold start at 100,000 streams writes 100,000
of them. Its readers want little of it (the dashboard's latest hundred, and a new leader's
quarantine memory, which reads each stream's latest change: pruning always keeps that one), so
left alone the table only grows. The leader prunes after a tick, at most once per `every_s`,
in batches so that no transaction is long; a backlog larger than one round (a first run on an
old database) is worked off a round per tick instead of waiting for the next period.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fingerv7.orchestrator.tick_observers import TickFacts

log = logging.getLogger("fingerv7.orchestrator")

PRUNE_EVERY_S = 3600.0
BATCH = 5_000
BATCHES_PER_ROUND = 4


class ChangeAuditRetention:
    """A tick observer that deletes audit rows older than `retention_days` (0: keep all)."""

    def __init__(
        self,
        prune: Callable[..., Awaitable[int]],  # FleetStore.prune_changes(before, limit)
        retention_days: float,
        *,
        every_s: float = PRUNE_EVERY_S,
        batch: int = BATCH,
    ) -> None:
        self.prune = prune
        self.retention_days = retention_days
        self.every_s = every_s
        self.batch = batch
        self._last_round_s: float | None = None

    async def __call__(self, facts: TickFacts) -> None:
        now_s = facts.now.timestamp()
        if self.retention_days <= 0:
            return
        if self._last_round_s is not None and now_s - self._last_round_s < self.every_s:
            return
        before = facts.now - timedelta(days=self.retention_days)
        deleted, backlog = 0, False
        for _ in range(BATCHES_PER_ROUND):
            count = await self.prune(before, self.batch)
            deleted += count
            backlog = count == self.batch
            if not backlog:
                break
        self._last_round_s = None if backlog else now_s
        if deleted:
            log.info(
                "[DATABASE] change audit: deleted %d changes older than %g days%s",
                deleted,
                self.retention_days,
                " (more to do)" if backlog else "",
            )
