"""Heartbeats in memory, written to the database in batches.

A heartbeat handler only records the report here and answers at once; a background task writes
the newest report of every instance heard since the last flush, a few hundred per statement.
Steady beats (nothing changed) wait for the next regular flush (`idle_flush_s`); a report that
changes something (a release, a first beat, `stopping`) is flushed within `urgent_flush_s` and
wakes the leader. If the database is away the reports stay here (one per instance, the newest)
and are written when it returns: nothing is lost and memory stays bounded by the fleet size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fingerv7.storage.errors import DatabaseFailure
from fingerv7.storage.report_store import ReportStorage, StoredReport

log = logging.getLogger("fingerv7.orchestrator")

# Reports per write: small enough that encoding one chunk never holds requests for long.
FLUSH_CHUNK = 250


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    instance_id: str
    received_s: float  # time.monotonic() when the heartbeat arrived
    beats: int
    stream_ids: list[int]
    applied_generation: int
    stats: dict[str, Any]
    stopping: bool


class HeartbeatIntake:
    """Collects reports per instance and flushes them in batches."""

    def __init__(
        self,
        store: ReportStorage,
        on_urgent_flushed: Callable[[], None] = lambda: None,
        *,
        idle_flush_s: float = 1.0,
        urgent_flush_s: float = 0.02,
    ) -> None:
        self._store = store
        self._on_urgent_flushed = on_urgent_flushed
        self._idle_flush_s = idle_flush_s
        self._urgent_flush_s = urgent_flush_s
        self._pending: dict[str, ReceivedReport] = {}
        # What each instance reported last (streams, generation): a report that differs is a
        # release or a claim the leader must see now, even when it matches the instance's set.
        self._last_reported: dict[str, tuple[tuple[int, ...], int]] = {}
        self._urgent = asyncio.Event()
        self._urgent_pending = False
        self._stopping = False
        self.last_error: str | None = None
        self.flushes = 0

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def record(
        self,
        instance_id: str,
        stream_ids: list[int],
        applied_generation: int,
        stats: dict[str, Any],
        *,
        stopping: bool,
        urgent: bool,
    ) -> None:
        previous = self._pending.get(instance_id)
        running = sorted(set(stream_ids))
        reported = (tuple(running), applied_generation)
        changed = self._last_reported.get(instance_id) != reported
        self._last_reported[instance_id] = reported
        self._pending[instance_id] = ReceivedReport(
            instance_id=instance_id,
            received_s=time.monotonic(),
            beats=1 + (previous.beats if previous else 0),
            stream_ids=running,
            applied_generation=applied_generation,
            stats=stats,
            stopping=stopping,
        )
        if urgent or stopping or changed:
            self._urgent_pending = True
            self._urgent.set()

    async def run(self) -> None:
        """Flush until stopped; a failed flush keeps its reports for the next one."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), timeout=self._idle_flush_s)
            if self._urgent.is_set() and not self._stopping:
                await asyncio.sleep(self._urgent_flush_s)  # let a burst join the same batch
            self._urgent.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write what is pending in chunks of `FLUSH_CHUNK` reports, one transaction each.

        A chunk's encoding (`json.dumps` in C, which holds the event loop) costs a few ms where
        the whole batch of 2,000 instances cost about 20 ms; requests are served between chunks.
        Reports are independent rows, so a chunk that fails keeps itself and the chunks after
        it for the next flush and loses nothing.
        """
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        urgent, self._urgent_pending = self._urgent_pending, False
        received = list(batch.values())
        for start in range(0, len(received), FLUSH_CHUNK):
            chunk = received[start : start + FLUSH_CHUNK]
            last = start + FLUSH_CHUNK >= len(received)
            if not await self._write(chunk, wake_leader=urgent and last):
                self._keep_for_retry({r.instance_id: r for r in received[start:]}, urgent)
                await asyncio.sleep(min(self._idle_flush_s, 1.0))
                return
        self.last_error = None
        self.flushes += 1
        if urgent:
            self._on_urgent_flushed()

    async def _write(self, chunk: list[ReceivedReport], *, wake_leader: bool) -> bool:
        """Store one chunk; False (logged, kept in `last_error`) when it could not be."""
        now_s = time.monotonic()
        reports = [
            StoredReport(
                instance_id=r.instance_id,
                age_s=max(0.0, now_s - r.received_s),
                beats=r.beats,
                stream_ids=r.stream_ids,
                applied_generation=r.applied_generation,
                stats=r.stats,
                stopping=r.stopping,
            )
            for r in chunk
        ]
        try:
            await self._store.write_reports(reports, wake_leader=wake_leader)
        except DatabaseFailure as error:
            self.last_error = str(error)  # "OperationalError: <the driver's reason>"
            log.warning(
                "[ERROR] [DATABASE] cannot store %d heartbeat reports (%s); retrying",
                len(chunk),
                error.cause,
            )
            return False
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            log.exception("[ERROR] [DATABASE] storing heartbeat reports failed; retrying")
            return False
        return True

    def _keep_for_retry(self, batch: dict[str, ReceivedReport], urgent: bool) -> None:
        """Put a failed batch back, under anything newer that arrived meanwhile."""
        for instance_id, report in batch.items():
            newer = self._pending.get(instance_id)
            if newer is None:
                self._pending[instance_id] = report
            else:
                self._pending[instance_id] = replace(newer, beats=newer.beats + report.beats)
        self._urgent_pending = self._urgent_pending or urgent

    async def close(self) -> None:
        """Stop the loop after writing what is pending (a `stopping` beat must not be lost)."""
        self._stopping = True
        self._urgent.set()
        with contextlib.suppress(Exception):
            await self.flush()
