"""What happens after each monitor tick besides the write: metrics and alert notifications.

Observers never slow the monitor down or stop it: each is called with the tick's facts and any
error it raises is logged and swallowed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil

from fingerv7.core.alerting import (
    AlertEvaluator,
    AlertEvent,
    FleetSnapshot,
    StateChangeWindow,
    default_rules,
)
from fingerv7.core.planning.model import ChangeReason, InstanceState
from fingerv7.core.reconcile import TickDecision
from fingerv7.orchestrator.metrics import OrchestratorMetrics
from fingerv7.orchestrator.notifications import WebhookNotifier, webhook_targets
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.tick_store import InstanceRow, TickWrite

log = logging.getLogger("fingerv7.orchestrator")


@dataclass(frozen=True, slots=True)
class TickFacts:
    """One tick as observers see it: the decision, what was written, the rows it read."""

    now: datetime
    decision: TickDecision
    write: TickWrite | None  # None when the tick changed nothing
    rows: list[InstanceRow]
    source_up: bool | None  # None when the source was not read this tick


class MetricsObserver:
    """Counts moves, lifecycle transitions and failover durations for Prometheus.

    Per-instance series last as long as their instance: those of removed (or deregistered)
    instances are dropped, so ids that come and go cannot grow the exposition without bound.
    """

    def __init__(self, metrics: OrchestratorMetrics) -> None:
        self.metrics = metrics
        self.labelled: set[str] = set()

    async def __call__(self, facts: TickFacts) -> None:
        self._forget_gone_instances(facts)
        if facts.write is None:
            return
        for change in facts.write.changes:
            self.metrics.moves.labels(change.reason.value).inc()
        last_seen = {row.id: row.last_seen_at for row in facts.rows}
        for instance_id in facts.write.state_changed:
            state = facts.decision.states[instance_id]
            if state is not InstanceState.REMOVED:
                self.metrics.state_changes.labels(instance_id, state.value).inc()
                self.labelled.add(instance_id)
        failed = {c.from_instance for c in facts.write.changes if c.reason is ChangeReason.FAILOVER}
        for lost in failed:
            if lost is not None and lost in last_seen:
                silent_s = (facts.now - last_seen[lost]).total_seconds()
                self.metrics.failover_duration.observe(max(0.0, silent_s))

    def _forget_gone_instances(self, facts: TickFacts) -> None:
        live = {
            i for i, state in facts.decision.states.items() if state is not InstanceState.REMOVED
        }
        for instance_id in self.labelled - live:
            self.metrics.forget_instance(instance_id)
        self.labelled &= live


class AlertObserver:
    """Evaluates the manual's alerts every tick and sends what fires or resolves to webhooks."""

    def __init__(self, settings: OrchestratorSettings, metrics: OrchestratorMetrics) -> None:
        self.metrics = metrics
        self.evaluator = AlertEvaluator(default_rules(), cooldown_s=settings.alert_cooldown_seconds)
        self.flaps = StateChangeWindow(window_s=1800)
        self.source_up = True
        self.unassigned = 0
        targets = webhook_targets(
            slack_urls=_secret(settings.alert_slack_webhook_url),
            discord_urls=_secret(settings.alert_discord_webhook_url),
            generic_urls=_secret(settings.alert_webhook_url),
        )
        self.notifier = WebhookNotifier(targets) if targets else None
        self._sending: set[asyncio.Task[Any]] = set()

    async def __call__(self, facts: TickFacts) -> None:
        now_s = facts.now.timestamp()
        if facts.decision.plan is not None:
            self.unassigned = len(facts.decision.plan.unassigned)
        if facts.source_up is not None:
            self.source_up = facts.source_up
        if facts.write is not None:
            for instance_id in facts.write.state_changed:
                # Flapping is ACTIVE <-> INACTIVE cycles: count entries into INACTIVE only (one
                # crash and restart passes through five states, but is one cycle).
                if facts.decision.states.get(instance_id) is InstanceState.INACTIVE:
                    self.flaps.record(instance_id, now_s)
        snapshot = FleetSnapshot(
            active_instances=sum(
                1 for s in facts.decision.states.values() if s is InstanceState.ACTIVE
            ),
            unassigned_streams=self.unassigned,
            external_db_up=self.source_up,
            # This process's memory, as the Prometheus rule reads it; not the whole host's.
            memory_ratio=psutil.Process().memory_info().rss / psutil.virtual_memory().total,
            error_rate=self.metrics.recent_errors.rate(time.monotonic()),
            state_changes_by_instance=self.flaps.counts(now_s),
        )
        events = self.evaluator.evaluate(snapshot, now_s)
        for event in events:
            log.warning("[ALERT] %s (%s): %s", event.rule, event.subject, event.status.value)
        self.send(events)

    def send(self, events: list[AlertEvent]) -> None:
        """Post `events` to the webhooks in the background (also used by the stream alerts)."""
        if events and self.notifier is not None:
            task = asyncio.create_task(self.notifier.notify(events))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def aclose(self) -> None:
        if self._sending:
            await asyncio.wait(self._sending, timeout=5)
        if self.notifier is not None:
            await self.notifier.aclose()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
