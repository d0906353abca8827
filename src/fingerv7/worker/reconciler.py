"""Level-triggered reconciliation: make the running streams equal the orchestrator's desired set.

Every answer (heartbeat or long-poll) carries the complete desired set and its generation; the
reconciler stops what should not run, waits until those tasks have really finished, starts what
is missing, and only then records the generation as applied. Answers older than what was already
applied are ignored (a slow heartbeat answer must not undo a newer long-poll answer), and so are
answers to requests sent before a :meth:`Reconciler.reset` (a freeze, or "unknown instance").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from enum import StrEnum

from fingerv7.processing import AssignedStream
from fingerv7.worker.supervisor import StreamSupervisor

logger = logging.getLogger("fingerv7.worker.reconciler")


class ApplyOutcome(StrEnum):
    APPLIED = "applied"  # the generation advanced or the running set changed
    UNCHANGED = "unchanged"  # already running exactly this
    STALE = "stale"  # older generation, or an answer from before a reset
    REFUSED = "refused"  # the worker may not act (frozen / fenced); the watchdog will handle it
    INCOMPLETE = "incomplete"  # a task did not stop in time; the generation was not advanced


class Reconciler:
    """Applies desired sets to a :class:`StreamSupervisor`, one at a time."""

    def __init__(
        self,
        supervisor: StreamSupervisor,
        *,
        max_streams: int,
        lease_valid: Callable[[], bool] = lambda: True,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.supervisor = supervisor
        self.max_streams = max_streams
        self._lease_valid = lease_valid
        self.stop_timeout_s = stop_timeout_s
        self.applied_generation = 0
        self.epoch = 0
        self.changed = asyncio.Event()
        self._lock = asyncio.Lock()

    def report(self) -> tuple[list[int], int]:
        """What to tell the orchestrator: (streams whose task exists, last applied generation)."""
        return self.supervisor.running_ids(), self.applied_generation

    async def apply(
        self, streams: Sequence[AssignedStream], generation: int, *, epoch: int
    ) -> ApplyOutcome:
        """Converge on `streams`; `epoch` is :attr:`epoch` as it was when the request went out."""
        async with self._lock:
            if epoch != self.epoch or generation < self.applied_generation:
                return ApplyOutcome.STALE
            if not self._lease_valid():
                return ApplyOutcome.REFUSED
            desired = self._within_capacity(streams)
            changed = await self._stop_unwanted(desired)
            if changed is None:
                return ApplyOutcome.INCOMPLETE
            # A reset or a freeze may have happened while we waited for tasks to stop.
            if epoch != self.epoch:
                return ApplyOutcome.STALE
            for stream_id, stream in desired.items():
                if self.supervisor.get(stream_id) is None:
                    if not self._lease_valid():
                        return ApplyOutcome.REFUSED
                    self.supervisor.start(stream)
                    changed = True
            advanced = generation != self.applied_generation
            self.applied_generation = generation
            if changed or advanced:
                self.changed.set()
                return ApplyOutcome.APPLIED
            return ApplyOutcome.UNCHANGED

    async def reset(self, *, reason: str) -> bool:
        """Drop every stream and forget the generation; answers already in flight become stale."""
        self.epoch += 1
        async with self._lock:
            stopped = await self.supervisor.stop_all(reason=reason, timeout_s=self.stop_timeout_s)
            self.applied_generation = 0
            self.changed.set()
            return stopped

    def _within_capacity(self, streams: Sequence[AssignedStream]) -> dict[int, AssignedStream]:
        desired = {stream.id: stream for stream in streams}
        if len(desired) <= self.max_streams:
            return desired
        kept = sorted(desired)[: self.max_streams]
        logger.warning(
            "[STREAM] orchestrator assigned %d streams but MAX_STREAMS is %d; running the first %d",
            len(desired),
            self.max_streams,
            self.max_streams,
        )
        return {stream_id: desired[stream_id] for stream_id in kept}

    async def _stop_unwanted(self, desired: dict[int, AssignedStream]) -> bool | None:
        """Stop streams not desired (or whose URL/name changed); None if one would not stop."""
        unwanted = [
            running.stream.id
            for running in self.supervisor.running_streams()
            if desired.get(running.stream.id) != running.stream
        ]
        if not unwanted:
            return False
        results = await asyncio.gather(
            *(
                self.supervisor.stop(stream_id, reason="unassigned", timeout_s=self.stop_timeout_s)
                for stream_id in unwanted
            )
        )
        return True if all(results) else None
