"""Streams to keep off an instance (quarantine): moved off it once, then not chosen to go back.

The caller names each stream with the instance it must not run on. A stream still there takes a
free slot on another accepting instance (reason QUARANTINE), after the balance step, so it never
displaces another stream; with no free slot elsewhere it stays, and the explanation says so. A
stream already elsewhere is one a voluntary rebalance leaves where it is whenever that instance
has other streams to give up (:func:`fingerv7.core.planning.placement.place_streams`), so a
quarantine move is not undone by the next rebalance. Asking twice never moves a stream twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fingerv7.core.planning.fleet import NO_REGION, BoolArray, Fleet, IntArray, locate
from fingerv7.core.planning.model import InstanceId, StreamId
from fingerv7.core.planning.placement import QUARANTINE, Placement


@dataclass(frozen=True, slots=True)
class AwayRequests:
    """`move_away` laid onto the fleet: stream positions and the instance index to avoid."""

    positions: IntArray  # sorted by stream id; streams not in the source are left out
    avoid: IntArray  # instance index, -1 for an instance the fleet does not know

    def kept_away(self, fleet: Fleet) -> BoolArray | None:
        """Per stream: assigned, and not on the instance it must avoid (None when none is)."""
        current = fleet.stream_current[self.positions]
        away = (current >= 0) & (current != self.avoid)
        if not away.any():
            return None
        mask = np.zeros(len(fleet.stream_ids), dtype=np.bool_)
        mask[self.positions[away]] = True
        return mask


def away_requests(fleet: Fleet, move_away: Mapping[StreamId, InstanceId]) -> AwayRequests:
    index = {name: i for i, name in enumerate(fleet.instance_ids)}
    keys = np.fromiter(move_away.keys(), np.int64, len(move_away))
    avoid = np.fromiter((index.get(i, -1) for i in move_away.values()), np.int64, len(move_away))
    positions = locate(fleet.stream_ids, keys)
    order = np.argsort(keys, kind="stable")
    present = positions[order] >= 0
    return AwayRequests(positions[order][present], avoid[order][present])


def move_streams_away(
    fleet: Fleet, placement: Placement, requests: AwayRequests
) -> tuple[Placement, list[str]]:
    """`placement` with every requested stream still on the instance it must avoid moved to
    the accepting instance with the most free slots (in the stream's region first, when the
    fleet has regions: the location strategy); reason QUARANTINE. Also the explanation lines."""
    if not len(requests.positions):
        return placement, []
    instance, reason = placement.instance.copy(), placement.reason.copy()
    planned = np.bincount(instance[instance >= 0], minlength=len(fleet.instance_ids))
    free = np.where(fleet.accepting, fleet.capacity - planned, 0)
    moved = stuck = 0
    for position, origin in zip(requests.positions.tolist(), requests.avoid.tolist(), strict=True):
        if origin < 0 or fleet.stream_current[position] != origin or instance[position] != origin:
            continue  # already elsewhere, or moving anyway this round (with its own reason)
        destination = _destination(fleet, free, origin, int(fleet.stream_region[position]))
        if destination < 0:
            stuck += 1
            continue
        instance[position], reason[position] = destination, QUARANTINE
        free[destination] -= 1
        if fleet.accepting[origin]:
            free[origin] += 1
        moved += 1
    notes = []
    if moved:
        notes.append(f"quarantine: {moved} streams moved away from the instance they failed on")
    if stuck:
        notes.append(f"quarantine: {stuck} streams stay (no other instance has a free slot)")
    return Placement(instance=instance, reason=reason), notes


def _destination(fleet: Fleet, free: IntArray, origin: int, region: int) -> int:
    """The instance with the most free slots other than `origin` (its region's first), or -1."""
    room = free.copy()
    room[origin] = 0
    if region != NO_REGION:
        local = np.where(fleet.location == region, room, 0)
        if local.max(initial=0) > 0:
            room = local
    best = int(np.argmax(room)) if len(room) else -1
    return best if best >= 0 and room[best] > 0 else -1
