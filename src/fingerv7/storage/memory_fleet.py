"""A `FleetStorage` in memory: the API and its views tested in-process, without a database.

The model is procrastinate's `InMemoryConnector`: the same answers as `FleetStore` (a test runs
one scenario against both), kept in dictionaries. Request handlers write through the protocol;
what the leader's monitor tick and the heartbeat batches write in production (`tick_store`,
`report_store`) a test writes with the seeding methods below (`monitor`, `assign`, `audit`,
`report`, `fleet`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fingerv7.core.planning.model import ChangeReason, InstanceState
from fingerv7.storage.fleet_rows import (
    FleetRow,
    InstanceRow,
    Registered,
    Registration,
    StreamChange,
    StreamOwnership,
)
from fingerv7.storage.report_store import DesiredSet, DesiredStream, StoredReport


class InMemoryFleetStore:
    """The fleet's tables as dictionaries (a `FleetStorage`); one process, no locks needed."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._instances: dict[str, InstanceRow] = {}
        self._deregistered: set[str] = set()
        self._streams: dict[int, DesiredStream] = {}  # the monitored streams
        self._owners: dict[int, tuple[str | None, str | None]] = {}  # stream → (target, holder)
        self._changes: list[StreamChange] = []  # oldest first, as the audit's ids
        self.fleet = FleetRow(
            generation=0, rebalances_automatic=0, rebalances_manual=0, source_status="unknown"
        )
        self.rebalance_requested_at: datetime | None = None

    # --- what the API writes -----------------------------------------------------------------

    async def register(self, registration: Registration) -> Registered:
        """Insert or update the instance; a known one keeps its state, flags and streams."""
        now, known = self._clock(), self._instances.get(registration.instance_id)
        facts: dict[str, Any] = {
            "max_streams": registration.max_streams,
            "capabilities": tuple(registration.capabilities),
            "version": registration.version,
            "location": registration.location,
            "last_seen_at": now,
        }
        if known is None:
            row = InstanceRow(
                id=registration.instance_id,
                state=InstanceState.REGISTERED,
                draining=False,
                performance_score=1.0,
                registered_at=now,
                generation=self.fleet.generation,
                reported_stream_ids=(),
                stats={},
                **facts,
            )
        else:
            back = known.id in self._deregistered  # a new life: registered now
            row = dataclasses.replace(
                known, registered_at=now if back else known.registered_at, **facts
            )
        self._instances[row.id] = row
        self._deregistered.discard(row.id)
        return Registered(row, DesiredSet(row.generation, self._owned_by(row.id)))

    async def register_many(self, registrations: Sequence[Registration]) -> dict[str, Registered]:
        """Each in turn; of one id given twice, the later wins (as FleetStore's)."""
        return {r.instance_id: await self.register(r) for r in registrations}

    async def streams_held_by_others(
        self, instance_id: str, stream_ids: Iterable[int]
    ) -> list[int]:
        return [
            s
            for s in sorted(set(stream_ids))
            if self._owners.get(s, (None, None))[1] != instance_id
        ]

    async def set_draining(self, instance_id: str, draining: bool) -> bool:
        return self._update_registered(instance_id, draining=draining)

    async def deregister(self, instance_id: str) -> bool:
        if not self._update_registered(instance_id):
            return False
        self._deregistered.add(instance_id)
        return True

    def _update_registered(self, instance_id: str, **values: Any) -> bool:
        row = self._registered(instance_id)
        if row is not None:
            self._instances[instance_id] = dataclasses.replace(row, **values)
        return row is not None

    async def request_rebalance(self, now: datetime) -> None:
        self.rebalance_requested_at = now

    # --- what the API reads ------------------------------------------------------------------

    async def instances(self) -> list[InstanceRow]:
        return [
            row for _, row in sorted(self._instances.items()) if row.id not in self._deregistered
        ]

    async def instance(self, instance_id: str) -> InstanceRow | None:
        return self._registered(instance_id)

    async def assignment_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for target, holder in self._owners.values():
            if target is not None and target == holder:
                counts[target] = counts.get(target, 0) + 1
        return counts

    async def ownership(self, stream_id: int | None = None) -> list[StreamOwnership]:
        if stream_id is None:
            ids = sorted(self._streams)
        else:
            ids = [stream_id] if stream_id in self._streams else []
        return [StreamOwnership(s, *self._owners.get(s, (None, None))) for s in ids]

    async def stream_names(self, stream_ids: Sequence[int]) -> dict[int, str]:
        return {s: self._streams[s].name for s in stream_ids if s in self._streams}

    async def recent_changes(self, limit: int = 100) -> list[StreamChange]:
        return self._changes[::-1][:limit]

    async def quarantined_streams(self) -> dict[int, str]:
        latest = {change.stream_id: change for change in self._changes}
        return {
            stream_id: change.from_instance
            for stream_id, change in latest.items()
            if change.reason == ChangeReason.QUARANTINE.value and change.from_instance is not None
        }

    async def prune_changes(self, before: datetime, limit: int) -> int:
        latest = {change.stream_id: index for index, change in enumerate(self._changes)}
        doomed = [
            index
            for index, change in enumerate(self._changes)
            if change.changed_at < before and latest[change.stream_id] != index
        ][:limit]
        drop = set(doomed)
        self._changes = [c for index, c in enumerate(self._changes) if index not in drop]
        return len(doomed)

    async def fleet_row(self) -> FleetRow:
        return self.fleet

    # --- heartbeat batches and the answer cache's reads (a `ReportStorage`) -------------------

    async def write_reports(self, reports: Sequence[StoredReport], *, wake_leader: bool) -> None:
        """Each registered instance's newest report: when it was heard, what it runs, its
        stats; a `stopping` report deregisters it (one process: no reordering to undo)."""
        now = self._clock()
        for report in reports:
            row = self._registered(report.instance_id)
            if row is None:
                continue
            self._instances[row.id] = dataclasses.replace(
                row,
                last_seen_at=now - timedelta(seconds=report.age_s),
                reported_stream_ids=tuple(report.stream_ids),
                stats=report.stats,
            )
            if report.stopping:
                self._deregistered.add(row.id)

    async def instance_generations(self) -> dict[str, int]:
        return {row.id: row.generation for row in await self.instances()}

    async def desired_sets(self, instance_ids: Sequence[str]) -> dict[str, DesiredSet]:
        return {
            row.id: DesiredSet(row.generation, self._owned_by(row.id))
            for instance_id in instance_ids
            if (row := self._registered(instance_id)) is not None
        }

    # --- what the monitor and the heartbeats write in production: the tests' seeding ---------

    def monitor(self, streams: Iterable[DesiredStream]) -> None:
        """Streams the monitor took from the source (replacing those with the same ids)."""
        self._streams.update((stream.id, stream) for stream in streams)

    def assign(self, stream_id: int, target: str | None, holder: str | None) -> None:
        """The instance meant to run a monitored stream, and the one that does."""
        self._owners[stream_id] = (target, holder)

    def audit(self, change: StreamChange) -> None:
        """One line of the assignment audit, newer than every line before it."""
        self._changes.append(change)

    def report(self, instance_id: str, **values: Any) -> None:
        """What a heartbeat or the monitor stored on a registered instance (state, stats, ...)."""
        if not self._update_registered(instance_id, **values):
            raise KeyError(f"{instance_id} is not registered")

    def _registered(self, instance_id: str) -> InstanceRow | None:
        return None if instance_id in self._deregistered else self._instances.get(instance_id)

    def _owned_by(self, instance_id: str) -> list[DesiredStream]:
        return [
            self._streams[s]
            for s in sorted(self._streams)
            if self._owners.get(s) == (instance_id, instance_id)
        ]
