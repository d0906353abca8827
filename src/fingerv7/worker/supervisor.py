"""One asyncio task per stream: start, stop, and restart after a crash.

A crash of one processor never reaches the rest of the worker: the supervisor catches it, counts
it in the stream's :class:`StreamStats`, waits with backoff and runs the processor again. Every
start and stop goes to the ownership journal (start before the task exists, stop after it ended).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from fingerv7.processing import AssignedStream, StreamProcessor, StreamStats
from fingerv7.retry import ExponentialBackoff
from fingerv7.worker.journal import OwnershipJournal

logger = logging.getLogger("fingerv7.worker.supervisor")

RESTART_BACKOFF_BASE_S = 0.5
RESTART_BACKOFF_MAX_S = 30.0
# A processor that ran this long before crashing starts its backoff from the beginning again.
HEALTHY_RUN_S = 60.0


@dataclass(slots=True)
class RunningStream:
    stream: AssignedStream
    stats: StreamStats
    task: asyncio.Task[None]
    stopping: bool = False


@dataclass(slots=True)
class RetiredTotals:
    """Counters of streams no longer running, so worker totals never go backwards."""

    processed: int = 0
    errors: int = 0
    bytes_read: int = 0
    identifications: int = 0
    restarts: int = 0


class StreamSupervisor:
    """Owns the stream tasks of one worker."""

    def __init__(
        self,
        processor: StreamProcessor,
        journal: OwnershipJournal,
        ownership_check: Callable[[], bool] = lambda: True,
        *,
        restart_base_s: float = RESTART_BACKOFF_BASE_S,
        restart_max_s: float = RESTART_BACKOFF_MAX_S,
    ) -> None:
        self.processor = processor
        self.journal = journal
        self._ownership_check = ownership_check
        self._restart_base_s = restart_base_s
        self._restart_max_s = restart_max_s
        self._running: dict[int, RunningStream] = {}
        self.retired = RetiredTotals()

    # --- what runs -------------------------------------------------------------------------

    def running_ids(self) -> list[int]:
        """Streams whose task exists (including ones asked to stop that have not finished)."""
        return sorted(self._running)

    def running_streams(self) -> list[RunningStream]:
        return [self._running[i] for i in sorted(self._running)]

    def get(self, stream_id: int) -> RunningStream | None:
        return self._running.get(stream_id)

    def totals(self) -> RetiredTotals:
        """Worker-wide counters: retired streams plus the ones running now."""
        total = replace(self.retired)
        for running in self._running.values():
            total.processed += running.stats.processed
            total.errors += running.stats.errors
            total.bytes_read += running.stats.bytes_read
            total.identifications += running.stats.identifications
            total.restarts += running.stats.restarts
        return total

    # --- start / stop ----------------------------------------------------------------------

    def start(self, stream: AssignedStream) -> None:
        """Start a task for `stream` (journal first). Starting a running stream is an error."""
        if stream.id in self._running:
            raise ValueError(f"stream {stream.id} is already running")
        self.journal.record_start(stream.id)
        stats = StreamStats(ownership_check=self._ownership_check)
        task = asyncio.create_task(self._supervise(stream, stats), name=f"stream-{stream.id}")
        self._running[stream.id] = RunningStream(stream, stats, task)
        logger.info("[STREAM] started %s (%s)", stream.id, stream.name)

    async def stop(self, stream_id: int, *, reason: str, timeout_s: float = 10.0) -> bool:
        """Cancel the stream's task and wait for it; True when it has finished (journal: stop)."""
        running = self._running.get(stream_id)
        if running is None:
            return True
        running.stopping = True
        running.task.cancel()
        done, _ = await asyncio.wait({running.task}, timeout=timeout_s)
        if not done:
            logger.error(
                "[STREAM] %s did not stop within %.1f s; still reported as running",
                stream_id,
                timeout_s,
            )
            return False
        self._retire(stream_id, running, reason)
        return True

    async def stop_all(self, *, reason: str, timeout_s: float = 10.0) -> bool:
        """Stop every stream concurrently; True when all of them finished within `timeout_s`."""
        ids = list(self._running)
        if not ids:
            return True
        results = await asyncio.gather(
            *(self.stop(i, reason=reason, timeout_s=timeout_s) for i in ids)
        )
        return all(results)

    def _retire(self, stream_id: int, running: RunningStream, reason: str) -> None:
        if self._running.get(stream_id) is not running:
            return  # a concurrent stop() already retired it
        stats = running.stats
        self.retired.processed += stats.processed
        self.retired.errors += stats.errors
        self.retired.bytes_read += stats.bytes_read
        self.retired.identifications += stats.identifications
        self.retired.restarts += stats.restarts
        del self._running[stream_id]
        self.journal.record_stop(stream_id, reason, stats.last_activity)
        logger.info("[STREAM] stopped %s (%s): %s", stream_id, running.stream.name, reason)

    # --- the task body ---------------------------------------------------------------------

    async def _supervise(self, stream: AssignedStream, stats: StreamStats) -> None:
        backoff = ExponentialBackoff(self._restart_base_s, self._restart_max_s)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            crash: Exception | None = None
            try:
                await self.processor.run(stream, stats)
                problem = "processor returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
                crash = exc
            if loop.time() - started >= HEALTHY_RUN_S:
                backoff.reset()
            stats.restarts += 1
            stats.errors += 1
            stats.status = "failed"
            stats.last_error = problem
            delay_s = backoff.next_delay_s()
            logger.warning(
                "[STREAM] %s (%s) crashed (%s); restart %d in %.1f s",
                stream.id,
                stream.name,
                problem,
                stats.restarts,
                delay_s,
                exc_info=crash,  # the traceback says where: a crash is a bug to fix
            )
            await asyncio.sleep(delay_s)
