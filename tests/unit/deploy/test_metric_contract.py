"""The metric names the alert rules and the dashboard are written against are the ones served."""

from __future__ import annotations

from fingerv7.orchestrator.metrics import OrchestratorMetrics

from .contract import HISTOGRAMS, ORCHESTRATOR_METRICS


def test_orchestrator_serves_exactly_the_contracted_metrics() -> None:
    served = set()
    for family in OrchestratorMetrics().registry.collect():
        # prometheus-client names a counter's family without the `_total` its samples carry.
        served.add(f"{family.name}_total" if family.type == "counter" else family.name)

    fingerv7_metrics = {name for name in served if name.startswith("fingerv7_")}
    assert fingerv7_metrics == ORCHESTRATOR_METRICS | HISTOGRAMS
