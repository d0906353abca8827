"""`plan_assignment`: the one entry point that decides which instance runs which stream.

Pure and deterministic: the same fleet, streams and current mapping give the same plan whatever
order they are listed in. Steps: number the inputs (:mod:`.fleet`), compute targets
(:mod:`.targets`), decide per-instance counts (:mod:`.balance`), pick the streams that move
(:mod:`.placement`), then describe the result in the public types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import cast

import numpy as np
from numpy.typing import NDArray

from fingerv7.core.planning.balance import CountPlan, imbalance_of, plan_counts
from fingerv7.core.planning.fleet import Fleet, IntArray, build_fleet
from fingerv7.core.planning.model import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    Change,
    ChangeReason,
    InstanceId,
    InstanceLoad,
    InstanceSpec,
    StreamId,
    StreamSpec,
    UnassignedReason,
)
from fingerv7.core.planning.move_away import away_requests, move_streams_away
from fingerv7.core.planning.placement import REASON_BY_CODE, REMOVED, Placement, place_streams
from fingerv7.core.planning.targets import apportion_array, strategy_weights

DEFAULT_POLICY = BalancePolicy()
ObjectArray = NDArray[np.object_]

# Change is a NamedTuple; tuple.__new__ over ready-made tuples skips its Python-level __new__.
_new_change = cast(
    Callable[[tuple[StreamId, InstanceId | None, InstanceId | None, ChangeReason]], Change],
    partial(tuple.__new__, Change),
)


def plan_assignment(
    streams: Sequence[StreamSpec],
    instances: Sequence[InstanceSpec],
    current: Mapping[StreamId, InstanceId],
    policy: BalancePolicy = DEFAULT_POLICY,
    *,
    seconds_since_last_rebalance: float | None = None,
    force_rebalance: bool = False,
    move_away: Mapping[StreamId, InstanceId] | None = None,
) -> AssignmentPlan:
    """Plan one round: where every source stream should run, and why each change happens.

    `current` may name streams that left the source (they drop out, reason REMOVED) and
    instances that are unknown or not live (their streams fail over). Forced placements
    (new, failover, drain, over capacity) always happen and fill the instances furthest below
    target first. Voluntary moves happen only when the imbalance or the distance to a target
    exceeds the policy and the cooldown has passed (`seconds_since_last_rebalance` None means
    never rebalanced), or when `force_rebalance` is set; at most `max_voluntary_moves` of them.
    `move_away` names streams to keep off a given instance (quarantine): each still there takes
    a free slot on another accepting instance, reason QUARANTINE; each already elsewhere is the
    last its instance gives up in a rebalance (see :mod:`.move_away`).
    The plan keeps no reference to the arguments. Raises ValueError on duplicate stream or
    instance ids. Nothing global is touched: a caller that reads a million changes may pause
    the cyclic garbage collector around it (the orchestrator does: `collector_paused`).
    """
    match_regions = policy.strategy is BalanceStrategy.LOCATION
    fleet = build_fleet(streams, instances, current, with_regions=match_regions)
    targets = _targets(fleet, policy.strategy)
    counts = plan_counts(
        held=fleet.held,
        capacity=fleet.capacity,
        accepting=fleet.accepting,
        targets=targets,
        stream_count=len(fleet.stream_ids),
        policy=policy,
        seconds_since_last_rebalance=seconds_since_last_rebalance,
        force_rebalance=force_rebalance,
        names=fleet.instance_ids,
    )
    requests = away_requests(fleet, move_away or {})
    settled = requests.kept_away(fleet)
    placement = place_streams(fleet, counts, match_regions=match_regions, settled=settled)
    placement, notes = move_streams_away(fleet, placement, requests)
    return _describe(fleet, targets, counts, placement, notes)


def _targets(fleet: Fleet, strategy: BalanceStrategy) -> IntArray:
    """Targets for accepting instances (0 for the others), indexed like the fleet."""
    accepting = np.flatnonzero(fleet.accepting)
    specs = [fleet.instances[i] for i in accepting.tolist()]
    weights = strategy_weights(specs, fleet.capacity[accepting], strategy)
    targets = np.zeros(len(fleet.instance_ids), dtype=np.int64)
    targets[accepting] = apportion_array(
        len(fleet.stream_ids), fleet.capacity[accepting], weights, fleet.held[accepting]
    )
    return targets


def _change_arrays(fleet: Fleet, placement: Placement) -> tuple[IntArray, ...]:
    """Stream id, origin, destination and reason code of every change, by stream id."""
    changed = np.flatnonzero(placement.instance != fleet.stream_current)
    ids = fleet.stream_ids[changed]
    origin = fleet.stream_current[changed]
    destination = placement.instance[changed]
    reason = placement.reason[changed]
    removed = len(fleet.removed_ids)
    if removed:
        ids = np.concatenate((ids, fleet.removed_ids))
        origin = np.concatenate((origin, fleet.removed_from))
        destination = np.concatenate((destination, np.full(removed, -1, np.int64)))
        reason = np.concatenate((reason, np.full(removed, REMOVED, np.int64)))
        order = np.argsort(ids, kind="stable")
        return ids[order], origin[order], destination[order], reason[order]
    return ids, origin, destination, reason


def _name_table(names: Sequence[InstanceId]) -> ObjectArray:
    """Instance names as an object array with a trailing None, so index -1 reads None and
    `table.take(indexes).tolist()` turns a million indexes into names in C."""
    table = np.empty(len(names) + 1, dtype=object)
    table[: len(names)] = names
    return table


_REASONS = np.array(REASON_BY_CODE, dtype=object)


def _change_builder(
    names: Sequence[InstanceId], arrays: tuple[IntArray, ...]
) -> Callable[[], list[Change]]:
    ids, origin, destination, reason = arrays

    def build() -> list[Change]:
        table = _name_table(names)
        rows = zip(
            ids.tolist(),
            table.take(origin).tolist(),
            table.take(destination).tolist(),
            _REASONS.take(reason).tolist(),
            strict=True,
        )
        return list(map(_new_change, rows))

    return build


def _assignment_builder(
    names: Sequence[InstanceId], stream_ids: IntArray, instance: IntArray
) -> Callable[[], dict[StreamId, InstanceId]]:
    def build() -> dict[StreamId, InstanceId]:
        assigned = instance >= 0
        holders = _name_table(names).take(instance[assigned]).tolist()
        return dict(zip(stream_ids[assigned].tolist(), holders, strict=True))

    return build


def _describe(
    fleet: Fleet, targets: IntArray, counts: CountPlan, placement: Placement, notes: list[str]
) -> AssignmentPlan:
    names = fleet.instance_ids
    instance = placement.instance
    assigned = instance >= 0
    arrays = _change_arrays(fleet, placement)
    tally = np.bincount(arrays[3], minlength=len(REASON_BY_CODE)).tolist()
    parts = [f"{n} {why.value}" for n, why in zip(tally, REASON_BY_CODE, strict=True) if n]
    why = UnassignedReason.NO_CAPACITY if fleet.accepting.any() else UnassignedReason.NO_INSTANCES
    planned = np.bincount(instance[assigned], minlength=len(names)).astype(np.int64)
    known = len(fleet.instances)
    loads = list(
        map(
            InstanceLoad,
            names[:known],
            fleet.capacity[:known].tolist(),
            fleet.held[:known].tolist(),
            targets[:known].tolist(),
            planned[:known].tolist(),
        )
    )
    accepting = fleet.accepting
    capacity = fleet.capacity[accepting]
    summary = (
        f"{int(accepting.sum())} of {known} instances accept streams "
        f"(capacity {int(capacity.sum())}); {len(fleet.stream_ids)} streams"
    )
    return AssignmentPlan.deferred(
        assignment=_assignment_builder(names, fleet.stream_ids, instance),
        changes=_change_builder(names, arrays),
        change_count=len(arrays[0]),
        unassigned=dict.fromkeys(fleet.stream_ids[~assigned].tolist(), why),
        loads=loads,
        imbalance_before=imbalance_of(fleet.held[accepting], capacity),
        imbalance_after=imbalance_of(planned[accepting], capacity),
        rebalanced=counts.voluntary,
        explanation=[
            summary,
            "changes: " + (", ".join(parts) or "none"),
            *counts.explanation,
            *notes,
        ],
    )
