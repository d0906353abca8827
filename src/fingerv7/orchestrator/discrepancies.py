"""Streams an instance runs without holding them: checked, counted once per episode, logged.

The rule of what counts is core/discrepancies.py; this is its I/O: the store says which reported
streams the instance does not hold, the metrics count the new ones. The heartbeat handler calls
`note` on every beat; a beat with nothing extra and no open episode returns at once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from fingerv7.core.discrepancies import DiscrepancyEpisodes
from fingerv7.core.planning.model import InstanceState
from fingerv7.orchestrator.metrics import OrchestratorMetrics
from fingerv7.orchestrator.tick_observers import TickFacts
from fingerv7.storage.fleet_rows import FleetStorage

log = logging.getLogger("fingerv7.orchestrator")


class DiscrepancyRecorder:
    """Counts each (instance, foreign stream) once per episode; a tick observer forgets the gone."""

    def __init__(
        self,
        store: FleetStorage,
        metrics: OrchestratorMetrics,
        episodes: DiscrepancyEpisodes | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.episodes = episodes or DiscrepancyEpisodes()

    async def note(self, instance_id: str, unwanted: Collection[int]) -> None:
        """The instance runs `unwanted` (streams outside its desired set) as of this heartbeat."""
        if not unwanted:
            if self.episodes.has_open(instance_id):
                self.episodes.forget(instance_id)
            return
        strays = await self.store.streams_held_by_others(instance_id, unwanted)
        new = self.episodes.observe(instance_id, strays)
        if new:
            self.metrics.totals.discrepancies += len(new)
            self.metrics.discrepancies.inc(len(new))
            log.warning(
                "[STREAM] %s started running %d streams it does not own (%s); told to stop them",
                instance_id,
                len(new),
                ", ".join(map(str, new[:10])),
            )

    async def __call__(self, facts: TickFacts) -> None:
        """After a tick (leader only): forget instances that no longer exist."""
        if len(self.episodes):
            self.episodes.retain(
                {i for i, s in facts.decision.states.items() if s is not InstanceState.REMOVED}
            )
