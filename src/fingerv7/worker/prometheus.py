"""The worker's Prometheus exposition (`GET /metrics/prometheus`), read live from its status.

A custom collector rather than counters updated in the hot path: every scrape reads the same
totals that `/metrics` shows, so the two views can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fingerv7.worker.status import StatusReporter


class WorkerCollector(Collector):
    def __init__(self, reporter: StatusReporter) -> None:
        self.reporter = reporter

    def collect(self) -> Iterator[Metric]:
        reporter = self.reporter
        totals = reporter.supervisor.totals()
        stream_ids, generation = reporter.reconciler.report()
        counters = reporter.counters
        labels = ["instance_id"]
        values = [reporter.instance_id]

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, documentation, labels=labels)
            family.add_metric(values, value)
            return family

        def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, documentation, labels=labels)
            family.add_metric(values, value)
            return family

        yield gauge("fingerv7_worker_up", "1 while the worker runs", 1)
        yield gauge("fingerv7_worker_streams_running", "Stream tasks running", len(stream_ids))
        yield gauge("fingerv7_worker_generation", "Last applied assignment generation", generation)
        yield counter("fingerv7_worker_processed", "Units of work done", totals.processed)
        yield counter("fingerv7_worker_errors", "Stream errors", totals.errors)
        yield counter("fingerv7_worker_stream_restarts", "Stream task restarts", totals.restarts)
        yield counter("fingerv7_worker_bytes_read", "Audio bytes read", totals.bytes_read)
        yield counter("fingerv7_worker_identifications", "Songs identified", totals.identifications)
        backlog = reporter.play_log_backlog()
        if backlog is not None:
            yield gauge(
                "fingerv7_worker_plays_buffered",
                "Plays identified but not yet in music_log",
                float(backlog["plays_buffered"]),
            )
            yield gauge(
                "fingerv7_worker_plays_buffered_oldest_seconds",
                "Age of the oldest play not yet in music_log",
                float(backlog["oldest_age_seconds"]),
            )
        yield counter(
            "fingerv7_worker_heartbeat_failures",
            "Heartbeats that did not reach the orchestrator",
            counters.heartbeat_failures,
        )


def exposition(reporter: StatusReporter) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(reporter))
    return generate_latest(registry)
