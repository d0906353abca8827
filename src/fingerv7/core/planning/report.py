"""The `[BALANCE]` log lines for a plan, shaped like the manual's rebalancing log."""

from __future__ import annotations

from collections import Counter

from fingerv7.core.planning.model import AssignmentPlan, ChangeReason, InstanceLoad

_UNASSIGNED = "(unassigned)"


def _load_line(load: InstanceLoad) -> str:
    planned = load.planned / load.max_streams if load.max_streams else 0.0
    return (
        f"  - {load.instance_id}: {load.current}/{load.max_streams} streams "
        f"({load.current_load:.0%} load) -> {load.planned}/{load.max_streams} ({planned:.0%}), "
        f"target {load.target}"
    )


def _move_lines(plan: AssignmentPlan, max_lines: int) -> list[str]:
    groups = Counter((c.reason, c.from_instance, c.to_instance) for c in plan.changes)
    ordered = sorted(
        groups.items(),
        key=lambda item: (-item[1], item[0][0], item[0][1] or "", item[0][2] or ""),
    )
    lines = []
    for (reason, origin, destination), count in ordered[:max_lines]:
        noun = "stream" if count == 1 else "streams"
        if reason is ChangeReason.REMOVED:
            lines.append(f"Dropping {count} {noun} removed from the source ({origin})")
            continue
        lines.append(
            f"Moving {count} {noun} from {origin or _UNASSIGNED} to "
            f"{destination or _UNASSIGNED} ({reason.value})"
        )
    if len(ordered) > max_lines:
        lines.append(f"... and {len(ordered) - max_lines} more groups of changes")
    return lines


def format_balance_report(plan: AssignmentPlan, max_lines: int = 20) -> list[str]:
    """Lines for the `[BALANCE]` log: the decision, the distribution, the moves, the leftovers.

    Each list is cut to `max_lines` entries so a fleet of thousands of instances logs a
    readable summary rather than a wall of text.
    """
    lines = list(plan.explanation)
    lines.append(f"Imbalance {plan.imbalance_before:.1%} -> {plan.imbalance_after:.1%}")
    active = [load for load in plan.loads if load.current or load.planned or load.target]
    if active:
        lines.append("Distribution (current -> planned, target):")
        lines.extend(_load_line(load) for load in active[:max_lines])
        if len(active) > max_lines:
            lines.append(f"  ... and {len(active) - max_lines} more instances")
    lines.extend(_move_lines(plan, max_lines))
    if plan.unassigned:
        reasons = Counter(plan.unassigned.values())
        for reason, count in sorted(reasons.items()):
            lines.append(f"{count} streams left unassigned ({reason.value})")
    return lines
