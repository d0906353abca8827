"""When two sightings of a song are one play: the rules, as pure functions.

Two layers, one rule ("the same song on the same stream within the window is one play"):

- :class:`PlayTracker` (per stream task, in memory) turns a stream of window-by-window
  identifications into plays: consecutive sightings of one recording, with no other song in
  between and no gap of a whole window, are one play however long the song lasts. Only the first
  sighting of a play is logged. This is what keeps a 20-minute track from being logged twice.
- The database check (:mod:`fingerv7.playlog.writer`) is the authority across instances,
  restarts and retries: a play is not inserted when a row for the same (stream name, artist,
  title) is less than the window away from it, in either direction. It runs under a transaction
  lock keyed by :func:`play_lock_key`, so concurrent writers are serialised per song and stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime


def is_same_play(first_heard: datetime, second_heard: datetime, window_s: float) -> bool:
    """True when two sightings of one song on one stream are less than `window_s` apart."""
    return abs((second_heard - first_heard).total_seconds()) < window_s


def play_lock_key(table: str, stream_name: str, artist: str, song_title: str) -> int:
    """A signed 64-bit key for `pg_advisory_xact_lock`, the same in every process."""
    text = "\x1f".join(("fingerv7.playlog", table, stream_name, artist, song_title))
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class Sighting:
    """The outcome of one identification for :class:`PlayTracker`."""

    is_new_play: bool
    play_started_at: datetime


class PlayTracker:
    """Groups one stream's consecutive identifications of a recording into plays."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._track_key: str | None = None
        self._play_started_at: datetime | None = None
        self._last_seen_at: datetime | None = None

    def observe(self, track_key: str, heard_at: datetime) -> Sighting:
        """Record that `track_key` was heard; says whether this starts a new play."""
        continuing = (
            self._track_key == track_key
            and self._last_seen_at is not None
            and self._play_started_at is not None
            and is_same_play(self._last_seen_at, heard_at, self.window_s)
            and heard_at >= self._last_seen_at
        )
        if not continuing:
            self._track_key = track_key
            self._play_started_at = heard_at
        self._last_seen_at = heard_at
        assert self._play_started_at is not None
        return Sighting(is_new_play=not continuing, play_started_at=self._play_started_at)

    def forget(self) -> None:
        """Forget the current play (e.g. after a sighting could not be recorded)."""
        self._track_key = None
        self._play_started_at = None
        self._last_seen_at = None
