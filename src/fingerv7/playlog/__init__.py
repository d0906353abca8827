"""Logging plays to the external music_log table: durable, ordered, never twice.

`PlayLog.record(play)` stores a play in the local buffer (fsync'd SQLite); its flusher writes the
buffer to PostgreSQL through `MusicLogWriter`, whose transaction-locked window check keeps one
row per play across instances and retries. `PlayTracker` folds one stream's consecutive
identifications into plays before they are recorded.
"""

from __future__ import annotations

from fingerv7.playlog.buffer import BufferedPlay, PlayBuffer
from fingerv7.playlog.dedupe import PlayTracker, Sighting, is_same_play, play_lock_key
from fingerv7.playlog.flusher import PlayLog, PlayLogStats, PlayWriter
from fingerv7.playlog.play import Play, stream_metadata_fields
from fingerv7.playlog.sqlite_writer import SqliteMusicLogWriter
from fingerv7.playlog.table import TableShape, TableShapeError, fit_text
from fingerv7.playlog.writer import (
    MusicLogWriter,
    PlayLogUnavailable,
    PlayRejected,
    WriteOutcome,
)

__all__ = [
    "BufferedPlay",
    "MusicLogWriter",
    "Play",
    "PlayBuffer",
    "PlayLog",
    "PlayLogStats",
    "PlayLogUnavailable",
    "PlayRejected",
    "PlayTracker",
    "PlayWriter",
    "Sighting",
    "SqliteMusicLogWriter",
    "TableShape",
    "TableShapeError",
    "WriteOutcome",
    "fit_text",
    "is_same_play",
    "play_lock_key",
    "stream_metadata_fields",
]
