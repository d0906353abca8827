"""Reading the streams to monitor: when to read them, whether they changed, and what changed.

The leader reads the source every `STREAM_SYNC_INTERVAL`. Reading and comparing 100,000 rows
holds a process for a second or more, so a source that can digest its table (PostgreSQL) is
read only when the digest moved since the last read that was applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from fingerv7.storage.stream_records import SourceStream
from fingerv7.storage.tick_store import SyncedStream

log = logging.getLogger("fingerv7.orchestrator")


class StreamSource(Protocol):
    """Where the streams to monitor come from (external PostgreSQL table, or the embedded one)."""

    @property
    def description(self) -> str: ...

    async def load(self) -> list[SourceStream]: ...

    async def digest(self) -> object | None:
        """Equal between two calls only if the streams did not change; None: unknown."""
        ...


@dataclass(slots=True)
class SourceSync:
    """One read's outcome: streams new or changed, ids gone, and the source's status."""

    upsert: list[SyncedStream]
    delete: list[int]
    status: str
    error: str | None

    @property
    def changed(self) -> bool:
        return bool(self.upsert or self.delete)


class SourceSyncer:
    """Reads the source when due; a failed read is reported, never raised."""

    def __init__(self, source: StreamSource, interval_s: float) -> None:
        self.source = source
        self.interval_s = interval_s
        self.next_sync_s = 0.0  # wall clock
        self._digest: object | None = None  # of the last read applied

    def restart(self) -> None:
        """A new term: read at once, and compare with what the database holds now."""
        self.next_sync_s = 0.0
        self._digest = None

    async def sync(self, now_s: float, known: Mapping[int, SyncedStream]) -> SourceSync | None:
        """What changed against `known` (None: not due yet)."""
        if now_s < self.next_sync_s:
            return None
        self.next_sync_s = now_s + self.interval_s
        try:
            digest = await self.source.digest()
            if digest is not None and digest == self._digest:
                return SourceSync([], [], "healthy", None)
            loaded = await self.source.load()
        except Exception as error:
            log.error(
                "[ERROR] [STREAM] cannot read streams from %s: %s", self.source.description, error
            )
            return SourceSync([], [], "unhealthy", str(error))
        upsert, delete = await asyncio.to_thread(source_changes, loaded, known)
        self._digest = digest
        if upsert or delete:
            log.info(
                "[STREAM] loaded %d streams from %s (%d new or changed, %d removed)",
                len(loaded),
                self.source.description,
                len(upsert),
                len(delete),
            )
        return SourceSync(upsert, delete, "healthy", None)


def source_changes(
    loaded: list[SourceStream], known: Mapping[int, SyncedStream]
) -> tuple[list[SyncedStream], list[int]]:
    """What a read of the source changes: streams new or different, and ids gone. Pure and
    slow at 100,000 streams, so the syncer runs it in a worker thread."""
    fresh = {s.id: SyncedStream(s.id, s.url, s.name, dict(s.metadata), s.region) for s in loaded}
    upsert = [s for i, s in fresh.items() if known.get(i) != s]
    return upsert, sorted(set(known) - set(fresh))
