"""Safe handoff: a stream is never granted to two live instances at once.

Each assigned stream has a *target* (the planner's choice) and a *holder* (the instance allowed to
run it now). An instance's desired set is the streams it both targets and holds. Moving a stream
from A to B changes the target at once, which takes it out of A's desired set; B becomes the holder
only when A has proven it let go: A reported, with an applied generation at least as new as the one
that took the stream away, that it no longer runs it; or A is no longer live (declared INACTIVE,
deregistered, removed). Pure functions, so the rule lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from fingerv7.core.planning.model import InstanceId, StreamId


@dataclass(frozen=True, slots=True)
class Holding:
    """One stream's ownership record."""

    stream_id: StreamId
    target: InstanceId | None  # the planner's choice; None = unassigned
    holder: InstanceId | None  # who may run it now; None = nobody
    revoked_generation: int | None = None  # set while holder != target

    @property
    def owner(self) -> InstanceId | None:
        """The instance whose desired set contains this stream, if any."""
        return self.holder if self.holder is not None and self.holder == self.target else None


@dataclass(frozen=True, slots=True)
class InstanceReport:
    """What an instance last said about itself, as far as handoffs care."""

    live: bool
    applied_generation: int
    running: frozenset[StreamId]


def retarget(
    holding: Holding, target: InstanceId | None, holder_live: bool, generation: int
) -> Holding:
    """Point a stream at a new target; the holder keeps it until it proves release.

    `generation` is the generation being written now: the one in which the holder's desired set
    no longer contains the stream.
    """
    holder = holding.holder if holder_live else None
    if holder is None:
        return Holding(holding.stream_id, target, None, None)
    if holder == target:
        return Holding(holding.stream_id, target, holder, None)
    revoked = holding.revoked_generation if holding.holder != holding.target else generation
    return Holding(holding.stream_id, target, holder, revoked)


def released_by_holder(holding: Holding, report: InstanceReport | None) -> bool:
    """True when the holder provably no longer runs the stream (or is gone)."""
    if holding.holder is None or report is None or not report.live:
        return True
    if holding.revoked_generation is None:
        return False
    return (
        report.applied_generation >= holding.revoked_generation
        and holding.stream_id not in report.running
    )


def settle(holding: Holding, reports: Mapping[InstanceId, InstanceReport]) -> Holding | None:
    """Grant a stream to its target once its previous holder let go. None = forget the record."""
    if holding.holder is not None and holding.holder == holding.target:
        return holding
    report = reports.get(holding.holder) if holding.holder is not None else None
    if holding.holder is not None and not released_by_holder(holding, report):
        return holding
    if holding.target is None:
        return None
    return replace(holding, holder=holding.target, revoked_generation=None)


def owners_changed(before: Iterable[Holding | None], after: Iterable[Holding | None]) -> set[str]:
    """Instances whose desired set differs between two aligned sequences of holdings."""
    changed: set[str] = set()
    for old, new in zip(before, after, strict=True):
        old_owner = old.owner if old is not None else None
        new_owner = new.owner if new is not None else None
        if old_owner != new_owner:
            changed.update(owner for owner in (old_owner, new_owner) if owner is not None)
    return changed
