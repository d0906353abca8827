"""A `TickStorage` and its leader lease in memory: the monitor tested without a database.

Like `memory_fleet`, the model is procrastinate's `InMemoryConnector`. The store keeps what the
monitor reads (instance rows, holdings, monitored streams, the fleet row) in dictionaries and
applies a `TickWrite` the way `TickStore.write_tick` does, all or nothing behind the same fence:
the writer's epoch must be the lease's current one and the generation the one it read. What
heartbeats and registrations write in production a test writes with `put_instance` and
`update_instance`; `silent_s` stands for the database clock's measure of silence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fingerv7.core.handoff import Holding
from fingerv7.core.planning.model import Change, InstanceState
from fingerv7.storage.fleet_rows import FleetRow
from fingerv7.storage.tick_store import (
    InstanceRow,
    InstancesDigest,
    StaleLeadershipError,
    SyncedStream,
    TickWrite,
)


class InMemoryTickStore:
    """The monitor's tables as dictionaries (a `TickStorage`); one process, no locks needed."""

    def __init__(self) -> None:
        self.instances: dict[str, InstanceRow] = {}
        self.holdings: dict[int, Holding] = {}
        self.streams: dict[int, SyncedStream] = {}
        self.audit: list[tuple[int, Change]] = []  # (generation, change), oldest first
        self.fleet: dict[str, Any] = {
            "generation": 0,
            "last_rebalance_at": None,
            "rebalance_requested_at": None,
            "rebalances_automatic": 0,
            "rebalances_manual": 0,
            "source_status": "unknown",
            "source_error": None,
            "source_checked_at": None,
        }
        self.leader_epoch = 0
        self.lease_holder: InMemoryLease | None = None
        self.ticks_written = 0

    # --- what the monitor reads ---------------------------------------------------------------

    async def instance_rows(self, known: Mapping[str, InstanceRow]) -> list[InstanceRow]:
        """Every instance, deregistered included, by id (all reports fresh: nothing to save)."""
        return [row for _, row in sorted(self.instances.items())]

    async def instances_digest(
        self, silence_limits: Sequence[float], *, silence_cap_s: float | None = None
    ) -> InstancesDigest | None:
        """No digest, as on SQLite: every tick reads the rows (they are in memory anyway)."""
        return None

    async def load_holdings(self) -> dict[int, Holding]:
        return dict(self.holdings)

    async def load_monitored_streams(self) -> dict[int, SyncedStream]:
        return dict(self.streams)

    async def fleet_row(self) -> FleetRow:
        return FleetRow.of(self.fleet)

    async def fleet_generation(self) -> int:
        return int(self.fleet["generation"])

    # --- the monitor's one write --------------------------------------------------------------

    async def write_tick(self, tick: TickWrite, *, epoch: int, expected_generation: int) -> None:
        """Apply one tick's decisions, only while `epoch` still leads (else nothing changes)."""
        if (
            self.lease_holder is None
            or epoch != self.leader_epoch
            or self.fleet["generation"] != expected_generation
        ):
            raise StaleLeadershipError(
                f"leader epoch {epoch} no longer holds the lease (or the generation moved past "
                f"{expected_generation}): this tick is rolled back"
            )
        for stream_id in tick.streams_delete:
            self.streams.pop(stream_id, None)
        self.streams.update((s.id, s) for s in tick.streams_upsert)
        self._write_instances(tick)
        for stream_id, holding in tick.holdings.items():
            if holding is None:
                self.holdings.pop(stream_id, None)
            else:
                self.holdings[stream_id] = holding
        self.audit += [(tick.generation, change) for change in tick.changes]
        self._write_fleet(tick)
        self.ticks_written += 1

    def _write_instances(self, tick: TickWrite) -> None:
        for instance_id in tick.state_changed:
            self.update_instance(instance_id, state=tick.states[instance_id])
        for instance_id in tick.changed_instances:
            if instance_id in self.instances:
                self.update_instance(instance_id, generation=tick.generation)
        for instance_id, seen_last_seen_at in tick.removed_instances:
            row = self.instances.get(instance_id)
            # Only if nothing was heard from it since the tick read it.
            if row is not None and row.last_seen_at <= seen_last_seen_at:
                del self.instances[instance_id]

    def _write_fleet(self, tick: TickWrite) -> None:
        fleet = self.fleet
        fleet["generation"] = tick.generation
        if tick.rebalanced:
            fleet["last_rebalance_at"] = tick.now
            counter = "rebalances_manual" if tick.rebalance_manual else "rebalances_automatic"
            fleet[counter] += 1
        if tick.source_status is not None:
            fleet["source_status"] = tick.source_status
            fleet["source_error"] = tick.source_error
            fleet["source_checked_at"] = tick.now
        requested = fleet["rebalance_requested_at"]
        consumed = tick.consumed_rebalance_request
        if consumed is not None and requested is not None and requested <= consumed:
            fleet["rebalance_requested_at"] = None

    # --- what registrations and heartbeats write in production: the tests' seeding ------------

    def put_instance(
        self,
        instance_id: str,
        max_streams: int,
        *,
        last_seen_at: datetime,
        state: InstanceState = InstanceState.ACTIVE,
        location: str | None = None,
    ) -> InstanceRow:
        """A registered instance that has been heard from (one heartbeat, silent for 0 s)."""
        row = InstanceRow(
            id=instance_id,
            max_streams=max_streams,
            state=state,
            draining=False,
            deregistered=False,
            location=location,
            performance_score=1.0,
            last_seen_at=last_seen_at,
            silent_s=0.0,
            heartbeat_count=1,
            generation=int(self.fleet["generation"]),
            applied_generation=0,
            report_version=0,
            reported_stream_ids=frozenset(),
        )
        self.instances[instance_id] = row
        return row

    def update_instance(self, instance_id: str, **values: Any) -> InstanceRow:
        """Change fields of an instance's row (a heartbeat's report, its silence, a flag)."""
        row = dataclasses.replace(self.instances[instance_id], **values)
        self.instances[instance_id] = row
        return row


class InMemoryLease:
    """The leader lease of an `InMemoryTickStore` (a `Lease`): one holder at a time; each new
    holder gets the next epoch, which fences off every write of the holders before it."""

    def __init__(self, store: InMemoryTickStore, ttl_s: float = 15.0) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self.epoch: int | None = None

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    async def try_acquire(self) -> int | None:
        """Take the lease if nobody holds it; the new epoch, or None."""
        store = self._store
        if store.lease_holder is not None and store.lease_holder is not self:
            return None
        store.leader_epoch += 1
        store.lease_holder = self
        self.epoch = store.leader_epoch
        return self.epoch

    async def renew(self) -> bool:
        """False once another holder took the lease (our epoch is gone)."""
        held = self._store.lease_holder is self and self.epoch == self._store.leader_epoch
        if not held:
            self.epoch = None
        return held

    async def release(self) -> None:
        if self._store.lease_holder is self:
            self._store.lease_holder = None
        self.epoch = None

    def expire(self) -> None:
        """The lease ran out (a paused process): anyone may take it; this holder still thinks
        it leads until it renews or its next write is fenced off."""
        if self._store.lease_holder is self:
            self._store.lease_holder = None
