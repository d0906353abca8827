"""Quiet ticks: when a monitor tick may repeat the last decision without reading the fleet.

At 2,000 instances a full tick reads and converts 2,000 rows and decides over them (60-150 ms).
On PostgreSQL the gate first reads a digest of the instances table that covers every column a
decision depends on, the last beat only as which lifecycle thresholds each instance's silence
has passed (`TickStore.instances_digest`). When the last full tick changed nothing and the
digest, the fleet row, the streams and the operators' requests are what they were then, the
decision cannot differ: the tick is quiet (9-17 ms). SQLite has no digest: every tick is full.
"""

from __future__ import annotations

from collections.abc import Mapping

from fingerv7.core.lifecycle import LifecycleTimeouts
from fingerv7.storage.fleet_rows import FleetRow
from fingerv7.storage.tick_store import TickStorage

Inputs = tuple[object, ...]


class QuietTickGate:
    """Remembers what the last full tick that changed nothing decided from."""

    def __init__(self, store: TickStorage, timeouts: LifecycleTimeouts) -> None:
        self.store = store
        self.timeouts = timeouts
        self._quiet_inputs: Inputs | None = None

    async def inputs(
        self,
        fleet: FleetRow,
        silence_cap_s: float | None,
        *,
        streams_version: int,
        move_away: Mapping[int, str],
        generation: int,
    ) -> tuple[Inputs | None, float | None]:
        """What a tick decides from, but the source; and the seconds until some silence crosses
        a threshold. (None, None) when the store cannot digest (SQLite). `silence_cap_s`:
        right after a takeover silence counts from the takeover (the lifecycle's grace)."""
        limits = (self.timeouts.warning_s, self.timeouts.inactive_s, self.timeouts.removal_s)
        digest = await self.store.instances_digest(limits, silence_cap_s=silence_cap_s)
        if digest is None:
            return None, None
        fleet_facts = (fleet.generation, fleet.last_rebalance_at, fleet.rebalance_requested_at)
        counted = (digest.rows, digest.hash_sum)
        inputs = (counted, fleet_facts, streams_version, tuple(move_away.items()), generation)
        return inputs, digest.next_crossing_s

    def remember(self, inputs: Inputs | None) -> None:
        """After a full tick: its inputs if it changed nothing (else None: the next is full)."""
        self._quiet_inputs = inputs

    def allows(self, inputs: Inputs | None, *, settled: bool, cooldown_running: bool) -> bool:
        """True when this tick would decide exactly what the last one did, nothing.

        No instance row changed since, no silence crossed a lifecycle threshold either way (a
        silent instance going past `HEARTBEAT_WARNING_THRESHOLD`, or a WARNING or INACTIVE one
        beating again), the fleet row, the streams and the requests are the same; and the
        caller says no handoff or refreshed stream is pending (`settled`) and the rebalance
        cooldown has not ended (`cooldown_running`).
        """
        return inputs is not None and inputs == self._quiet_inputs and settled and cooldown_running
