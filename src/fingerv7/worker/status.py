"""What the worker says about itself: `/health`, `/metrics` (the manual's per-instance JSON).

The agent updates an :class:`AgentCounters`; :class:`StatusReporter` turns it, the supervisor's
stream stats and a psutil sample into JSON. No I/O here, so both documents are easy to test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fingerv7.core.credentials import RedactsLastError
from fingerv7.core.durations import format_uptime
from fingerv7.retry import CircuitBreaker
from fingerv7.worker.reconciler import Reconciler
from fingerv7.worker.stream_health import play_log_backlog
from fingerv7.worker.supervisor import StreamSupervisor
from fingerv7.worker.system_metrics import SystemSampler
from fingerv7.worker.watchdog import FreezeWatchdog


@dataclass(slots=True)
class AgentCounters(RedactsLastError):
    """Facts about the worker's dealings with the orchestrator (or its static source)."""

    registered: bool = False
    orchestrator_reachable: bool | None = None
    last_contact: datetime | None = None
    heartbeats_ok: int = 0
    heartbeat_failures: int = 0
    registrations: int = 0
    unknown_instance_resets: int = 0
    stale_answers: int = 0
    last_error: str | None = None
    stopping: bool = False


class StatusReporter:
    """Builds the `/health` and `/metrics` documents from live objects."""

    def __init__(
        self,
        *,
        instance_id: str,
        mode: str,
        processor_name: str,
        supervisor: StreamSupervisor,
        last_db_write: Callable[[], datetime | None] = lambda: None,
        reconciler: Reconciler,
        counters: AgentCounters,
        sampler: SystemSampler,
        watchdog: FreezeWatchdog | None = None,
        breaker: CircuitBreaker | None = None,
        problems: Callable[[], list[str]] = list,
        recognizers: Callable[[], dict[str, dict[str, float]]] = dict,
    ) -> None:
        self.problems = problems
        self.instance_id = instance_id
        self.mode = mode
        self.processor_name = processor_name
        self.last_db_write = last_db_write
        self.supervisor = supervisor
        self.reconciler = reconciler
        self.counters = counters
        self.sampler = sampler
        self.watchdog = watchdog
        self.breaker = breaker
        self.recognizers = recognizers  # external recognizers' calls, 429s, spend (fingerprint)
        self._started_mono = time.monotonic()

    def uptime_s(self) -> float:
        return time.monotonic() - self._started_mono

    def health(self) -> tuple[dict[str, Any], int]:
        """(document, HTTP status): 200 while working, 503 while stopping or frozen."""
        counters = self.counters
        if counters.stopping:
            status = "stopping"
        elif self.watchdog is not None and self.watchdog.fenced:
            status = "resyncing"
        elif self.mode == "orchestrator" and not counters.orchestrator_reachable:
            status = "degraded"  # streams keep running; the orchestrator is not answering
        else:
            status = "healthy"
        problems = self.problems()
        if problems and status == "healthy":
            status = "degraded"  # running, but cannot do its job (an empty catalog, say)
        stream_ids, generation = self.reconciler.report()
        document: dict[str, Any] = {
            "status": status,
            "instance_id": self.instance_id,
            "mode": self.mode,
            "timestamp": datetime.now(UTC).isoformat(),
            "uptime_seconds": round(self.uptime_s(), 3),
            "streams_running": len(stream_ids),
            "generation": generation,
            "processor": self.processor_name,
            "problems": problems,
            "orchestrator": {
                "registered": counters.registered,
                "reachable": counters.orchestrator_reachable,
                "last_contact": _iso(counters.last_contact),
                "circuit": self.breaker.state.value if self.breaker else None,
                "last_error": counters.last_error,
            },
        }
        code = 503 if status in ("stopping", "resyncing") else 200
        return document, code

    def metrics(self) -> dict[str, Any]:
        totals = self.supervisor.totals()
        attempts = totals.processed + totals.errors
        sample = self.sampler.sample()
        stream_ids, generation = self.reconciler.report()
        counters = self.counters
        return {
            "instance_id": self.instance_id,
            "uptime": format_uptime(self.uptime_s()),
            "uptime_seconds": round(self.uptime_s(), 3),
            "streams_assigned": len(stream_ids),
            "streams_processed": totals.processed,
            "success_rate": round(totals.processed / attempts, 4) if attempts else 1.0,
            "error_count": totals.errors,
            "cpu_usage": sample.cpu_percent,
            "memory_usage": sample.memory_percent,
            "process_cpu_usage": sample.process_cpu_percent,
            "process_memory_usage": sample.process_memory_percent,
            "vpn_status": "not_managed",
            "vpn_ip": None,
            "last_db_write": _iso(self.last_db_write()),
            "processor": self.processor_name,
            "mode": self.mode,
            "generation": generation,
            "bytes_read": totals.bytes_read,
            "identifications": totals.identifications,
            "stream_restarts": totals.restarts,
            "heartbeats_ok": counters.heartbeats_ok,
            "heartbeat_failures": counters.heartbeat_failures,
            "registrations": counters.registrations,
            "unknown_instance_resets": counters.unknown_instance_resets,
            "stale_answers_ignored": counters.stale_answers,
            "freezes_detected": self.watchdog.freezes_detected if self.watchdog else 0,
            "circuit_breaker_opened": self.breaker.times_opened if self.breaker else 0,
            "play_log": self.play_log_backlog(),
            "streams": [self._stream_entry(stream_id) for stream_id in stream_ids],
            "recognizers": self.recognizers(),
        }

    def play_log_backlog(self) -> dict[str, Any] | None:
        """The processor's play-log backlog, when it logs plays (fingerprint)."""
        return play_log_backlog(self.supervisor.processor)

    def _stream_entry(self, stream_id: int) -> dict[str, Any]:
        running = self.supervisor.get(stream_id)
        if running is None:
            return {"id": stream_id, "status": "stopped"}
        stats = running.stats
        return {
            "id": stream_id,
            "name": running.stream.name,
            "status": "stopping" if running.stopping else stats.status,
            "processed": stats.processed,
            "errors": stats.errors,
            "bytes_read": stats.bytes_read,
            "identifications": stats.identifications,
            "restarts": stats.restarts,
            "last_activity": _iso(stats.last_activity),
            "last_error": stats.last_error,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
