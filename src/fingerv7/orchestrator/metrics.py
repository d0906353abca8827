"""Counters behind `/metrics` (the manual's JSON) and `/metrics/prometheus` (prometheus-client).

Each app gets its own CollectorRegistry, so several orchestrators in one test process never share
counters. Gauges that describe the fleet are filled from the database when scraped.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fingerv7.core.planning.model import InstanceState

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Requests that wait on purpose (the assignment long-poll): not part of the response time.
ERROR_RATE_WINDOW_S = 300.0  # the OrchestratorErrorRateHigh alert's window, as in alerts.yml


class RecentErrorRate:
    """Share of 5xx answers over the last `window_s` seconds, in one-second buckets."""

    def __init__(self, window_s: float = ERROR_RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._buckets: deque[list[int]] = deque()  # [second, requests, errors]

    def observe(self, failed: bool, now_s: float) -> None:
        second = int(now_s)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        self._buckets[-1][1] += 1
        self._buckets[-1][2] += int(failed)
        self._forget(now_s)

    def rate(self, now_s: float) -> float | None:
        """Errors / requests in the window; None when there was no request."""
        self._forget(now_s)
        requests = sum(b[1] for b in self._buckets)
        return sum(b[2] for b in self._buckets) / requests if requests else None

    def _forget(self, now_s: float) -> None:
        while self._buckets and self._buckets[0][0] <= now_s - self.window_s:
            self._buckets.popleft()


@dataclass
class RequestTotals:
    """Plain totals for the manual's JSON view."""

    requests: int = 0
    errors: int = 0
    response_time_s: float = 0.0
    timed_requests: int = 0  # requests counted in response_time_s (long-polls are not)
    heartbeats: int = 0
    discrepancies: int = 0
    started_monotonic: float = field(default_factory=time.monotonic)


class OrchestratorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.totals = RequestTotals()
        self.recent_errors = RecentErrorRate()
        r = self.registry
        self.instances = Gauge("fingerv7_instances", "Instances by state", ["state"], registry=r)
        self.capacity = Gauge(
            "fingerv7_capacity_streams", "Sum of max_streams of live instances", registry=r
        )
        self.streams = Gauge("fingerv7_streams", "Streams by status", ["status"], registry=r)
        self.imbalance = Gauge("fingerv7_imbalance_ratio", "max |load - average load|", registry=r)
        self.moves = Counter(
            "fingerv7_stream_moves", "Streams whose instance changed", ["reason"], registry=r
        )
        self.heartbeat_latency = Histogram(
            "fingerv7_heartbeat_latency_seconds",
            "Time to handle a heartbeat",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.tick_duration = Histogram(
            "fingerv7_monitor_tick_seconds",
            "Wall time of one monitor tick on the leader (outcome: noop or write)",
            ["outcome"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.failover_duration = Histogram(
            "fingerv7_failover_duration_seconds",
            "From an instance's last heartbeat to its streams being re-granted",
            buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.database_latency = Histogram(
            "fingerv7_database_latency_seconds",
            "Round trip of a trivial query",
            ["database"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.external_database_up = Gauge(
            "fingerv7_external_database_up", "1 when the streams source answered", registry=r
        )
        self.state_changes = Counter(
            "fingerv7_instance_state_changes",
            "Instance lifecycle transitions",
            ["instance_id", "to_state"],
            registry=r,
        )
        self.discrepancies = Counter(
            "fingerv7_discrepancies",
            "Streams an instance reported running without holding them (once per episode)",
            registry=r,
        )
        self.http_requests = Counter(
            "fingerv7_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.memory_ratio = Gauge(
            "fingerv7_process_resident_memory_ratio",
            "Resident memory of this process / total memory",
            registry=r,
        )

        self.stream_health = Gauge(
            "fingerv7_stream_health", "Streams by health state", ["state"], registry=r
        )
        self.streams_down_too_long = Gauge(
            "fingerv7_streams_down_too_long",
            "Streams not running for longer than STREAM_DOWN_ALERT_SECONDS",
            registry=r,
        )
        self.streams_silent_too_long = Gauge(
            "fingerv7_streams_silent_too_long",
            "Running streams without an identification for longer than STREAM_SILENT_ALERT_SECONDS",
            registry=r,
        )
        self.monitor_failing = Gauge(
            "fingerv7_monitor_failing",
            "1 while the monitor's ticks fail (see /health monitor.last_tick_error)",
            registry=r,
        )
        self.instances_with_problems = Gauge(
            "fingerv7_instances_with_problems",
            "Workers reporting a problem that stops them identifying (catalog empty, unreachable)",
            registry=r,
        )

        self.plays_buffered = Gauge(
            "fingerv7_instance_plays_buffered",
            "Plays an instance identified but has not yet written to music_log",
            ["instance_id"],
            registry=r,
        )
        self.plays_buffered_oldest = Gauge(
            "fingerv7_instance_plays_buffered_oldest_seconds",
            "Age of an instance's oldest play not yet in music_log (as of its last heartbeat)",
            ["instance_id"],
            registry=r,
        )

    def set_play_logs(self, backlogs: dict[str, dict[str, Any]]) -> None:
        """Per instance that reports one, its play-log backlog; other instances have no series."""
        self.plays_buffered.clear()
        self.plays_buffered_oldest.clear()
        for instance_id, backlog in backlogs.items():
            self.plays_buffered.labels(instance_id).set(backlog["plays_buffered"])
            self.plays_buffered_oldest.labels(instance_id).set(backlog["oldest_age_seconds"])

    def forget_instance(self, instance_id: str) -> None:
        """Drop the per-instance series of an instance that no longer exists."""
        for state in InstanceState:
            with contextlib.suppress(KeyError):
                self.state_changes.remove(instance_id, state.value)

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, *, waits: bool = False
    ) -> None:
        """Count one request; `waits` (a long-poll) stays out of the average response time."""
        self.totals.requests += 1
        if not waits:
            self.totals.timed_requests += 1
            self.totals.response_time_s += seconds
        if status >= 500:
            self.totals.errors += 1
        self.recent_errors.observe(status >= 500, time.monotonic())
        self.http_requests.labels(method, route, str(status)).inc()
