"""Target counts: how many streams each accepting instance should hold.

Each instance's exact *share* is proportional to its weight (``max_streams``, or ``max_streams``
times a clipped performance score) and never above ``max_streams``: instances whose proportional
share would exceed their capacity are filled to capacity and the rest is shared among the others
(water-filling). Targets round those shares to integers, each within one stream of its share.
All arithmetic is on integers, so the answer never depends on float rounding or input order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from fingerv7.core.planning.model import BalanceStrategy, InstanceId, InstanceSpec

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

PERFORMANCE_SCORE_MIN = 0.1
PERFORMANCE_SCORE_MAX = 10.0
# Performance weights are max_streams x score counted in thousandths, so they stay integers.
_SCORE_SCALE = 1000
# Bound on the products the array path forms (share numerators, saturation tests).
_INT64_SAFE = 2**62


def clip_performance_score(score: float) -> float:
    """A score usable as a weight: NaN counts as neutral (1.0), the rest is clipped to a range."""
    if math.isnan(score):
        return 1.0
    return min(max(score, PERFORMANCE_SCORE_MIN), PERFORMANCE_SCORE_MAX)


def strategy_weight(instance: InstanceSpec, strategy: BalanceStrategy) -> int:
    """The integer weight of one instance under `strategy` (0 when it has no capacity)."""
    if instance.max_streams <= 0:
        return 0
    if strategy is BalanceStrategy.PERFORMANCE:
        score = clip_performance_score(instance.performance_score)
        return max(1, round(instance.max_streams * score * _SCORE_SCALE))
    # CAPACITY and LOCATION share capacity-proportional targets; LOCATION acts on placement.
    return instance.max_streams * _SCORE_SCALE


def strategy_weights(
    instances: Sequence[InstanceSpec], capacities: IntArray, strategy: BalanceStrategy
) -> IntArray:
    """:func:`strategy_weight` of each instance (`capacities` are their `max_streams`)."""
    if strategy is BalanceStrategy.PERFORMANCE:
        weights = [strategy_weight(instance, strategy) for instance in instances]
        return np.array(weights, dtype=np.int64).reshape(-1)
    return np.maximum(capacities, 0) * _SCORE_SCALE


def _saturated(total: int, capacities: Sequence[int], weights: Sequence[int]) -> set[int]:
    """Indexes whose proportional share reaches their capacity once the water level settles.

    Visiting instances by ascending capacity/weight, each saturation only raises the level for
    the others, so one pass in exact order suffices; a second pass catches float mis-ordering.
    """
    candidates = [i for i in range(len(capacities)) if capacities[i] > 0 and weights[i] > 0]
    candidates.sort(key=lambda i: (capacities[i] / weights[i], i))
    saturated: set[int] = set()
    remaining = total
    weight_sum = sum(weights[i] for i in candidates)
    changed = True
    while changed:
        changed = False
        for i in candidates:
            if i in saturated or weight_sum == 0:
                continue
            if remaining * weights[i] >= capacities[i] * weight_sum:
                saturated.add(i)
                remaining -= capacities[i]
                weight_sum -= weights[i]
                changed = True
    return saturated


def apportion(
    total: int,
    capacities: Sequence[int],
    weights: Sequence[int],
    current_counts: Sequence[int] | None = None,
) -> list[int]:
    """Integer targets, one per instance, summing to ``min(total, sum(capacities))``.

    Each target is the floor or the ceiling of the instance's water-filled share (so within one
    stream of it) and never above its capacity. The streams left over after the floors go to
    instances with a fractional share, preferring those that already hold more than the floor
    (fewer moves, and targets that stay put from one round to the next), then the larger
    fraction, then the lower index.
    """
    count = len(capacities)
    if len(weights) != count or (current_counts is not None and len(current_counts) != count):
        raise ValueError("capacities, weights and current_counts must have the same length")
    held = list(current_counts) if current_counts is not None else [0] * count
    total = max(0, min(total, sum(c for c in capacities if c > 0)))
    targets = [0] * count
    saturated = _saturated(total, capacities, weights)
    for i in saturated:
        targets[i] = capacities[i]
    remaining = total - sum(capacities[i] for i in saturated)
    sharers = [i for i in range(count) if capacities[i] > 0 and weights[i] > 0]
    sharers = [i for i in sharers if i not in saturated]
    weight_sum = sum(weights[i] for i in sharers)
    if remaining <= 0 or weight_sum == 0:
        return targets
    fractions: dict[int, int] = {}
    for i in sharers:
        targets[i], fractions[i] = divmod(remaining * weights[i], weight_sum)
    extra = remaining - sum(targets[i] for i in sharers)
    fractional = [i for i in sharers if fractions[i] > 0]
    fractional.sort(key=lambda i: (held[i] <= targets[i], -fractions[i], i))
    for i in fractional[:extra]:
        targets[i] += 1
    return targets


def _fits_int64(total: int, capacities: IntArray, weights: IntArray) -> bool:
    """Whether every product the array path forms (a stream count, at most the larger of
    `total` and the summed capacities, times a sum of weights) stays well inside int64."""
    streams = max(abs(total), int(capacities[capacities > 0].sum()), 1)
    return streams * max(int(weights[weights > 0].sum()), 1) < _INT64_SAFE


def _saturated_mask(total: int, capacities: IntArray, weights: IntArray) -> BoolArray:
    """`_saturated` on arrays: one pass over the instances sorted by capacity/weight finds the
    prefix that saturates; the loop after it catches any float mis-ordering of that sort."""
    usable = (capacities > 0) & (weights > 0)
    candidates = np.flatnonzero(usable)
    saturated = np.zeros(len(capacities), dtype=np.bool_)
    if len(candidates) == 0:
        return saturated
    ratio = capacities[candidates] / weights[candidates]
    order = candidates[np.lexsort((candidates, ratio))]
    # Instance k of the order saturates when the level left by the ones before reaches it.
    remaining = total - np.concatenate(([0], np.cumsum(capacities[order])[:-1]))
    weight_left = int(weights[candidates].sum()) - np.concatenate(
        ([0], np.cumsum(weights[order])[:-1])
    )
    reaches = remaining * weights[order] >= capacities[order] * weight_left
    prefix = len(order) if bool(reaches.all()) else int(np.argmin(reaches))
    saturated[order[:prefix]] = True
    while True:
        sharing = usable & ~saturated
        weight_sum = int(weights[sharing].sum())
        if weight_sum == 0:
            return saturated
        left = total - int(capacities[saturated].sum())
        more = sharing & (left * weights >= capacities * weight_sum)
        if not bool(more.any()):
            return saturated
        saturated |= more


def apportion_array(
    total: int, capacities: IntArray, weights: IntArray, current_counts: IntArray
) -> IntArray:
    """:func:`apportion` on NumPy arrays, for fleets of thousands of instances.

    The same rules and the same answer (a property test compares the two); falls back to the
    list version when the integer products could overflow int64.
    """
    if not _fits_int64(total, capacities, weights):
        exact = apportion(total, capacities.tolist(), weights.tolist(), current_counts.tolist())
        return np.array(exact, dtype=np.int64)
    total = max(0, min(total, int(capacities[capacities > 0].sum())))
    saturated = _saturated_mask(total, capacities, weights)
    targets = np.where(saturated, capacities, 0).astype(np.int64)
    remaining = total - int(capacities[saturated].sum())
    sharers = np.flatnonzero((capacities > 0) & (weights > 0) & ~saturated)
    weight_sum = int(weights[sharers].sum())
    if remaining <= 0 or weight_sum == 0:
        return targets
    floors, fractions = np.divmod(remaining * weights[sharers], weight_sum)
    targets[sharers] = floors
    extra = remaining - int(floors.sum())
    fractional = fractions > 0
    candidates = sharers[fractional]
    fraction = fractions[fractional]
    above_floor = current_counts[candidates] > floors[fractional]
    # Same order as `apportion`: above the floor first, then the larger fraction, then index.
    order = np.lexsort((candidates, -fraction, ~above_floor))
    targets[candidates[order[:extra]]] += 1
    return targets


def compute_targets(
    instances: Sequence[InstanceSpec],
    stream_count: int,
    strategy: BalanceStrategy = BalanceStrategy.CAPACITY,
    current_counts: Mapping[InstanceId, int] | None = None,
) -> dict[InstanceId, int]:
    """Target stream count per instance that accepts streams, keyed and ordered by instance id.

    `current_counts` (streams each instance holds now) only breaks ties between equal
    fractional shares, so that the extra stream stays where it already is.
    """
    accepting = sorted((i for i in instances if i.accepts_streams), key=lambda i: i.id)
    counts = current_counts or {}
    targets = apportion_array(
        stream_count,
        np.array([i.max_streams for i in accepting], dtype=np.int64),
        np.array([strategy_weight(i, strategy) for i in accepting], dtype=np.int64),
        np.array([counts.get(i.id, 0) for i in accepting], dtype=np.int64),
    )
    return dict(zip((i.id for i in accepting), targets.tolist(), strict=True))
