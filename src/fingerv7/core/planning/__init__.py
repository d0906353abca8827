"""The assignment engine: a pure function from (streams, instances, current mapping) to a plan.

See docs/assignment.md for the rules it guarantees and how fast it is.
"""

from fingerv7.core.planning.balance import compute_imbalance
from fingerv7.core.planning.model import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    Change,
    ChangeReason,
    InstanceId,
    InstanceLoad,
    InstanceSpec,
    InstanceState,
    StreamId,
    StreamSpec,
    UnassignedReason,
)
from fingerv7.core.planning.planner import DEFAULT_POLICY, plan_assignment
from fingerv7.core.planning.report import format_balance_report
from fingerv7.core.planning.targets import (
    PERFORMANCE_SCORE_MAX,
    PERFORMANCE_SCORE_MIN,
    apportion,
    clip_performance_score,
    compute_targets,
)

__all__ = [
    "DEFAULT_POLICY",
    "PERFORMANCE_SCORE_MAX",
    "PERFORMANCE_SCORE_MIN",
    "AssignmentPlan",
    "BalancePolicy",
    "BalanceStrategy",
    "Change",
    "ChangeReason",
    "InstanceId",
    "InstanceLoad",
    "InstanceSpec",
    "InstanceState",
    "StreamId",
    "StreamSpec",
    "UnassignedReason",
    "apportion",
    "clip_performance_score",
    "compute_imbalance",
    "compute_targets",
    "format_balance_report",
    "plan_assignment",
]
