"""How many streams each instance keeps and ends with: forced placements, hysteresis, move caps.

This works on per-instance counts only; which stream goes where is decided afterwards
(:mod:`fingerv7.core.planning.placement`). Counts come first because every rule of the manual
(threshold, maximum difference, cooldown, the cap on moves) is a rule about counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fingerv7.core.planning.model import BalancePolicy

IntArray = NDArray[np.int64]


def compute_imbalance(loads: Iterable[tuple[int, int]]) -> float:
    """The manual's metric: the largest distance of a load (streams/max_streams) from the mean.

    `loads` holds ``(current, max_streams)`` pairs; pairs with no capacity are ignored.
    0.0 when there is nothing to compare.
    """
    pairs = np.array(list(loads), dtype=np.int64).reshape(-1, 2)
    return imbalance_of(pairs[:, 0], pairs[:, 1])


def imbalance_of(counts: IntArray, capacity: IntArray) -> float:
    """:func:`compute_imbalance` on arrays; the planner's only implementation of the metric."""
    usable = capacity > 0
    if not bool(usable.any()):
        return 0.0
    fractions = counts[usable] / capacity[usable]
    return float(np.abs(fractions - fractions.mean()).max())


def level_fill(base: IntArray, low: IntArray, high: IntArray, total: int) -> IntArray:
    """Counts ``clip(base + level, low, high)`` summing to `total`, for the highest level that fits.

    Raising one water level over every instance fills the ones furthest below `base` first;
    the few units left at the last level go to the lowest indexes. Needs ``low <= high`` and
    ``sum(low) <= total <= sum(high)``.
    """
    if total == int(low.sum()):
        return low.copy()
    lo = int((low - base).min()) - 1
    hi = int((high - base).max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(np.clip(base + mid, low, high).sum()) <= total:
            lo = mid
        else:
            hi = mid - 1
    counts: IntArray = np.clip(base + lo, low, high)
    short = total - int(counts.sum())
    if short:
        can_grow = np.flatnonzero(np.clip(base + lo + 1, low, high) > counts)[:short]
        counts[can_grow] += 1
    return counts


@dataclass(frozen=True, slots=True)
class CountPlan:
    """Per-instance counts for one round (arrays indexed like the fleet's instances)."""

    keep: IntArray  # streams that stay on the instance they are on
    final: IntArray  # streams the instance holds after the round
    voluntary: bool  # a voluntary rebalance was allowed and moves at least one stream
    explanation: tuple[str, ...]


def _trigger(
    counts: IntArray,
    capacity: IntArray,
    targets: IntArray,
    accepting: NDArray[np.bool_],
    policy: BalancePolicy,
    names: Sequence[str],
) -> str | None:
    """Why the fleet (after forced placements) needs a voluntary rebalance, or None."""
    imbalance = imbalance_of(counts[accepting], capacity[accepting])
    if imbalance > policy.imbalance_threshold:
        return f"imbalance {imbalance:.1%} > {policy.imbalance_threshold:.1%}"
    distance = np.abs(counts - targets)
    worst = int(np.argmax(distance)) if len(distance) else 0
    if len(distance) and int(distance[worst]) > policy.max_stream_difference:
        return (
            f"{names[worst]} holds {int(counts[worst])}, target {int(targets[worst])} "
            f"(difference {int(distance[worst])} > {policy.max_stream_difference})"
        )
    return None


def _shed(excess: IntArray, cap: int | None) -> IntArray:
    """How many streams each over-target instance gives up, most over-target first."""
    if cap is None or int(excess.sum()) <= cap:
        return excess
    return level_fill(excess, np.zeros_like(excess), excess, max(cap, 0))


def plan_counts(
    *,
    held: IntArray,
    capacity: IntArray,
    accepting: NDArray[np.bool_],
    targets: IntArray,
    stream_count: int,
    policy: BalancePolicy,
    seconds_since_last_rebalance: float | None,
    force_rebalance: bool,
    names: Sequence[str],
) -> CountPlan:
    """Forced placements always; a voluntary rebalance only when triggered and allowed.

    `held` counts the source streams each instance holds now. Instances that do not accept
    streams keep none. Forced placements fill the instances furthest below target first and
    move nothing else; a voluntary rebalance then sheds streams from over-target instances
    (at most ``policy.max_voluntary_moves``, the most over-target first).
    """
    room = np.where(accepting, capacity, 0)
    fillable = min(stream_count, int(room.sum()))
    kept = np.where(accepting, np.minimum(held, room), 0)
    forced = level_fill(targets, kept, room, fillable)
    off_target = bool(np.any(forced != targets))
    reason = _trigger(forced, capacity, targets, accepting, policy, names)
    cooled = (
        seconds_since_last_rebalance is None
        or seconds_since_last_rebalance >= policy.rebalance_cooldown_s
    )
    if not off_target:
        return CountPlan(
            kept, forced, False, ("no rebalance needed: every instance ends at its target",)
        )
    if force_rebalance:
        reason = "rebalance requested by operator"
    elif reason is None:
        return CountPlan(
            kept, forced, False, ("no rebalance: within threshold and maximum difference",)
        )
    elif not cooled:
        note = f"no rebalance ({reason}): cooldown, {seconds_since_last_rebalance:g} s since "
        note += f"the last one < {policy.rebalance_cooldown_s:g} s"
        return CountPlan(kept, forced, False, (note,))
    excess = np.maximum(kept - targets, 0)
    shed = _shed(excess, policy.max_voluntary_moves)
    keep = kept - shed
    final = level_fill(targets, keep, room, fillable)
    lines = [f"rebalance: {reason}"]
    if int(shed.sum()) < int(excess.sum()):
        lines.append(
            f"rebalance capped at {policy.max_voluntary_moves} moves; "
            f"{int(excess.sum() - shed.sum())} more needed in later rounds"
        )
    return CountPlan(keep, final, bool(shed.sum() > 0), tuple(lines))
