"""The orchestrated worker: register, beat, long-poll, reconcile, drain (docs/protocol.md).

Two loops share one reconciler. The heartbeat loop reports what runs every interval, and at once
whenever the running set changed, so the orchestrator learns of a release within milliseconds.
The long-poll loop keeps one `GET /instances/{id}/assignment` open so a new desired set arrives as
soon as the orchestrator decides it. Either answer is applied; older generations are ignored.

An unreachable orchestrator never stops a stream. "Unknown instance" (404) and a detected freeze
do: the worker then owns nothing, so it drops everything and registers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence

from fingerv7 import __version__
from fingerv7.processing import AssignedStream
from fingerv7.retry import ExponentialBackoff
from fingerv7.worker.client import (
    InstanceUnknown,
    OrchestratorClient,
    OrchestratorRejected,
    OrchestratorUnavailable,
)
from fingerv7.worker.journal import OwnershipJournal
from fingerv7.worker.messages import (
    HeartbeatRequest,
    InstanceStatus,
    RegisterRequest,
    utc_now,
)
from fingerv7.worker.reconciler import ApplyOutcome, Reconciler
from fingerv7.worker.settings import WorkerSettings
from fingerv7.worker.status import AgentCounters
from fingerv7.worker.stream_health import (
    HealthDelta,
    ProblemTracker,
    play_log_report,
    stream_reports,
)
from fingerv7.worker.system_metrics import SystemSampler
from fingerv7.worker.watchdog import FreezeWatchdog

logger = logging.getLogger("fingerv7.worker.agent")

STOPPING_HEARTBEAT_TIMEOUT_S = 2.0
RETRY_BASE_S = 0.2


class WorkerFatalError(Exception):
    """The orchestrator refused us for a reason only a person can fix (bad key, invalid id)."""


class OrchestratedAgent:
    """Runs one worker against an orchestrator until shutdown."""

    def __init__(
        self,
        settings: WorkerSettings,
        client: OrchestratorClient,
        reconciler: Reconciler,
        watchdog: FreezeWatchdog,
        journal: OwnershipJournal,
        counters: AgentCounters,
        sampler: SystemSampler,
    ) -> None:
        self.settings = settings
        self.client = client
        self.reconciler = reconciler
        self.watchdog = watchdog
        self.journal = journal
        self.counters = counters
        self.sampler = sampler
        self.heartbeat_interval_s = settings.heartbeat_interval
        self._registered = asyncio.Event()
        self._register_lock = asyncio.Lock()
        self._retry_max_s = max(RETRY_BASE_S, min(settings.heartbeat_interval, 30.0))
        self._health_delta = HealthDelta()
        self._problems = ProblemTracker()

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self, shutdown: asyncio.Event) -> int:
        """Work until `shutdown` is set, then drain; 0 on a clean exit."""
        loops = {
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._poll_loop(), name="assignment-poll"),
        }
        stop_wait = asyncio.create_task(shutdown.wait(), name="shutdown-wait")
        done, _ = await asyncio.wait({*loops, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        failure = next((t.exception() for t in done if t is not stop_wait), None)
        for task in (*loops, stop_wait):
            task.cancel()
        await asyncio.gather(*loops, stop_wait, return_exceptions=True)
        await self.drain()
        if failure is not None:
            raise failure
        return 0

    async def on_freeze(self, gap_from_mono: float, gap_to_mono: float) -> None:
        """Watchdog callback: we were frozen; the streams may be elsewhere now. Drop them all."""
        self.journal.record_fence(gap_from_mono, gap_to_mono, self.watchdog.tick_s)
        await self._forget(reason="frozen longer than the heartbeat timeout")

    async def drain(self) -> None:
        """Stop every stream, then tell the orchestrator we run nothing (status `stopping`)."""
        self.counters.stopping = True
        last_generation = self.reconciler.applied_generation
        all_stopped = await self.reconciler.reset(reason="shutdown")
        if not all_stopped:
            logger.error("[WORKER] some streams did not stop; not announcing `stopping`")
            return
        if not self.counters.registered:
            return
        try:
            await self.client.heartbeat(
                self._heartbeat_request("stopping", [], last_generation),
                timeout_s=STOPPING_HEARTBEAT_TIMEOUT_S,
            )
            logger.info("[WORKER] told the orchestrator we are stopping; streams released")
        except (OrchestratorUnavailable, OrchestratorRejected, InstanceUnknown) as exc:
            logger.warning("[WORKER] could not announce `stopping` (%s); it will time us out", exc)

    # --- registration ----------------------------------------------------------------------

    async def ensure_registered(self) -> None:
        """Register (once, even if both loops ask), retrying with backoff and jitter."""
        async with self._register_lock:
            if self._registered.is_set():
                return
            backoff = ExponentialBackoff(RETRY_BASE_S * 2.5, self._retry_max_s)
            while True:
                try:
                    answer = await self.client.register(self._register_request())
                    break
                except OrchestratorRejected as exc:
                    raise WorkerFatalError(str(exc)) from exc
                except (OrchestratorUnavailable, InstanceUnknown) as exc:
                    self._note_unreachable(exc)
                    await asyncio.sleep(_retry_delay_s(backoff, exc))
            self._note_reachable()
            self.counters.registered = True
            self.counters.registrations += 1
            offered_s = answer.heartbeat_interval or math.inf
            self.heartbeat_interval_s = min(self.settings.heartbeat_interval, offered_s)
            logger.info(
                "[INSTANCE] registered as %s (max_streams %d, heartbeat every %.1f s)",
                self.settings.instance_id,
                self.settings.max_streams,
                self.heartbeat_interval_s,
            )
            self._registered.set()

    async def _forget(self, *, reason: str) -> None:
        """We own nothing: stop every stream and register again before the next report."""
        self._registered.clear()
        self.counters.registered = False
        logger.warning("[INSTANCE] %s: stopping every stream and registering again", reason)
        await self.reconciler.reset(reason=reason)

    # --- heartbeats ------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        changed = self.reconciler.changed
        while True:
            await self.ensure_registered()
            changed.clear()
            asked_s = await self.beat()
            if asked_s:  # the orchestrator sheds load: not even a change's beat before then
                await asyncio.sleep(asked_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    changed.wait(), timeout=max(0.0, self.heartbeat_interval_s - asked_s)
                )

    async def beat(self) -> float:
        """Send one heartbeat and apply its answer; returns the seconds the orchestrator asked
        us to wait before the next request (its Retry-After), else 0."""
        if not self.watchdog.lease_valid():
            return 0.0  # frozen: the watchdog drops our streams before we report anything
        epoch = self.reconciler.epoch
        stream_ids, generation = self.reconciler.report()
        request = self._heartbeat_request("active", stream_ids, generation)
        try:
            answer = await self.client.heartbeat(request)
        except InstanceUnknown as exc:
            self._health_delta.undelivered()
            if epoch == self.reconciler.epoch:
                self.counters.unknown_instance_resets += 1
                await self._forget(reason=f"orchestrator does not know us ({exc})")
            return 0.0
        except (OrchestratorUnavailable, OrchestratorRejected) as exc:
            self._health_delta.undelivered()
            self.counters.heartbeat_failures += 1
            self._note_unreachable(exc)
            return getattr(exc, "retry_after_s", None) or 0.0
        self._note_reachable()
        self.counters.heartbeats_ok += 1
        streams = [entry.to_assigned() for entry in answer.streams]
        await self._apply(streams, answer.generation, epoch)
        return 0.0

    def _heartbeat_request(
        self, status: InstanceStatus, stream_ids: list[int], generation: int
    ) -> HeartbeatRequest:
        totals = self.reconciler.supervisor.totals()
        sample = self.sampler.sample()
        wanted = set(stream_ids)
        last_activity = max(
            (
                r.stats.last_activity
                for r in self.reconciler.supervisor.running_streams()
                if r.stats.last_activity is not None
            ),
            default=None,
        )
        return HeartbeatRequest(
            instance_id=self.settings.instance_id,
            timestamp=utc_now(),
            status=status,
            current_streams=len(stream_ids),
            processed_count=totals.processed,
            error_count=totals.errors,
            cpu_usage=sample.cpu_percent,
            memory_usage=sample.memory_percent,
            process_cpu_usage=sample.process_cpu_percent,
            process_memory_usage=sample.process_memory_percent,
            last_activity=last_activity,
            stream_ids=stream_ids,
            generation=generation,
            stream_health=self._health_delta.select(
                stream_reports(
                    r for r in self.reconciler.supervisor.running_streams() if r.stream.id in wanted
                )
            ),
            worker_health=self._problems.report(self.reconciler.supervisor.processor),
            play_log=play_log_report(self.reconciler.supervisor.processor),
        )

    def _register_request(self) -> RegisterRequest:
        return RegisterRequest(
            instance_id=self.settings.instance_id,
            max_streams=self.settings.max_streams,
            version=__version__,
            location=self.settings.worker_location,
        )

    # --- long-poll -------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        backoff = ExponentialBackoff(RETRY_BASE_S, self._retry_max_s)
        while True:
            await self._registered.wait()
            if not self.watchdog.lease_valid():
                await asyncio.sleep(self.watchdog.tick_s)
                continue
            epoch = self.reconciler.epoch
            after = self.reconciler.applied_generation
            try:
                answer = await self.client.wait_for_assignment(after, self._poll_wait_s())
            except InstanceUnknown as exc:
                if self._registered.is_set() and epoch == self.reconciler.epoch:
                    self.counters.unknown_instance_resets += 1
                    await self._forget(reason=f"orchestrator does not know us ({exc})")
                continue
            except (OrchestratorUnavailable, OrchestratorRejected) as exc:
                self._note_unreachable(exc)
                await asyncio.sleep(_retry_delay_s(backoff, exc))
                continue
            backoff.reset()
            self._note_reachable()
            if answer.generation < after:
                # The orchestrator went back in time; do not spin on an answer we will ignore.
                await asyncio.sleep(backoff.next_delay_s())
            streams = [entry.to_assigned() for entry in answer.streams]
            await self._apply(streams, answer.generation, epoch)

    def _poll_wait_s(self) -> float:
        # Never hold a request open longer than one heartbeat interval: an orchestrator that is
        # shutting down waits for open requests, and must not wait past our heartbeat timeout.
        return min(self.settings.assignment_wait_seconds, self.heartbeat_interval_s)

    async def _apply(self, streams: Sequence[AssignedStream], generation: int, epoch: int) -> None:
        outcome = await self.reconciler.apply(streams, generation, epoch=epoch)
        if outcome is ApplyOutcome.STALE:
            self.counters.stale_answers += 1
        elif outcome is ApplyOutcome.APPLIED:
            logger.info(
                "[STREAM] generation %d applied: running %d streams",
                generation,
                len(self.reconciler.supervisor.running_ids()),
            )

    # --- reachability bookkeeping ----------------------------------------------------------

    def _note_reachable(self) -> None:
        if self.counters.orchestrator_reachable is False:
            logger.info("[INSTANCE] orchestrator reachable again")
        self.counters.orchestrator_reachable = True
        self.counters.last_contact = utc_now()
        self.counters.last_error = None

    def _note_unreachable(self, exc: Exception) -> None:
        if self.counters.orchestrator_reachable is not False:
            logger.warning("[INSTANCE] orchestrator unreachable (%s); streams keep running", exc)
        self.counters.orchestrator_reachable = False
        self.counters.last_error = str(exc)


def _retry_delay_s(backoff: ExponentialBackoff, error: Exception) -> float:
    """Our own backoff, or longer when the orchestrator asked for it (Retry-After)."""
    asked_s = error.retry_after_s if isinstance(error, OrchestratorUnavailable) else None
    return max(backoff.next_delay_s(), asked_s or 0.0)
