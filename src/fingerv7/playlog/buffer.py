"""The durable local buffer: every play is on disk before anything else happens to it.

A SQLite file in WAL mode with `synchronous=FULL`, so each append is fsync'd when it returns and
survives `kill -9` and power loss. Entries keep their append order (`seq`); the flusher reads
the oldest first and removes an entry only once PostgreSQL has it (or has refused it for good:
then it moves to `rejected_plays`, kept for an operator). One file per worker instance.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fingerv7.playlog.play import Play

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_plays (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    play TEXT NOT NULL,
    buffered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected_plays (
    seq INTEGER PRIMARY KEY,
    play TEXT NOT NULL,
    buffered_at TEXT NOT NULL,
    rejected_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class BufferedPlay:
    seq: int
    play: Play


logger = logging.getLogger("fingerv7.playlog")


class PlayBuffer:
    """Pending plays in append order, in a SQLite file; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync on every commit
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def append(self, play: Play) -> int:
        """Store `play` durably; returns its sequence number (greater than every earlier one)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO pending_plays (play, buffered_at) VALUES (?, ?)",
                (play.to_json(), datetime.now(UTC).isoformat()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def oldest(self, limit: int) -> list[BufferedPlay]:
        """Up to `limit` pending plays, oldest first. A row that cannot be read back (a bad
        buffered row) is moved to `rejected_plays` so it never blocks the plays behind it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, play FROM pending_plays ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        plays = []
        for seq, text in rows:
            try:
                plays.append(BufferedPlay(int(seq), Play.from_json(text)))
            except (ValueError, TypeError, KeyError) as error:
                self.reject(int(seq), f"unreadable buffered play: {type(error).__name__}: {error}")
                logger.error("[PLAYLOG] buffered play %s is unreadable (%s); set aside", seq, error)
        return plays

    def oldest_buffered_at(self) -> datetime | None:
        """When the oldest pending play was buffered (the backlog's age)."""
        with self._lock:
            row = self._db.execute(
                "SELECT buffered_at FROM pending_plays ORDER BY seq LIMIT 1"
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def remove(self, seq: int) -> None:
        """Forget a play PostgreSQL now has."""
        with self._lock:
            self._db.execute("DELETE FROM pending_plays WHERE seq = ?", (seq,))

    def reject(self, seq: int, reason: str) -> None:
        """Move a play the database refuses for good out of the way, keeping it for inspection."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO rejected_plays "
                    "SELECT seq, play, buffered_at, ?, ? FROM pending_plays WHERE seq = ?",
                    (datetime.now(UTC).isoformat(), reason, seq),
                )
                self._db.execute("DELETE FROM pending_plays WHERE seq = ?", (seq,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM pending_plays").fetchone()
        return int(count)

    def rejected(self) -> list[tuple[Play, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT play, reason FROM rejected_plays ORDER BY seq"
            ).fetchall()
        return [(Play.from_json(text), str(reason)) for text, reason in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
