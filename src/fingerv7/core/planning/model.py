"""Value types of the assignment engine: what goes in, what comes out.

Pure data, no I/O and no clock: the orchestrator builds these from its database and
hands them to :func:`fingerv7.core.planning.plan_assignment`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

StreamId = int
InstanceId = str


class InstanceState(StrEnum):
    """Lifecycle of a worker instance (manual §7). Values are the JSON spelling."""

    REGISTERED = "registered"
    ACTIVE = "active"
    WARNING = "warning"
    INACTIVE = "inactive"
    RECOVERING = "recovering"
    REMOVED = "removed"

    @property
    def is_live(self) -> bool:
        """Live instances may hold streams; INACTIVE and REMOVED ones may not."""
        return self not in (InstanceState.INACTIVE, InstanceState.REMOVED)


class BalanceStrategy(StrEnum):
    """How target shares are weighted (manual §6 names, `BALANCE_STRATEGY`)."""

    CAPACITY = "capacity"
    PERFORMANCE = "performance"
    LOCATION = "location"


class ChangeReason(StrEnum):
    """Why a stream's instance changed; persisted in the audit and shown in `recent_changes`."""

    NEW = "new"  # stream was unassigned (new in the source, or capacity freed up)
    FAILOVER = "failover"  # its instance is INACTIVE / REMOVED / unknown
    RELEASED = "released"  # its instance stopped cleanly (SIGTERM) or was deregistered
    DRAIN = "drain"  # its instance is draining
    OVER_CAPACITY = "over_capacity"  # its instance now has fewer slots than streams
    REBALANCE = "load_balancing"  # voluntary move between two live instances
    NO_CAPACITY = "no_capacity"  # taken off an instance and left unassigned
    REMOVED = "stream_removed"  # stream no longer in the source
    QUARANTINE = "quarantine"  # down on its instance too long: tried once elsewhere


class UnassignedReason(StrEnum):
    NO_INSTANCES = "no_instances"  # no live, non-draining instance at all
    NO_CAPACITY = "no_capacity"  # instances exist but every slot is taken


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream to place. `region` feeds the location strategy (from the stream's metadata)."""

    id: StreamId
    region: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """A worker instance as the planner sees it."""

    id: InstanceId
    max_streams: int
    state: InstanceState = InstanceState.ACTIVE
    draining: bool = False
    location: str | None = None
    performance_score: float = 1.0

    @property
    def accepts_streams(self) -> bool:
        return self.state.is_live and not self.draining and self.max_streams > 0


@dataclass(frozen=True, slots=True)
class BalancePolicy:
    """Balancing knobs (manual §6). Times are seconds; the planner itself reads no clock."""

    strategy: BalanceStrategy = BalanceStrategy.CAPACITY
    imbalance_threshold: float = 0.15
    max_stream_difference: int = 3
    rebalance_cooldown_s: float = 300.0
    max_voluntary_moves: int | None = None  # cap on REBALANCE moves per round; None = no cap


class Change(NamedTuple):
    """One stream whose instance changes. `from_instance`/`to_instance` None = unassigned.

    A named tuple rather than a frozen dataclass: a cold start builds a million of these, and
    a tuple is built about five times faster. Immutable and hashable all the same.
    """

    stream_id: StreamId
    from_instance: InstanceId | None
    to_instance: InstanceId | None
    reason: ChangeReason


class InstanceLoad(NamedTuple):
    """Per-instance line of the explanation: current vs target (a tuple, like `Change`)."""

    instance_id: InstanceId
    max_streams: int
    current: int
    target: int
    planned: int = 0  # streams it holds once the plan is applied (added by the planner)

    @property
    def current_load(self) -> float:
        return self.current / self.max_streams if self.max_streams else 0.0


class AssignmentPlan:
    """The planner's answer.

    `assignment` is the complete target mapping (only assigned streams appear).
    `changes` lists every stream whose instance differs from the current mapping, with why,
    in stream-id order; `change_count` is its length.

    The planner builds both from its own arrays on first access rather than during the call:
    a cold start describes a million streams, and the orchestrator reads `changes` only, so it
    should not pay for a million-entry `assignment` dict it never looks at.
    """

    __slots__ = (
        "_assignment",
        "_assignment_builder",
        "_changes",
        "_changes_builder",
        "change_count",
        "explanation",
        "imbalance_after",
        "imbalance_before",
        "loads",
        "rebalanced",
        "unassigned",
    )

    def __init__(
        self,
        assignment: dict[StreamId, InstanceId],
        changes: list[Change],
        unassigned: dict[StreamId, UnassignedReason],
        loads: list[InstanceLoad],
        imbalance_before: float,
        imbalance_after: float,
        rebalanced: bool,  # True when a voluntary rebalance happened in this round
        explanation: list[str] | None = None,
    ) -> None:
        self._assignment: dict[StreamId, InstanceId] | None = assignment
        self._assignment_builder: Callable[[], dict[StreamId, InstanceId]] | None = None
        self._changes: list[Change] | None = changes
        self._changes_builder: Callable[[], list[Change]] | None = None
        self.change_count = len(changes)
        self.unassigned = unassigned
        self.loads = loads
        self.imbalance_before = imbalance_before
        self.imbalance_after = imbalance_after
        self.rebalanced = rebalanced
        self.explanation = explanation if explanation is not None else []

    @classmethod
    def deferred(
        cls,
        *,
        assignment: Callable[[], dict[StreamId, InstanceId]],
        changes: Callable[[], list[Change]],
        change_count: int,
        unassigned: dict[StreamId, UnassignedReason],
        loads: list[InstanceLoad],
        imbalance_before: float,
        imbalance_after: float,
        rebalanced: bool,
        explanation: list[str],
    ) -> AssignmentPlan:
        """A plan whose `assignment` and `changes` are built by these functions when first read.

        The functions must depend only on data the plan owns, never on the caller's inputs,
        which the caller is free to change once `plan_assignment` has returned.
        """
        plan = cls(
            {}, [], unassigned, loads, imbalance_before, imbalance_after, rebalanced, explanation
        )
        plan._assignment, plan._assignment_builder = None, assignment
        plan._changes, plan._changes_builder = None, changes
        plan.change_count = change_count
        return plan

    @property
    def assignment(self) -> dict[StreamId, InstanceId]:
        if self._assignment is None:
            assert self._assignment_builder is not None
            self._assignment, self._assignment_builder = self._assignment_builder(), None
        return self._assignment

    @property
    def changes(self) -> list[Change]:
        if self._changes is None:
            assert self._changes_builder is not None
            self._changes, self._changes_builder = self._changes_builder(), None
        return self._changes

    @property
    def moves(self) -> list[Change]:
        """Voluntary moves between two live instances (the REBALANCE changes)."""
        return [c for c in self.changes if c.reason is ChangeReason.REBALANCE]

    def _fields(self) -> tuple[object, ...]:
        return (
            self.assignment,
            self.changes,
            self.unassigned,
            self.loads,
            self.imbalance_before,
            self.imbalance_after,
            self.rebalanced,
            self.explanation,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssignmentPlan):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (
            f"AssignmentPlan(assigned={len(self.assignment)}, changes={self.change_count}, "
            f"unassigned={len(self.unassigned)}, rebalanced={self.rebalanced}, "
            f"imbalance {self.imbalance_before:.3f} -> {self.imbalance_after:.3f}, "
            f"explanation={self.explanation!r})"
        )
