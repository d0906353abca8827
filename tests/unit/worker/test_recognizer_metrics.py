"""The external recognizers' counters in the worker's Prometheus exposition."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from fingerv7.audio.fallback import FallbackPolicy, FallbackService
from fingerv7.worker.prometheus import _recognizer_metrics
from fingerv7.worker.status import StatusReporter


class _Only(Collector):
    def __init__(self, reporter: StatusReporter) -> None:
        self.reporter = reporter

    def collect(self) -> Iterator[Metric]:
        yield from _recognizer_metrics(self.reporter)


class _NeverNames:
    name = "http"

    def recognize_clip(self, samples: object, sample_rate_hz: int) -> None:
        return None

    def close(self) -> None:
        pass


def exposition(report: dict[str, dict[str, float]]) -> str:
    reporter = SimpleNamespace(instance_id="w-1", recognizers=lambda: report)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Only(cast(StatusReporter, reporter)))
    return generate_latest(registry).decode()


def test_calls_429s_and_spend_are_exported_per_recognizer() -> None:
    policy = FallbackPolicy(
        window_s=5, sample_rate_hz=8000, requests_per_minute=6, cost_per_call=0.5
    )
    service = FallbackService(["http"], [_NeverNames()], policy)
    budget = service.budgets["http"]
    assert budget.try_acquire(1, 0.0)
    budget.rate_limited(0.0, 30.0)
    service.count("skipped_not_music")
    text = exposition(service.metrics())
    assert 'fingerv7_worker_recognizer_calls_total{instance_id="w-1",recognizer="http"} 1.0' in text
    assert (
        'fingerv7_worker_recognizer_rate_limited_total{instance_id="w-1",recognizer="http"} 1.0'
        in text
    )
    assert 'fingerv7_worker_recognizer_spend_total{instance_id="w-1",recognizer="http"} 0.5' in text
    assert (
        'fingerv7_worker_recognizer_skipped_windows_total{instance_id="w-1",reason="not_music"} 1.0'
        in text
    )


def test_nothing_is_exported_without_fallbacks() -> None:
    assert "recognizer" not in exposition({})
