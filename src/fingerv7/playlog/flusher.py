"""The play log's front door: plays go to the durable buffer, one task writes them out in order.

`record()` returns once the play is fsync'd locally; from then on it cannot be lost. A single
flusher task per worker writes the buffer to music_log oldest first, one play at a time, and
removes each only after PostgreSQL has answered. While PostgreSQL is unreachable the plays
wait (and the flusher retries with backoff); a restarted worker finds them in the file and
writes them first. Duplicates cannot come from replays: the writer's check makes a second
write of a play a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from fingerv7.playlog.buffer import PlayBuffer
from fingerv7.playlog.play import Play
from fingerv7.playlog.writer import (
    PlayLogUnavailable,
    PlayRejected,
    WriteOutcome,
)
from fingerv7.retry import ExponentialBackoff

logger = logging.getLogger("fingerv7.playlog")

BATCH_SIZE = 100
RETRY_BASE_S = 0.5
RETRY_MAX_S = 5.0  # a database that is back gets its backlog within seconds, not 30 s


@dataclass(slots=True)
class PlayLogStats:
    """What the play log did since the worker started."""

    recorded: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    write_failures: int = 0
    last_write_at: datetime | None = None
    last_error: str | None = None
    unavailable: bool = False


class PlayWriter(Protocol):
    """Where plays end up: PostgreSQL (MusicLogWriter) or a SQLite file (SqliteMusicLogWriter)."""

    async def write(self, play: Play) -> WriteOutcome: ...

    async def aclose(self) -> None: ...


class PlayLog:
    """Durable, ordered, deduplicated logging of plays to music_log."""

    def __init__(
        self,
        buffer: PlayBuffer,
        writer: PlayWriter,
        *,
        retry_base_s: float = RETRY_BASE_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.buffer = buffer
        self.writer = writer
        self.stats = PlayLogStats()
        self._backoff = ExponentialBackoff(retry_base_s, retry_max_s)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Start the flusher (idempotent); plays left from an earlier run are written first."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_forever(), name="playlog-flusher")

    async def record(self, play: Play) -> int:
        """Make `play` durable and queue it for music_log; returns its buffer sequence number."""
        seq = await asyncio.to_thread(self.buffer.append, play)
        self.stats.recorded += 1
        self._drained.clear()
        self._wake.set()
        return seq

    async def wait_until_flushed(self, timeout_s: float) -> bool:
        """True once the buffer has been emptied into music_log (within `timeout_s`)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._drained.wait()
        except TimeoutError:
            return False
        return True

    async def aclose(self, drain_timeout_s: float = 2.0) -> None:
        """Stop the flusher, first giving it `drain_timeout_s` to write what is pending.

        What is still pending stays in the buffer file for the next start. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            if not self.stats.unavailable:
                await self.wait_until_flushed(drain_timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        left = await asyncio.to_thread(self.buffer.pending_count)
        if left:
            logger.warning(
                "[PLAYLOG] stopping with %d play(s) not yet in music_log; they stay in %s and are "
                "written at the next start",
                left,
                self.buffer.path,
            )
        await self.writer.aclose()
        await asyncio.to_thread(self.buffer.close)

    async def _flush_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._write_pending()
            except PlayLogUnavailable as error:
                await self._wait_after_failure(str(error))
                continue
            except Exception as error:  # a full disk, a bug: never die, say it, retry
                logger.exception("[PLAYLOG] writing buffered plays failed; retrying")
                await self._wait_after_failure(f"{type(error).__name__}: {error}")
                continue
            self._recovered()
            if self._wake.is_set():
                continue  # a play arrived while writing: look again before saying "drained"
            self._drained.set()
            await self._wake.wait()

    async def _write_pending(self) -> None:
        while batch := await asyncio.to_thread(self.buffer.oldest, BATCH_SIZE):
            for entry in batch:
                try:
                    outcome = await self.writer.write(entry.play)
                except PlayRejected as error:
                    logger.error(
                        "[PLAYLOG] music_log refused %s - %s on %s for good (%s); kept in %s",
                        entry.play.artist,
                        entry.play.song_title,
                        entry.play.stream_name,
                        error,
                        self.buffer.path,
                    )
                    await asyncio.to_thread(self.buffer.reject, entry.seq, str(error))
                    self.stats.rejected += 1
                    continue
                await asyncio.to_thread(self.buffer.remove, entry.seq)
                self._count(outcome, entry.play)

    def _count(self, outcome: WriteOutcome, play: Play) -> None:
        self._recovered()
        self.stats.last_write_at = datetime.now(UTC)
        if outcome is WriteOutcome.INSERTED:
            self.stats.inserted += 1
            logger.info(
                "[PLAYLOG] logged %s - %s on %s", play.artist, play.song_title, play.stream_name
            )
        else:
            self.stats.duplicates += 1
            logger.info(
                "[PLAYLOG] %s - %s on %s was already logged (duplicate play)",
                play.artist,
                play.song_title,
                play.stream_name,
            )

    async def _wait_after_failure(self, problem: str) -> None:
        self.stats.write_failures += 1
        self.stats.last_error = problem
        delay_s = self._backoff.next_delay_s()
        try:
            pending = await asyncio.to_thread(self.buffer.pending_count)
        except Exception:  # the buffer itself may be what fails (a full disk)
            pending = -1
        log = logger.debug if self.stats.unavailable else logger.warning
        log(
            "[PLAYLOG] music_log unavailable (%s); %d play(s) kept in %s; retrying in %.1f s",
            problem,
            pending,
            self.buffer.path,
            delay_s,
        )
        self.stats.unavailable = True
        await asyncio.sleep(delay_s)

    def backlog(self) -> dict[str, object]:
        """Plays buffered and not yet in music_log: how many, since when, last good write."""
        oldest = self.buffer.oldest_buffered_at()
        now = datetime.now(UTC)
        return {
            "plays_buffered": self.buffer.pending_count(),
            "oldest_age_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
            "last_write_at": self.stats.last_write_at.isoformat()
            if self.stats.last_write_at
            else None,
            "unavailable": self.stats.unavailable,
            "last_error": self.stats.last_error if self.stats.unavailable else None,
        }

    def problem(self) -> str | None:
        """The outage, in words, while plays cannot reach music_log (None when they can)."""
        if not self.stats.unavailable:
            return None
        last = self.stats.last_write_at
        since = f"last write {last.isoformat(timespec='seconds')}" if last else "no write yet"
        return (
            f"music_log unavailable ({self.stats.last_error}); plays kept in the local buffer, "
            f"{since}"
        )

    def _recovered(self) -> None:
        if self.stats.unavailable:
            logger.info("[PLAYLOG] music_log reachable again; writing buffered plays")
        self.stats.unavailable = False
        self._backoff.reset()
