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
        yield from _recognizer_metrics(reporter)
        yield counter(
            "fingerv7_worker_heartbeat_failures",
            "Heartbeats that did not reach the orchestrator",
            counters.heartbeat_failures,
        )


_RECOGNIZER_COUNTERS = {
    "calls": "Calls made to an external recognizer",
    "rate_limited": "HTTP 429 answers from an external recognizer",
    "errors": "Failed calls to an external recognizer",
    "named": "Calls that named a song",
    "refused_by_budget": "Calls the worker's budget did not allow",
    "refused_by_egress": "Calls the egress's shared limit (all its workers) did not allow",
    "spend": "Money spent on calls (RECOGNIZER_COST_PER_CALL each)",
}


def _recognizer_metrics(reporter: StatusReporter) -> Iterator[Metric]:
    """Per external recognizer (label `recognizer`): calls, 429s, errors, names, spend."""
    report = reporter.recognizers()
    services = {name: counts for name, counts in report.items() if name != "fallback"}
    if not services:
        return
    labels = ["instance_id", "recognizer"]
    for key, documentation in _RECOGNIZER_COUNTERS.items():
        family = CounterMetricFamily(
            f"fingerv7_worker_recognizer_{key}", documentation, labels=labels
        )
        for name, counts in services.items():
            family.add_metric([reporter.instance_id, name], counts[key])
        yield family
    skips = CounterMetricFamily(
        "fingerv7_worker_recognizer_skipped_windows",
        "Windows not sent to a fallback: not music, or the song already named",
        labels=["instance_id", "reason"],
    )
    for reason in ("not_music", "song_named"):
        skips.add_metric([reporter.instance_id, reason], report["fallback"][f"skipped_{reason}"])
    yield skips


def exposition(reporter: StatusReporter) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(reporter))
    return generate_latest(registry)
