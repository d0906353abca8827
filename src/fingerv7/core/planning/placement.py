"""Which streams move, and where: turns per-instance counts into a stream-level assignment.

Given how many streams each instance keeps and ends with (:class:`CountPlan`), this picks the
streams that leave (the highest ids of an instance; with the location strategy, streams outside
the instance's region first), ranks the streams waiting for a slot (ones that were assigned
before new ones, then by id) and hands them the free slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fingerv7.core.planning.balance import CountPlan
from fingerv7.core.planning.fleet import NO_REGION, BoolArray, Fleet, IntArray
from fingerv7.core.planning.model import ChangeReason

# Reason codes for the arrays; REASON_BY_CODE turns them back into ChangeReason members.
NEW, FAILOVER, DRAIN, OVER_CAPACITY, REBALANCE, NO_CAPACITY, REMOVED, QUARANTINE = range(8)
REASON_BY_CODE = (
    ChangeReason.NEW,
    ChangeReason.FAILOVER,
    ChangeReason.DRAIN,
    ChangeReason.OVER_CAPACITY,
    ChangeReason.REBALANCE,
    ChangeReason.NO_CAPACITY,
    ChangeReason.REMOVED,
    ChangeReason.QUARANTINE,
)


@dataclass(frozen=True, slots=True)
class Placement:
    """Per stream (sorted like ``fleet.stream_ids``): instance after the round and why it moved."""

    instance: IntArray  # instance index, or -1 for unassigned
    reason: IntArray  # reason code; meaningful where `instance` differs from the current one


def _leavers(
    fleet: Fleet, keep: IntArray, match_regions: bool, settled: BoolArray | None
) -> tuple[IntArray, IntArray]:
    """Streams that leave their instance (sorted by stream index) and each one's reason code.

    `settled` streams (moved there by a quarantine) are the last an instance gives up."""
    current = fleet.stream_current
    # Only instances keeping fewer than they hold lose streams; when one instance dies, that
    # is a hundred streams out of a million, so rank just those. Index -1 reads the False pad.
    shedding = np.append(keep < fleet.held, False)
    assigned = np.flatnonzero(shedding[current])
    holder = current[assigned]
    if match_regions or settled is not None:
        away = fleet.stream_region[assigned] != fleet.location[holder]
        unsettled = np.zeros(len(assigned), np.bool_) if settled is None else ~settled[assigned]
        order = assigned[np.lexsort((away, unsettled, holder))]
    else:
        order = assigned[np.argsort(holder, kind="stable")]
    group = current[order]
    rank = np.arange(len(order)) - np.searchsorted(group, group, side="left")
    leaving = rank >= keep[group]
    streams, group, rank = order[leaving], group[leaving], rank[leaving]
    reason = np.where(
        ~fleet.live[group],
        FAILOVER,
        np.where(
            fleet.draining[group],
            DRAIN,
            np.where(rank >= fleet.capacity[group], OVER_CAPACITY, REBALANCE),
        ),
    ).astype(np.int64)
    by_stream = np.argsort(streams, kind="stable")
    return streams[by_stream], reason[by_stream]


def _match_regions(region: IntArray, slot_instance: IntArray, location: IntArray) -> IntArray:
    """Slot instance for each waiting stream, pairing equal regions as often as possible.

    Per region, the first ``min(streams, slots)`` waiting streams of that region take that
    region's slots; everything left is paired in order. This maximises the number of streams
    placed in their own region for the given slots.
    """
    slot_region = location[slot_instance]
    stream_order = np.argsort(region, kind="stable")
    slot_order = np.argsort(slot_region, kind="stable")
    sorted_region = region[stream_order]
    sorted_slots = slot_region[slot_order]
    rank = np.arange(len(sorted_region)) - np.searchsorted(sorted_region, sorted_region, "left")
    first = np.searchsorted(sorted_slots, sorted_region, "left")
    available = np.searchsorted(sorted_slots, sorted_region, "right") - first
    local = (sorted_region != NO_REGION) & (rank < available)

    destination = np.full(len(region), -1, dtype=np.int64)
    taken_slots = slot_order[first[local] + rank[local]]
    destination[stream_order[local]] = slot_instance[taken_slots]
    free = np.ones(len(slot_instance), dtype=np.bool_)
    free[taken_slots] = False
    destination[destination < 0] = slot_instance[free]
    return destination


def place_streams(
    fleet: Fleet, counts: CountPlan, *, match_regions: bool, settled: BoolArray | None = None
) -> Placement:
    """Move the streams the counts say must move; leave every other stream where it is."""
    current = fleet.stream_current
    leavers, leaver_reason = _leavers(fleet, counts.keep, match_regions, settled)
    reason = np.full(len(current), NEW, dtype=np.int64)
    reason[leavers] = leaver_reason

    waiting = np.concatenate((leavers, np.flatnonzero(current < 0)))
    free_slots = np.maximum(counts.final - counts.keep, 0)
    slot_instance = np.repeat(np.arange(len(free_slots), dtype=np.int64), free_slots)
    chosen = waiting[: len(slot_instance)]
    if match_regions:
        destination = _match_regions(fleet.stream_region[chosen], slot_instance, fleet.location)
    else:
        destination = slot_instance

    instance = current.copy()
    instance[leavers] = -1
    instance[chosen] = destination
    reason[(instance < 0) & (current >= 0)] = NO_CAPACITY
    return Placement(instance=instance, reason=reason)
