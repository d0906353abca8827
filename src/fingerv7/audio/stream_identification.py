"""The recognizer chain of one stream: the catalog first, then fallbacks where they can pay off.

Per stream, :class:`StreamIdentification` asks the catalog (free, unlimited) about every window.
Only on "no match" does it consider the fallbacks named in RECOGNIZERS after `catalog`, in that
order, and only when a call can pay off:

- the window is music (not silence, not a presenter alone: :mod:`fingerv7.core.music_detection`);
- this stream's current song has not been named already: after a name, the stream keeps quiet
  until a window past the song's predicted end (offset and duration known), or for
  RECOGNIZER_HOLD_SECONDS;
- the worker's budget for that service allows it (:mod:`fingerv7.core.recognition_budget`:
  a rate, shared fairly by the streams that want it, with backoff after 429s and errors).

When an external service names a song, the window is learned into the catalog
(:mod:`fingerv7.catalog.learning`), and so are the audio heard of the song before that window
(two windows of history are kept) and the following windows of the play while the song
is known to go on (its end predicted from the service's offset and duration; without those,
only the named window is learned, since guessing would risk teaching the next song under this
one's name). ICY titles are a low-trust source: used when named in RECOGNIZERS, never learned.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fingerv7.audio.fallback import ICY, FallbackService
from fingerv7.audio.recognition import Recognition, Recognizer
from fingerv7.catalog.learning import LearnedAnswer
from fingerv7.catalog.store import TrackInfo
from fingerv7.core.music_detection import AudioKind, classify_audio
from fingerv7.core.song_on_air import SongOnAir

logger = logging.getLogger("fingerv7.audio.stream_identification")

FloatArray = npt.NDArray[np.float32]
_MIN_FRAGMENT_S = 3.0


@dataclass(slots=True)
class _CurrentSong:
    """The song this stream is playing, as far as we know, and what is being learned of it."""

    recognition: Recognition
    quiet_until_s: float  # no fallback call before this
    song_start_s: float | None  # clock time the song began (offset known)
    ends_at_s: float | None  # predicted end (offset and duration known)
    learning: bool = False
    learned_until_s: float = 0.0
    pending: list[FloatArray] = field(default_factory=list)
    pending_start_s: float = 0.0


def _within_song(
    recognition: Recognition, samples: FloatArray, start_s: float, fallback: FallbackService
) -> tuple[FloatArray, float]:
    """The part of a named window that is the song (a window often straddles two songs: the
    service's offset and duration tell where this one begins and ends)."""
    if recognition.offset_s is None:
        return samples, start_s
    rate = fallback.policy.sample_rate_hz
    lead_s = max(0.0, -recognition.offset_s)
    end_s = samples.size / rate
    if recognition.duration_s is not None:
        end_s = min(end_s, recognition.duration_s - recognition.offset_s)
    clip = samples[int(lead_s * rate) : max(int(lead_s * rate), int(end_s * rate))]
    return clip, start_s + lead_s


class StreamIdentification:
    """Identifies one stream's windows: catalog, then fallbacks, and learns what they name."""

    def __init__(
        self,
        stream_id: int,
        catalog: Recognizer,
        fallback: FallbackService | None,
        *,
        icy_title: Callable[[], str | None] | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.catalog = catalog
        self.fallback = fallback
        self.icy_title = icy_title or (lambda: None)
        self._current: _CurrentSong | None = None
        # What the last windows were named: a window in a passage two recordings share is
        # named after the one already playing (see `Recognizer.recognize`, core/song_on_air.py).
        self._on_air: SongOnAir[str] = SongOnAir()
        # The audio before the current window (new parts of past windows, oldest first), so the
        # start of a song that is named late is learned too. Bounded: two windows' worth.
        self._history: deque[tuple[float, FloatArray]] = deque()
        self._last_window_at_s: float | None = None

    def identify(self, samples: FloatArray) -> Recognition | None:
        """The song in this window (called on an identification thread, one at a time)."""
        answer = self._named(samples)
        self._on_air.heard(None if answer is None else answer.track_key)
        return answer

    def _named(self, samples: FloatArray) -> Recognition | None:
        found = self.catalog.recognize(samples, self._on_air.track)
        fallback = self.fallback
        if fallback is None:
            return found
        now = fallback.clock()
        try:
            return self._identify(fallback, found, samples, now)
        finally:
            self._remember(fallback, samples, now)

    def _identify(
        self,
        fallback: FallbackService,
        found: Recognition | None,
        samples: FloatArray,
        now: float,
    ) -> Recognition | None:
        if found is not None:
            self._heard(fallback, found, samples, now, named_by_fallback=False)
            return found
        current = self._current
        if current is not None and now < current.quiet_until_s:
            fallback.count("skipped_song_named")
            self._extend(fallback, current, samples, now)
            return None
        self._stop_learning(fallback)
        self._current = None
        if classify_audio(samples, fallback.policy.sample_rate_hz) is not AudioKind.MUSIC:
            fallback.count("skipped_not_music")
            return None
        answer = fallback.ask(self.stream_id, samples, self.icy_title())
        if answer is not None and answer.recognizer != ICY:
            self._heard(fallback, answer, samples, now, named_by_fallback=True)
        return answer

    def _heard(
        self,
        fallback: FallbackService,
        recognition: Recognition,
        samples: FloatArray,
        now: float,
        *,
        named_by_fallback: bool,
    ) -> None:
        current = self._current
        if current is not None and current.recognition.track_key == recognition.track_key:
            self._extend(fallback, current, samples, now)  # the catalog confirms the song
            return
        self._stop_learning(fallback)
        window_s = fallback.policy.window_s
        song_start_s = ends_at_s = None
        if recognition.offset_s is not None:
            song_start_s = now - window_s - recognition.offset_s
            if recognition.duration_s is not None:
                ends_at_s = song_start_s + recognition.duration_s
        # Until a window has passed the song's end, windows straddle it: what follows is best
        # asked about (and learned) from a window wholly inside the next song.
        quiet_until_s = (
            ends_at_s + window_s if ends_at_s is not None else now + fallback.policy.hold_s
        )
        learning = named_by_fallback and fallback.learner is not None
        self._current = _CurrentSong(
            recognition, quiet_until_s, song_start_s, ends_at_s, learning, learned_until_s=now
        )
        if learning:
            if song_start_s is not None:
                self._learn_history(fallback, recognition, song_start_s, now - window_s)
            clip, clip_start_s = _within_song(recognition, samples, now - window_s, fallback)
            if clip.size >= _MIN_FRAGMENT_S * fallback.policy.sample_rate_hz:
                self._learn(fallback, recognition, clip, clip_start_s, song_start_s)

    def _remember(self, fallback: FallbackService, samples: FloatArray, now: float) -> None:
        rate = fallback.policy.sample_rate_hz
        since_s = (
            fallback.policy.window_s
            if self._last_window_at_s is None
            else (now - self._last_window_at_s)
        )
        self._last_window_at_s = now
        new = samples[samples.size - min(samples.size, int(since_s * rate)) :]
        self._history.append((now, new))
        while self._history and self._history[0][0] < now - 2 * fallback.policy.window_s:
            self._history.popleft()

    def _learn_history(
        self,
        fallback: FallbackService,
        recognition: Recognition,
        song_start_s: float,
        window_start_s: float,
    ) -> None:
        """Learn what was heard of the song before the window that named it."""
        rate = fallback.policy.sample_rate_hz
        pieces: list[FloatArray] = []
        first_s: float | None = None
        for end_s, piece in self._history:
            start_s = end_s - piece.size / rate
            lo, hi = max(start_s, song_start_s), min(end_s, window_start_s)
            if hi - lo <= 0:
                continue
            first_s = lo if first_s is None else first_s
            pieces.append(piece[int((lo - start_s) * rate) : int((hi - start_s) * rate)])
        if first_s is not None and sum(p.size for p in pieces) >= _MIN_FRAGMENT_S * rate:
            clip = np.concatenate(pieces).astype(np.float32)
            self._learn(fallback, recognition, clip, first_s, song_start_s)

    def _extend(
        self, fallback: FallbackService, current: _CurrentSong, samples: FloatArray, now: float
    ) -> None:
        """Keep the audio heard since the last learned window, while the song surely goes on."""
        if not current.learning or current.ends_at_s is None or now > current.ends_at_s:
            return
        rate = fallback.policy.sample_rate_hz
        new_s = min(now - current.learned_until_s, samples.size / rate)
        if new_s <= 0:
            return
        if not current.pending:
            current.pending_start_s = now - new_s
        current.pending.append(samples[samples.size - int(new_s * rate) :])
        current.learned_until_s = now
        if sum(piece.size for piece in current.pending) >= fallback.policy.window_s * rate:
            self._flush(fallback, current)

    def _stop_learning(self, fallback: FallbackService) -> None:
        current = self._current
        if current is not None and current.learning:
            pending_s = sum(p.size for p in current.pending) / fallback.policy.sample_rate_hz
            if pending_s >= _MIN_FRAGMENT_S:
                self._flush(fallback, current)
            current.learning = False

    def _flush(self, fallback: FallbackService, current: _CurrentSong) -> None:
        samples = np.concatenate(current.pending).astype(np.float32)
        current.pending = []
        self._learn(
            fallback, current.recognition, samples, current.pending_start_s, current.song_start_s
        )

    def _learn(
        self,
        fallback: FallbackService,
        recognition: Recognition,
        samples: FloatArray,
        fragment_start_s: float,
        song_start_s: float | None,
    ) -> None:
        if fallback.learner is None:
            return
        answer = LearnedAnswer(
            source=recognition.recognizer,
            info=TrackInfo(
                title=recognition.title,
                artist=recognition.artist,
                isrc=recognition.isrc,
                label=recognition.label,
                genre=recognition.genre,
            ),
            song_offset_s=None if song_start_s is None else fragment_start_s - song_start_s,
            song_duration_s=recognition.duration_s,
        )
        try:
            fallback.learner.learn(answer, samples, self.stream_id)
        except Exception as error:  # the catalog database may be down: identification goes on
            logger.warning("[CATALOG] could not learn %s (%s)", recognition.title, error)
            return
        fallback.count("learned_fragments")
