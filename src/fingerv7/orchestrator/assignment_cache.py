"""Every instance's desired set, kept in memory by each orchestrator process.

A heartbeat or long-poll answer is read from here, never from the database: the set and its
generation are rendered to JSON once per generation and reused by every beat until it changes.
The cache converges on the database (level-triggered): it is refreshed when the leader commits a
new generation (in-process call, or PostgreSQL NOTIFY from another process) and, as a safety net,
every `resync_s` seconds; a refresh re-reads only instances whose generation moved.

Safety does not depend on freshness: an entry is always a (generation, set) pair read in one
snapshot, so a stale answer only delays a worker (it reports the older generation, which proves
nothing to the leader), it never hands a stream to two instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

from fingerv7.storage.report_store import DesiredSet, ReportStorage

log = logging.getLogger("fingerv7.orchestrator")

MAX_CONCURRENT_MISSES = 2
REFRESH_CHUNK = 250  # instances per read: a refresh never holds one long query


@dataclass(frozen=True, slots=True)
class CachedAssignment:
    """One instance's answer. Only the rendered bytes and the ids are kept, not the stream
    objects they were rendered from: at 100,000 streams those objects were most of the
    cache's memory, and nothing on the hot path reads them."""

    generation: int
    stream_ids: frozenset[int]
    streams_json: bytes  # `[{"id":..,"url":..,"name":..,"metadata":{..}}, ...]`

    def same_answer(self, other: CachedAssignment) -> bool:
        return self.generation == other.generation and self.streams_json == other.streams_json


def render(desired: DesiredSet) -> CachedAssignment:
    streams = [
        {"id": s.id, "url": s.url, "name": s.name, "metadata": s.metadata} for s in desired.streams
    ]
    return CachedAssignment(
        generation=desired.generation,
        stream_ids=frozenset(s.id for s in desired.streams),
        streams_json=json.dumps(streams, separators=(",", ":"), ensure_ascii=False).encode(),
    )


class AssignmentCache:
    """Per-process answers for heartbeats and long-polls."""

    def __init__(self, store: ReportStorage, *, resync_s: float = 5.0) -> None:
        self._store = store
        self._resync_s = resync_s
        self._entries: dict[str, CachedAssignment] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._refresh_requested = asyncio.Event()
        # Misses read the database: one read per id at a time, and a few ids at a time, so a
        # flood of calls for unknown ids cannot take the connections the monitor needs.
        self._misses = asyncio.Semaphore(MAX_CONCURRENT_MISSES)
        self._loading: dict[str, asyncio.Future[CachedAssignment | None]] = {}
        self._closing = False
        self.refreshes = 0
        self.last_error: str | None = None
        self.last_refresh_s: float | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, instance_id: str) -> CachedAssignment | None:
        return self._entries.get(instance_id)

    async def get(self, instance_id: str) -> CachedAssignment | None:
        """The instance's answer; a miss (registered on another process) reads the database."""
        entry = self._entries.get(instance_id)
        if entry is not None:
            return entry
        loading = self._loading.get(instance_id)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[CachedAssignment | None] = asyncio.get_running_loop().create_future()
        self._loading[instance_id] = future
        try:
            async with self._misses:
                found = await self._store.desired_sets([instance_id])
            desired = found.get(instance_id)
            entry = None if desired is None else self._store_entry(instance_id, desired)
            future.set_result(entry)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._loading[instance_id]
        return entry

    def accept(self, instance_id: str, desired: DesiredSet) -> CachedAssignment:
        """Take a desired set read elsewhere in one snapshot (a registration's transaction)."""
        return self._store_entry(instance_id, desired)

    async def reload(self, instance_id: str) -> CachedAssignment | None:
        """Read one instance again now (after it registered through this process)."""
        async with self._misses:
            found = await self._store.desired_sets([instance_id])
        if instance_id not in found:
            self._drop(instance_id)
            return None
        return self._store_entry(instance_id, found[instance_id])

    def request_refresh(self) -> None:
        self._refresh_requested.set()

    async def wait_for(
        self, instance_id: str, after_generation: int, timeout_s: float
    ) -> CachedAssignment | None:
        """The answer once its generation exceeds `after_generation`, or at the timeout.

        None when the instance is not registered (the caller answers 404).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            entry = await self.get(instance_id)
            remaining_s = deadline - time.monotonic()
            if entry is None or entry.generation > after_generation or remaining_s <= 0:
                return entry
            if self._closing:
                return entry
            event = self._changed.setdefault(instance_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=remaining_s)

    async def run(self) -> None:
        """Refresh at once (a new process warms up before the fleet's beats reach it), then
        when asked, and every `resync_s` in any case."""
        self._refresh_requested.set()
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_requested.wait(), timeout=self._resync_s)
            self._refresh_requested.clear()
            if self._closing:
                return
            try:
                await self.refresh()
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("[ERROR] [DATABASE] cannot refresh assignments (%s)", error)
                await asyncio.sleep(1)

    async def refresh(self) -> None:
        generations = await self._store.instance_generations()
        for instance_id in set(self._entries) - set(generations):
            self._drop(instance_id)
        stale = [
            instance_id
            for instance_id, generation in generations.items()
            if (entry := self._entries.get(instance_id)) is None or entry.generation != generation
        ]
        # Every registered instance, not only those asked about: a process that just started
        # (another replica, a MAX_WORKERS sibling) answers its first beats from memory too,
        # instead of sending the whole fleet down the miss path two reads at a time.
        for start in range(0, len(stale), REFRESH_CHUNK):
            wanted = stale[start : start + REFRESH_CHUNK]
            found = await self._store.desired_sets(wanted)
            # Rendering 250 instances' answers is CPU work: off the event loop.
            rendered = await asyncio.to_thread(self._render_changed, found)
            for instance_id in wanted:
                if instance_id in found:
                    self._store_entry(instance_id, found[instance_id], rendered.get(instance_id))
                else:
                    self._drop(instance_id)
        self.refreshes += 1
        self.last_error = None
        self.last_refresh_s = time.monotonic()

    @staticmethod
    def _render_changed(found: dict[str, DesiredSet]) -> dict[str, CachedAssignment]:
        """Answers for the sets read (any thread: touches no shared state)."""
        return {instance_id: render(desired) for instance_id, desired in found.items()}

    def _store_entry(
        self, instance_id: str, desired: DesiredSet, rendered: CachedAssignment | None = None
    ) -> CachedAssignment:
        current = self._entries.get(instance_id)
        if current is not None and current.generation > desired.generation:
            return current  # an older snapshot read concurrently: keep the newer
        entry = rendered if rendered is not None else render(desired)
        if current is not None and current.same_answer(entry):
            entry = current  # unchanged: keep the object long-polls and beats already hold
        self._entries[instance_id] = entry
        if current is None or current.generation != entry.generation:
            self._wake(instance_id)
        return entry

    def _drop(self, instance_id: str) -> None:
        if self._entries.pop(instance_id, None) is not None:
            self._wake(instance_id)

    def _wake(self, instance_id: str) -> None:
        event = self._changed.pop(instance_id, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        """Answer every open long-poll now (the server is shutting down)."""
        self._closing = True
        self._refresh_requested.set()
        for instance_id in list(self._changed):
            self._wake(instance_id)
