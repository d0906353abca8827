"""What the fleet store answers, as typed rows, and the interface the API holds it by.

Rows are frozen: a view computed from one cannot change what another view of the same request
reads. `fleet_store` builds them from its driver's rows; nothing above `storage/` sees a dict
keyed by column name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from fingerv7.core.planning.model import InstanceState

if TYPE_CHECKING:  # report_store imports tick_store, which imports this module
    from fingerv7.storage.report_store import DesiredSet


@dataclass(frozen=True, slots=True)
class Registration:
    instance_id: str
    max_streams: int
    capabilities: list[str]
    version: str | None
    location: str | None


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """A registered instance as last stored (registration, operator flags, latest report)."""

    id: str
    state: InstanceState
    draining: bool
    max_streams: int
    capabilities: tuple[str, ...]
    version: str | None
    location: str | None
    performance_score: float
    registered_at: datetime
    last_seen_at: datetime
    generation: int
    reported_stream_ids: tuple[int, ...]
    # The worker's own counters (processed_count, cpu_usage, ...): free-form JSON it reports.
    stats: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Registered:
    """A registration as stored, with the instance's desired set read in the same transaction
    (empty for a new instance; a re-registered one keeps its streams)."""

    row: InstanceRow
    desired: DesiredSet


class StreamOwnership(NamedTuple):
    """A monitored stream, the instance meant to run it and the one that does (None: nobody)."""

    stream_id: int
    target: str | None
    holder: str | None


@dataclass(frozen=True, slots=True)
class StreamChange:
    """One line of the assignment audit."""

    changed_at: datetime
    generation: int
    stream_id: int
    from_instance: str | None
    to_instance: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FleetRow:
    """The fleet-wide facts: generation, rebalances (counts, the last, a pending request), the
    source's health. The views show them; the monitor decides from them (not the lease's)."""

    generation: int
    rebalances_automatic: int
    rebalances_manual: int
    source_status: str
    last_rebalance_at: datetime | None = None
    rebalance_requested_at: datetime | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> FleetRow:
        """From the `fleet_state` row."""
        return cls(
            generation=int(row["generation"]),
            rebalances_automatic=int(row["rebalances_automatic"]),
            rebalances_manual=int(row["rebalances_manual"]),
            source_status=str(row["source_status"]),
            last_rebalance_at=row["last_rebalance_at"],
            rebalance_requested_at=row["rebalance_requested_at"],
        )


class FleetStorage(Protocol):
    """The request side of the fleet: what the API and the stream-health views read and write.

    A database behind it fails with the storage errors of `fingerv7.storage.errors` (never its
    driver's); the in-memory fleet does not fail.
    """

    async def register(self, registration: Registration) -> Registered: ...

    async def register_many(
        self, registrations: Sequence[Registration]
    ) -> dict[str, Registered]: ...

    async def streams_held_by_others(
        self, instance_id: str, stream_ids: Iterable[int]
    ) -> list[int]: ...

    async def set_draining(self, instance_id: str, draining: bool) -> bool: ...

    async def deregister(self, instance_id: str) -> bool: ...

    async def request_rebalance(self, now: datetime) -> None: ...

    async def instances(self) -> list[InstanceRow]: ...

    async def instance(self, instance_id: str) -> InstanceRow | None: ...

    async def assignment_counts(self) -> dict[str, int]: ...

    async def ownership(self, stream_id: int | None = None) -> list[StreamOwnership]: ...

    async def stream_names(self, stream_ids: Sequence[int]) -> dict[int, str]: ...

    async def recent_changes(self, limit: int = 100) -> list[StreamChange]: ...

    async def quarantined_streams(self) -> dict[int, str]: ...

    async def prune_changes(self, before: datetime, limit: int) -> int: ...

    async def fleet_row(self) -> FleetRow: ...
