"""The monitor's translations between storage rows and the pure core.

Instance rows into the core's records, a decision into the write of one tick (and whether that
write would change nothing), holdings into the ownership rows the views read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from fingerv7.core.handoff import Holding
from fingerv7.core.lifecycle import InstanceFacts
from fingerv7.core.planning.model import InstanceSpec, InstanceState
from fingerv7.core.reconcile import InstanceRecord, TickDecision
from fingerv7.orchestrator.source_sync import SourceSync
from fingerv7.storage.fleet_rows import FleetRow, StreamOwnership
from fingerv7.storage.tick_store import InstanceRow, TickWrite


def instance_record(row: InstanceRow, now_s: float) -> InstanceRecord:
    """The core's view of a row; silence is the database's measure, not this host's clock."""
    return InstanceRecord(
        spec=InstanceSpec(
            id=row.id,
            max_streams=row.max_streams,
            state=row.state,
            draining=row.draining,
            location=row.location,
            performance_score=row.performance_score,
        ),
        facts=InstanceFacts(
            state=row.state,
            last_seen_s=now_s - row.silent_s,
            has_heartbeat=row.heartbeat_count > 0,
            applied_generation=row.applied_generation,
            assigned_generation=row.generation,
            deregistered=row.deregistered,
        ),
        running=row.reported_stream_ids,
    )


def tick_write(
    now: datetime,
    decision: TickDecision,
    rows: list[InstanceRow],
    fleet: FleetRow,
    sync: SourceSync | None,
) -> TickWrite:
    """Everything one tick writes, in one transaction (see `TickStore.write_tick`)."""
    plan = decision.plan
    requested_at = fleet.rebalance_requested_at
    return TickWrite(
        now=now,
        generation=decision.generation,
        states=decision.states,
        state_changed=[row.id for row in rows if row.state is not decision.states[row.id]],
        changed_instances=sorted(decision.changed_instances),
        removed_instances=[
            (row.id, row.last_seen_at)
            for row in rows
            if decision.states[row.id] is InstanceState.REMOVED
        ],
        holdings=decision.holdings,
        changes=decision.changes,
        streams_upsert=sync.upsert if sync else (),
        streams_delete=sync.delete if sync else (),
        rebalanced=bool(plan and plan.rebalanced),
        rebalance_manual=requested_at is not None,
        consumed_rebalance_request=requested_at if plan is not None else None,
        source_status=sync.status if sync else None,
        source_error=sync.error if sync else None,
    )


def is_noop(write: TickWrite, generation: int) -> bool:
    """True when `write` would leave the database as it is (the tick writes nothing)."""
    return (
        write.generation == generation
        and not write.state_changed
        and not write.removed_instances
        and not write.holdings
        and not write.changes
        and not write.streams_upsert
        and not write.streams_delete
        and not write.rebalanced
        and write.consumed_rebalance_request is None
        and write.source_status is None
    )


def ownership_of(
    holdings: Mapping[int, Holding], stream_ids: Iterable[int]
) -> list[StreamOwnership]:
    """(stream, target, holder) of every stream, unassigned ones included, by id."""
    return [
        StreamOwnership(stream_id, h.target, h.holder)
        if (h := holdings.get(stream_id))
        else StreamOwnership(stream_id, None, None)
        for stream_id in sorted(stream_ids)
    ]
