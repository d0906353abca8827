"""Everything one orchestrator process runs, and its startup sequence (manual: [STARTUP] steps).

Each dependency is retried with (exponential) backoff up to its startup timeout; a failure names
what is unreachable, never a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis.asyncio as redis_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.orchestrator.assignment_cache import AssignmentCache
from fingerv7.orchestrator.audit_retention import ChangeAuditRetention
from fingerv7.orchestrator.controller import FleetController
from fingerv7.orchestrator.discrepancies import DiscrepancyRecorder
from fingerv7.orchestrator.heartbeat_intake import HeartbeatIntake
from fingerv7.orchestrator.leadership import Leadership, holder_id
from fingerv7.orchestrator.metrics import OrchestratorMetrics
from fingerv7.orchestrator.quarantine import StreamQuarantine
from fingerv7.orchestrator.registration_intake import RegistrationIntake
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.orchestrator.stream_health import (
    FleetFacts,
    StreamHealthBook,
    instance_facts,
    watch_stream_alerts,
)
from fingerv7.orchestrator.tick_observers import AlertObserver, MetricsObserver
from fingerv7.orchestrator.tick_records import ownership_of
from fingerv7.storage.clock import is_postgresql
from fingerv7.storage.database import create_engine, ping
from fingerv7.storage.database_url import describe_url
from fingerv7.storage.fleet_rows import FleetStorage
from fingerv7.storage.fleet_store import FleetStore
from fingerv7.storage.leader_lease import LeaderLease
from fingerv7.storage.listener import NotificationListener, cancel
from fingerv7.storage.migrate import upgrade_to_head
from fingerv7.storage.report_store import ReportStorage, ReportStore
from fingerv7.storage.stream_health_store import StreamHealthStore
from fingerv7.storage.stream_source import SqlStreamSource, build_source_engine
from fingerv7.storage.tick_store import ASSIGNMENTS_CHANNEL, REPORTS_CHANNEL, TickStore

log = logging.getLogger("fingerv7.orchestrator")
T = TypeVar("T")


REQUEST_POOL_WAIT_S = 5.0
CONTROL_POOL_SIZE = 6  # lease, tick, heartbeat writer, cache refresh, bounded cache misses


class StartupError(RuntimeError):
    """A dependency stayed unreachable past its startup timeout (message is safe to print)."""


@dataclass
class OrchestratorRuntime:
    settings: OrchestratorSettings
    engine: AsyncEngine
    store: FleetStorage
    source: SqlStreamSource
    source_engine: AsyncEngine | None
    controller: FleetController
    cache: AssignmentCache
    intake: HeartbeatIntake
    metrics: OrchestratorMetrics
    stream_health: StreamHealthBook
    discrepancies: DiscrepancyRecorder
    quarantine: StreamQuarantine
    registrations: RegistrationIntake
    listener: NotificationListener | None = None
    control_engine: AsyncEngine | None = None  # the monitor's own pool (see _start)
    redis: redis_asyncio.Redis | None = None
    alerts: AlertObserver | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    health_cache: tuple[float, dict[str, Any] | None] = (0.0, None)  # (monotonic s, services)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def begin_shutdown(self) -> None:
        """First thing on SIGTERM/SIGINT: stop judging instances, answer open long-polls.

        While the server drains connections no heartbeat can arrive, so a monitor still running
        would declare every instance dead and move streams that nobody lost.
        """
        self.controller.stop()
        self.cache.close()
        if self.listener is not None:
            self.listener.stop()

    async def stop(self) -> None:
        self.begin_shutdown()
        for task in self._tasks:
            if task.get_name() == "stream-alerts":  # a plain loop, nothing to finish
                task.cancel()
        await self.intake.close()  # a last `stopping` beat must reach the database
        controller, *others = self._tasks
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(controller, timeout=5)
        for task in others:
            await cancel(task)
        if self.alerts is not None:
            await self.alerts.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        if self.source_engine is not None:
            await self.source_engine.dispose()
        if self.control_engine is not None:
            await self.control_engine.dispose()
        await self.engine.dispose()


async def start_runtime(settings: OrchestratorSettings) -> OrchestratorRuntime:
    """Run the manual's startup sequence, bounded by APP_STARTUP_TIMEOUT, and start the monitor."""
    try:
        return await asyncio.wait_for(_start(settings), timeout=settings.app_startup_timeout)
    except TimeoutError:
        limit_s = settings.app_startup_timeout
        raise StartupError(
            f"startup did not complete within APP_STARTUP_TIMEOUT ({limit_s:g}s)"
        ) from None


async def _start(settings: OrchestratorSettings) -> OrchestratorRuntime:
    log.info("[STARTUP] === ORCHESTRATOR STARTUP SEQUENCE ===")
    for warning in settings.timeout_warnings():
        log.warning("[STARTUP] %s", warning)
    database_url = settings.database_url.get_secret_value()
    described = describe_url(database_url)
    if settings.max_workers > 1 and described.startswith("sqlite"):
        raise StartupError(
            "MAX_WORKERS > 1 needs PostgreSQL (DATABASE_URL=postgresql://...): "
            "SQLite runs one process"
        )
    # Two pools: request handlers may exhaust theirs in a burst (and answer 503 after a short
    # wait); the monitor, the lease, the heartbeat writer and the cache keep their own.
    engine = create_engine(
        database_url, pool_size=settings.database_pool_size, pool_timeout_s=REQUEST_POOL_WAIT_S
    )
    control_engine = create_engine(
        database_url,
        pool_size=CONTROL_POOL_SIZE,
        # A leader paused mid-write loses its transaction (and its locks) soon after its lease;
        # not sooner, so a busy moment between two statements of a big write is not fatal.
        idle_in_transaction_s=max(10.0, 2 * settings.leader_lease_seconds),
    )
    await _with_backoff(
        lambda: ping(engine),
        f"orchestrator database {described}",
        settings.postgres_startup_timeout,
        settings.exponential_backoff,
    )
    log.info("[STARTUP] orchestrator database ready (%s)", described)
    if settings.run_migrations:
        await asyncio.to_thread(upgrade_to_head, database_url)
        log.info("[STARTUP] database schema is up to date")

    source_engine = None
    if settings.uses_external_source:
        source_engine = build_source_engine(
            host=settings.postgres_host or "",
            port=settings.postgres_port,
            database=settings.postgres_db,
            user=settings.postgres_user,
            password=settings.postgres_password.get_secret_value(),
        )
        source = SqlStreamSource(source_engine, settings.db_table_name)
    else:
        source = SqlStreamSource(engine, "streams")
    await _with_backoff(
        source.ping,
        f"streams source {source.description}",
        settings.postgres_startup_timeout,
        settings.exponential_backoff,
    )
    log.info("[STARTUP] connected to streams source (%s)", source.description)

    redis_client = await _connect_redis(settings)
    try:
        runtime = build_runtime(
            settings,
            engine=engine,
            control_engine=control_engine,
            store=FleetStore(engine),
            source=source,
            source_engine=source_engine,
            redis=redis_client,
        )
    except ValueError as error:  # an alert webhook URL that cannot be used
        raise StartupError(str(error)) from None
    _start_tasks(runtime)
    log.info("[STARTUP] === STARTUP SEQUENCE COMPLETED SUCCESSFULLY ===")
    return runtime


def build_runtime(
    settings: OrchestratorSettings,
    *,
    engine: AsyncEngine,
    store: FleetStorage,
    source: SqlStreamSource,
    control_engine: AsyncEngine | None = None,
    source_engine: AsyncEngine | None = None,
    redis: redis_asyncio.Redis | None = None,
    reports: ReportStorage | None = None,
) -> OrchestratorRuntime:
    """One orchestrator's parts wired together; nothing connected, nothing started.

    `engine` is the request handlers' pool (and `store`'s, when it is a `FleetStore`);
    `control_engine`, the monitor's own (lease, tick, heartbeat writer, cache), defaults to it;
    `reports` (heartbeat batches, the answer cache's reads) to a `ReportStore` on it.
    Raises ValueError for alert settings that cannot be used (a webhook URL, say).
    """
    control = control_engine or engine
    if reports is None:
        reports = ReportStore(control)
    cache = AssignmentCache(reports)
    metrics = OrchestratorMetrics()
    discrepancies = DiscrepancyRecorder(store, metrics)
    alerts = AlertObserver(settings, metrics)
    lease = LeaderLease(control, holder_id(), settings.leader_lease_seconds)
    leadership = Leadership(lease)
    quarantine = StreamQuarantine(
        settings.stream_quarantine_seconds,
        request=lambda streams: controller.request_move_away(streams),
        load_moved=store.quarantined_streams,
        epoch=lambda: leadership.epoch,
    )
    controller = FleetController(
        TickStore(control),
        source,
        settings,
        leadership,
        on_generation=cache.request_refresh,
        observers=[
            MetricsObserver(metrics),
            alerts,
            discrepancies,
            quarantine,
            ChangeAuditRetention(store.prune_changes, settings.stream_changes_retention_days),
        ],
    )
    intake = HeartbeatIntake(
        reports, controller.wake, idle_flush_s=settings.heartbeat_flush_interval
    )
    listener = None
    if is_postgresql(engine.dialect):  # other processes write too: hear about it
        listener = NotificationListener(
            settings.database_url.get_secret_value(),
            {ASSIGNMENTS_CHANNEL: cache.request_refresh, REPORTS_CHANNEL: controller.wake},
        )
    return OrchestratorRuntime(
        settings=settings,
        engine=engine,
        store=store,
        source=source,
        source_engine=source_engine,
        controller=controller,
        cache=cache,
        intake=intake,
        metrics=metrics,
        stream_health=StreamHealthBook(StreamHealthStore(engine), settings),
        discrepancies=discrepancies,
        quarantine=quarantine,
        registrations=RegistrationIntake(store.register_many),
        listener=listener,
        control_engine=control_engine,
        redis=redis,
        alerts=alerts,
    )


def _start_tasks(runtime: OrchestratorRuntime) -> None:
    """The long-lived tasks, the monitor first (`stop` waits for it before the others)."""
    tasks = runtime._tasks
    tasks.append(asyncio.create_task(runtime.controller.run(), name="fleet-controller"))
    tasks.append(asyncio.create_task(runtime.intake.run(), name="heartbeat-intake"))
    tasks.append(asyncio.create_task(runtime.cache.run(), name="assignment-cache"))
    if runtime.listener is not None:
        tasks.append(asyncio.create_task(runtime.listener.run(), name="notification-listener"))
    tasks.append(_stream_alerts_task(runtime))


def _stream_alerts_task(runtime: OrchestratorRuntime) -> asyncio.Task[None]:
    async def facts() -> FleetFacts:
        """The leader's own view when it has one; the database's otherwise."""
        view = runtime.controller.ownership_view()
        if view is None:
            return instance_facts(await runtime.store.instances()), await runtime.store.ownership()
        rows, holdings, stream_ids = view
        # 100,000 streams: listed off the event loop, like the judging that follows.
        return instance_facts(rows), await asyncio.to_thread(ownership_of, holdings, stream_ids)

    alerts = runtime.alerts
    return asyncio.create_task(
        watch_stream_alerts(
            runtime.stream_health,
            facts,
            lambda: runtime.controller.is_leader,
            alerts.send if alerts is not None else lambda events: None,
            every_s=alert_pass_interval(runtime.settings),
            review=runtime.quarantine.review,
        ),
        name="stream-alerts",
    )


def alert_pass_interval(settings: OrchestratorSettings) -> float:
    """A tenth of the shortest stream-alert threshold (30 s with the defaults), at least 1 s:
    an alert fires within 10 % of its threshold, and a pass judging 100,000 streams runs
    twice a minute, not every heartbeat interval. The quarantine's threshold counts when on."""
    thresholds = [settings.stream_down_alert_seconds, settings.stream_silent_alert_seconds]
    if settings.stream_quarantine_seconds > 0:
        thresholds.append(settings.stream_quarantine_seconds)
    return max(1.0, min(thresholds) / 10)


async def _connect_redis(settings: OrchestratorSettings) -> redis_asyncio.Redis | None:
    if settings.redis_url is None:
        return None
    client = redis_asyncio.Redis.from_url(settings.redis_url.get_secret_value())
    await _with_backoff(
        client.ping, "Redis", settings.redis_startup_timeout, settings.exponential_backoff
    )
    log.info("[STARTUP] Redis ready")
    return client


async def _with_backoff(
    attempt: Callable[[], Awaitable[T]], what: str, timeout_s: float, exponential: bool
) -> T:
    deadline = time.monotonic() + timeout_s
    delay_s = 0.5
    while True:
        try:
            return await attempt()
        except Exception as error:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise StartupError(
                    f"{what} unreachable after {timeout_s:g}s: {type(error).__name__}"
                ) from None
            log.warning("[STARTUP] waiting for %s (%s)", what, type(error).__name__)
            await asyncio.sleep(min(delay_s, remaining_s))
            delay_s = min(delay_s * 2, 10.0) if exponential else delay_s
