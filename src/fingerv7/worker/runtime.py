"""Wires one worker process together and runs it until a signal: `fingerv7 worker`.

SIGTERM or SIGINT starts a drain (stop every stream, announce `stopping`, exit 0). A second
signal exits at once. A drain that overruns `SHUTDOWN_TIMEOUT_SECONDS` by more than a few seconds
is cut short too, so the process always ends in bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from fingerv7.processing import StreamProcessor
from fingerv7.retry import CircuitBreaker
from fingerv7.worker.agent import OrchestratedAgent
from fingerv7.worker.client import OrchestratorClient
from fingerv7.worker.http_server import WorkerHttpServer
from fingerv7.worker.journal import OwnershipJournal
from fingerv7.worker.presence import PresenceSnapshot, RedisPresence
from fingerv7.worker.processors import build_processor
from fingerv7.worker.reconciler import Reconciler
from fingerv7.worker.settings import WorkerSettings
from fingerv7.worker.static_mode import PostgresStreamSource, StaticAgent
from fingerv7.worker.status import AgentCounters, StatusReporter
from fingerv7.worker.stream_health import processor_problems
from fingerv7.worker.supervisor import StreamSupervisor
from fingerv7.worker.system_metrics import SystemSampler
from fingerv7.worker.watchdog import FreezeWatchdog, freeze_limit_s

logger = logging.getLogger("fingerv7.worker")

# Beyond SHUTDOWN_TIMEOUT_SECONDS: time for the `stopping` heartbeat and closing connections.
SHUTDOWN_GRACE_S = 5.0


class WorkerRuntime:
    """Everything one worker process owns, built from its settings."""

    def __init__(self, settings: WorkerSettings, processor: StreamProcessor | None = None) -> None:
        self.settings = settings
        self.shutdown = asyncio.Event()
        self.journal = OwnershipJournal(settings.worker_journal_path, settings.instance_id)
        self.processor = processor or build_processor(settings)
        self.counters = AgentCounters()
        self.sampler = SystemSampler()
        orchestrated = settings.use_orchestrator
        self.watchdog = FreezeWatchdog(
            freeze_limit_s(settings.heartbeat_interval, settings.effective_heartbeat_timeout),
            self._on_freeze,
        )
        lease = self.watchdog.lease_valid if orchestrated else (lambda: True)
        self.supervisor = StreamSupervisor(self.processor, self.journal, lease)
        self.reconciler = Reconciler(
            self.supervisor,
            max_streams=settings.max_streams,
            lease_valid=lease,
            stop_timeout_s=settings.shutdown_timeout_seconds,
        )
        self.client: OrchestratorClient | None = None
        self.agent: OrchestratedAgent | StaticAgent
        if orchestrated:
            assert settings.orchestrator_url is not None
            breaker = CircuitBreaker(
                failure_threshold=3, open_s=min(settings.heartbeat_interval, 30)
            )
            self.client = OrchestratorClient(
                settings.orchestrator_url,
                settings.instance_id,
                api_key=settings.orchestrator_api_key,
                breaker=breaker,
            )
            self.agent = OrchestratedAgent(
                settings,
                self.client,
                self.reconciler,
                self.watchdog,
                self.journal,
                self.counters,
                self.sampler,
            )
        else:
            source = PostgresStreamSource(settings.postgres_conninfo(), settings.streams_table_name)
            self.agent = StaticAgent(settings, source, self.reconciler, self.counters)
        self.presence: RedisPresence | None = None
        if settings.redis_url is not None:
            self.presence = RedisPresence(
                settings.redis_url.get_secret_value(),
                instance_id=settings.instance_id,
                key_prefix=settings.redis_key_prefix,
                channel=settings.redis_channel,
                ttl_s=settings.redis_heartbeat_ttl_secs,
            )
        self.reporter = StatusReporter(
            instance_id=settings.instance_id,
            mode="orchestrator" if orchestrated else "static",
            processor_name=self.processor.name,
            last_db_write=lambda: getattr(self.processor, "last_db_write", None),
            supervisor=self.supervisor,
            reconciler=self.reconciler,
            counters=self.counters,
            sampler=self.sampler,
            watchdog=self.watchdog if orchestrated else None,
            breaker=self.client.breaker if self.client else None,
            problems=lambda: processor_problems(self.processor),
            recognizers=lambda: getattr(self.processor, "recognizer_metrics", dict)(),
        )

    async def _on_freeze(self, gap_from_mono: float, gap_to_mono: float) -> None:
        if isinstance(self.agent, OrchestratedAgent):
            await self.agent.on_freeze(gap_from_mono, gap_to_mono)

    async def run(self) -> int:
        """Run until `shutdown` is set; returns the exit code."""
        self.journal.record_process("process_start")
        _log_ignored_settings(self.settings)
        http = WorkerHttpServer(
            self.reporter,
            self.settings.worker_http_host,
            self.settings.worker_http_port,
            key=self.settings.worker_http_key,
        )
        await http.start()
        background = [asyncio.create_task(self._presence_loop(), name="presence")]
        if self.settings.use_orchestrator:
            background.append(asyncio.create_task(self.watchdog.run(), name="freeze-watchdog"))
        try:
            return await self.agent.run(self.shutdown)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._close(http.stop)

    async def _close(self, stop_http: Callable[[], Awaitable[None]]) -> None:
        if self.presence is not None:
            await self.presence.withdraw()
            await self.presence.aclose()
        await stop_http()
        await self.processor.aclose()
        if self.client is not None:
            await self.client.aclose()
        self.journal.record_process("process_exit")
        self.journal.close()
        logger.info("[WORKER] %s stopped", self.settings.instance_id)

    async def _presence_loop(self) -> None:
        if self.presence is None:
            return
        while True:
            sample = self.sampler.sample()
            names = [r.stream.name for r in self.supervisor.running_streams()]
            await self.presence.publish(
                PresenceSnapshot(names, sample.cpu_percent, sample.memory_percent)
            )
            await asyncio.sleep(self.settings.heartbeat_interval)

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: drain. Second: exit at once. Overrun: exit anyway."""
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if self.shutdown.is_set():
                logger.warning("[WORKER] second %s: exiting now", signal.Signals(signum).name)
                os._exit(128 + signum)
            logger.info("[WORKER] %s received: draining", signal.Signals(signum).name)
            self.shutdown.set()
            deadline_s = self.settings.shutdown_timeout_seconds + SHUTDOWN_GRACE_S
            loop.call_later(deadline_s, _exit_after_overrun, deadline_s)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)


def _exit_after_overrun(deadline_s: float) -> None:
    logger.error("[WORKER] drain took longer than %.1f s: exiting now", deadline_s)
    os._exit(1)


def _log_ignored_settings(settings: WorkerSettings) -> None:
    if settings.duplicate_check_window is not None:
        logger.info(
            "[STARTUP] DUPLICATE_CHECK_WINDOW is ignored; DUPLICATE_PREVENTION_WINDOW_SECONDS "
            "(%d s) is the duplicate window",
            settings.duplicate_prevention_window_seconds,
        )


async def run_worker(settings: WorkerSettings) -> int:
    """The body of `fingerv7 worker`: build, install signal handlers, run, exit code."""
    runtime = WorkerRuntime(settings)
    runtime.install_signal_handlers()
    logger.info(
        "[STARTUP] worker %s starting (%s mode, processor %s)",
        settings.instance_id,
        "orchestrator" if settings.use_orchestrator else "static",
        runtime.processor.name,
    )
    with contextlib.suppress(asyncio.CancelledError):
        return await runtime.run()
    return 1
