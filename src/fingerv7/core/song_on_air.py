"""The song a stream is taken to be playing, told to the next window's identification.

Two recordings that share a passage (a reprise, a version) both line up in it, and the one
already playing is the one on air (`LandmarkMatcher.search`, `on_air`). A window that names
nothing (a presenter over the song, a loud break, a quiet bar) does not end the song: forgetting
it there let the next window name the other recording of a shared passage (a wrong row at
1,000 h, docs/fingerprint.md, "The low band"). So the last song named stays on air through
`HELD_WINDOWS` windows that name nothing. Holding it cannot keep a song that ended: it is only
ever the answer when it passes the same decision in the new window; it costs a check of that one
track's entries.
"""

from __future__ import annotations

from typing import Generic, TypeVar

Track = TypeVar("Track")

HELD_WINDOWS = 3


class SongOnAir(Generic[Track]):
    """Level-triggered: feed it each window's answer (`heard`), read `track` before the next."""

    def __init__(self, held_windows: int = HELD_WINDOWS) -> None:
        self._held_windows = held_windows
        self._track: Track | None = None
        self._unnamed = 0  # windows in a row that named nothing since `_track` was named

    @property
    def track(self) -> Track | None:
        return self._track

    def heard(self, named: Track | None) -> None:
        """This window's answer: a track, or None when it named nothing."""
        if named is not None:
            self._track, self._unnamed = named, 0
            return
        self._unnamed += 1
        if self._unnamed > self._held_windows:
            self._track = None
