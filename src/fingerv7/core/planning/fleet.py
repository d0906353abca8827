"""The planner's inputs as sorted integer arrays, so a million streams cost milliseconds to plan.

Instances are numbered by id (known ones first, then ids that only `current` mentions); streams
are sorted by id. Everything downstream works on these numbers, which is also what makes the
plan independent of the order in which the caller listed things.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter

import numpy as np
from numpy.typing import NDArray

from fingerv7.core.planning.model import InstanceId, InstanceSpec, StreamId, StreamSpec

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
NO_REGION = -1


@dataclass(frozen=True, slots=True)
class Fleet:
    """Arrays describing one planning round. `-1` means "none" in every index array."""

    instances: list[InstanceSpec]  # known instances, sorted by id
    instance_ids: list[InstanceId]  # known ids, then ids only `current` mentions (sorted)
    capacity: IntArray  # max_streams (0 for unknown ids)
    accepting: BoolArray
    live: BoolArray  # unknown ids are not live
    draining: BoolArray
    location: IntArray  # region code of the instance's location, or NO_REGION
    stream_ids: IntArray  # sorted
    stream_region: IntArray  # region code, or NO_REGION (all NO_REGION unless regions asked)
    stream_current: IntArray  # instance index the stream is on now, or -1
    held: IntArray  # source streams each instance holds now
    removed_ids: IntArray  # streams in `current` but not in the source, sorted
    removed_from: IntArray  # the instance each removed stream was on


def _sorted_instances(instances: Sequence[InstanceSpec]) -> list[InstanceSpec]:
    ordered = sorted(instances, key=attrgetter("id"))
    for before, after in pairwise(ordered):
        if before.id == after.id:
            raise ValueError(f"instance id {before.id!r} appears twice")
    for instance in ordered:
        if instance.max_streams < 0:
            raise ValueError(f"instance {instance.id!r} has negative max_streams")
    return ordered


def _sorted_streams(streams: Sequence[StreamSpec]) -> tuple[IntArray, IntArray]:
    """Stream ids in ascending order and the permutation that sorts the input."""
    ids = np.fromiter(map(attrgetter("id"), streams), np.int64, len(streams))
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        duplicated = ids[1:] == ids[:-1]
        if bool(np.any(duplicated)):
            raise ValueError(f"stream id {int(ids[1:][duplicated][0])} appears twice")
        return ids, order
    return ids, np.arange(len(ids), dtype=np.int64)


def _region_codes(
    streams: Sequence[StreamSpec], order: IntArray, instances: list[InstanceSpec], unknown: int
) -> tuple[IntArray, IntArray]:
    """Equal strings get equal codes, shared between stream regions and instance locations."""
    vocabulary: dict[str | None, int] = {None: NO_REGION}
    regions = [s.region for s in streams]
    names = {r for r in regions if r is not None}
    names.update(i.location for i in instances if i.location is not None)
    for name in sorted(names):
        vocabulary[name] = len(vocabulary) - 1
    stream_region = np.fromiter(map(vocabulary.__getitem__, regions), np.int64, len(regions))
    location = [vocabulary[i.location] for i in instances] + [NO_REGION] * unknown
    return stream_region[order], np.array(location, dtype=np.int64)


class _Numbering(dict[InstanceId, int]):
    """Instance id -> index; an id seen for the first time gets the next free index."""

    def __missing__(self, key: InstanceId) -> int:
        index = self[key] = len(self)
        return index


def _holders(
    current: Mapping[StreamId, InstanceId], known_ids: list[InstanceId]
) -> tuple[IntArray, list[InstanceId]]:
    """The instance index of every value of `current`, and the sorted ids it names but
    `known_ids` does not (numbered after the known ones, in sorted order)."""
    numbering = _Numbering(zip(known_ids, range(len(known_ids)), strict=True))
    # One C-level pass; building a list first is faster than np.fromiter over a map.
    holders = np.array(list(map(numbering.__getitem__, current.values())), dtype=np.int64)
    unknown_ids = sorted(list(numbering)[len(known_ids) :])
    if unknown_ids:
        # First-seen order depends on the mapping's order: renumber by sorted id.
        renumber = np.arange(len(numbering), dtype=np.int64)
        first_seen = [numbering[i] for i in unknown_ids]
        renumber[first_seen] = np.arange(len(known_ids), len(numbering), dtype=np.int64)
        holders = renumber[holders]
    return holders, unknown_ids


def locate(sorted_ids: IntArray, keys: IntArray) -> IntArray:
    """Position of each key in `sorted_ids` (distinct, ascending), or -1 where it is absent.

    In a steady state `current` names exactly the source streams, in id order, and a single
    comparison answers. Otherwise ids are usually dense (database sequences), and then a lookup
    table is several times faster than a binary search over a million keys.
    """
    if np.array_equal(keys, sorted_ids):
        return np.arange(len(keys), dtype=np.int64)
    if len(sorted_ids) == 0 or len(keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    low, high = int(sorted_ids[0]), int(sorted_ids[-1])
    if high - low < 2 * len(sorted_ids) + 1024:
        table = np.full(high - low + 1, -1, dtype=np.int64)
        table[sorted_ids - low] = np.arange(len(sorted_ids), dtype=np.int64)
        offset = keys - low
        inside = (keys >= low) & (keys <= high)
        return np.where(inside, table[np.where(inside, offset, 0)], -1)
    candidate = np.minimum(np.searchsorted(sorted_ids, keys), len(sorted_ids) - 1)
    return np.where(sorted_ids[candidate] == keys, candidate, -1)


def _lay_current(
    stream_ids: IntArray, keys: IntArray, holders: IntArray, instance_count: int
) -> tuple[IntArray, IntArray, IntArray]:
    """`current` laid onto the sorted streams: each stream's instance index (-1 for none), the
    streams each instance holds, and the entries of `current` whose stream left the source
    (indexes into `keys`, by stream id)."""
    position = locate(stream_ids, keys)
    gone = np.flatnonzero(position < 0)
    if len(gone):
        gone = gone[np.argsort(keys[gone], kind="stable")]
        staying = position >= 0
        position, holders = position[staying], holders[staying]
    stream_current = np.full(len(stream_ids), -1, dtype=np.int64)
    stream_current[position] = holders
    held = np.bincount(holders, minlength=instance_count).astype(np.int64)
    return stream_current, held, gone


def build_fleet(
    streams: Sequence[StreamSpec],
    instances: Sequence[InstanceSpec],
    current: Mapping[StreamId, InstanceId],
    *,
    with_regions: bool,
) -> Fleet:
    """Number everything and place `current` onto the sorted streams."""
    known = _sorted_instances(instances)
    known_ids = [i.id for i in known]
    holders, unknown_ids = _holders(current, known_ids)
    instance_ids = known_ids + unknown_ids
    padding = [False] * len(unknown_ids)

    stream_ids, order = _sorted_streams(streams)
    if with_regions:
        stream_region, location = _region_codes(streams, order, known, len(unknown_ids))
    else:
        stream_region = np.full(len(stream_ids), NO_REGION, dtype=np.int64)
        location = np.full(len(instance_ids), NO_REGION, dtype=np.int64)

    keys = np.fromiter(current.keys(), np.int64, len(current))
    stream_current, held, gone = _lay_current(stream_ids, keys, holders, len(instance_ids))

    capacity = np.array([i.max_streams for i in known] + [0] * len(unknown_ids), np.int64)
    live = np.array([i.state.is_live for i in known] + padding, dtype=np.bool_)
    draining = np.array([i.draining for i in known] + padding, dtype=np.bool_)
    return Fleet(
        instances=known,
        instance_ids=instance_ids,
        capacity=capacity,
        # InstanceSpec.accepts_streams, for the whole fleet at once.
        accepting=live & ~draining & (capacity > 0),
        live=live,
        draining=draining,
        location=location,
        stream_ids=stream_ids,
        stream_region=stream_region,
        stream_current=stream_current,
        held=held,
        removed_ids=keys[gone],
        removed_from=holders[gone],
    )
