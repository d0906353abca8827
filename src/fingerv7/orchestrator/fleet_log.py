"""What a monitor tick says in the logs, in the manual's categories ([INSTANCE], [STREAM], ...)."""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from fingerv7.core.planning import format_balance_report
from fingerv7.core.planning.model import ChangeReason, InstanceState

if TYPE_CHECKING:
    from fingerv7.core.reconcile import TickDecision
    from fingerv7.storage.tick_store import TickWrite

log = logging.getLogger("fingerv7.orchestrator")

_STATE_LEVELS = {
    InstanceState.WARNING: logging.WARNING,
    InstanceState.INACTIVE: logging.ERROR,
}


def log_tick(
    decision: TickDecision,
    write: TickWrite,
    previous: dict[str, InstanceState],
) -> None:
    for instance_id in write.state_changed:
        new = decision.states[instance_id]
        level = _STATE_LEVELS.get(new, logging.INFO)
        log.log(
            level,
            "[INSTANCE] %s: %s -> %s",
            instance_id,
            previous[instance_id].value.upper(),
            new.value.upper(),
        )
    _log_changes(decision)
    plan = decision.plan
    if plan is not None and plan.unassigned:
        log.warning(
            "[STREAM] %d streams remain unassigned: insufficient capacity (%s)",
            len(plan.unassigned),
            ", ".join(sorted({reason.value for reason in plan.unassigned.values()})),
        )


def _log_changes(decision: TickDecision) -> None:
    plan = decision.plan
    if plan is None or not plan.changes:
        return
    flows = Counter((c.from_instance or "-", c.to_instance or "-", c.reason) for c in plan.changes)
    if plan.rebalanced:
        log.info(
            "[BALANCE] rebalancing: imbalance %.0f%% -> %.0f%%",
            plan.imbalance_before * 100,
            plan.imbalance_after * 100,
        )
        for line in format_balance_report(plan):
            log.info("[BALANCE] %s", line)
    for (source, target, reason), count in sorted(flows.items()):
        category = "[BALANCE]" if reason is ChangeReason.REBALANCE else "[STREAM]"
        log.info("%s %d streams %s -> %s (%s)", category, count, source, target, reason.value)
