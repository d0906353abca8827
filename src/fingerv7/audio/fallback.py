"""The external side of the recognizer chain: fallbacks, their budgets, and learned songs.

:class:`FallbackService` holds a worker's external recognizers (RECOGNIZERS after `catalog`, in
that order) with one budget each (:mod:`fingerv7.core.recognition_budget`: a rate shared fairly
by the streams that want it, backoff after 429s and errors) and the counters exported as
metrics. :class:`LearningCatalogRecognizer` is the catalog matcher with matches on learned
fragments reported as their song (:mod:`fingerv7.catalog.learning`). ICY titles are a low-trust
source: used when named in RECOGNIZERS, never learned. When a stream's windows are sent to the
fallbacks, and what is learned from their answers, is decided per stream in
:mod:`fingerv7.audio.stream_identification`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fingerv7.audio.egress_budget import EgressBudget
from fingerv7.audio.recognition import CatalogRecognizer, Recognition
from fingerv7.audio.remote import RateLimited, RecognizerError, RemoteRecognizer
from fingerv7.catalog.learning import CanonicalSong, LearnedAnswer, LearningCatalog
from fingerv7.core.recognition_budget import RecognizerBudget

logger = logging.getLogger("fingerv7.audio.fallback")

FloatArray = npt.NDArray[np.float32]
ICY = "icy"


class LearningCatalogRecognizer:
    """The catalog matcher, with matches on learned fragments reported as their song."""

    name = "catalog"

    def __init__(self, catalog: CatalogRecognizer, learning: LearningCatalog) -> None:
        self.catalog = catalog
        self.learning = learning
        self._lock = threading.Lock()
        self._songs: dict[int, CanonicalSong] = {}
        self._version: tuple[int, int] | None = None
        self._reload_songs()

    def recognize(self, samples: FloatArray, on_air: str | None = None) -> Recognition | None:
        found = self.catalog.recognize(samples, on_air)
        if found is None:
            return None
        song = self._songs.get(int(found.track_key.rsplit(":", 1)[1]))
        if song is None:
            return found
        offset_s = None
        if song.fragment_offset_s is not None and found.offset_s is not None:
            offset_s = song.fragment_offset_s + found.offset_s
        info = song.info
        return replace(
            found,
            artist=info.artist,
            title=info.title,
            track_key=song.key,
            isrc=info.isrc,
            label=info.label,
            genre=info.genre,
            offset_s=offset_s,
            duration_s=song.song_duration_s,
        )

    def learn(self, answer: LearnedAnswer, samples: FloatArray, stream_id: int) -> None:
        """Keep a fragment; this worker reloads its index at its next learned-refresh tick."""
        self.learning.learn(answer, samples, stream_id=stream_id)

    def refresh(self) -> None:
        # Songs first: a fragment the index has must always be known as its song.
        self._reload_songs()
        self.catalog.refresh()

    def refresh_if_changed(self) -> bool:
        """Reload the index when fragments were learned or forgotten (by any worker)."""
        if self.learning.version() == self._version:
            return False
        self.refresh()
        return True

    def close(self) -> None:
        self.catalog.close()

    def _reload_songs(self) -> None:
        with self._lock:
            version = self.learning.version()
            self._songs = self.learning.canonical_songs()
            self._version = version


@dataclass(slots=True)
class FallbackCounters:
    """Windows the fallbacks were not asked about, and why (exported with the budgets)."""

    skipped_not_music: int = 0
    skipped_song_named: int = 0
    learned_fragments: int = 0
    icy_named: int = 0


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    window_s: float
    sample_rate_hz: int
    hold_s: float = 60.0
    requests_per_minute: float = 4.0
    cost_per_call: float = 0.0


class FallbackService:
    """The worker's external recognizers (in RECOGNIZERS order) and their budgets."""

    def __init__(
        self,
        order: Sequence[str],
        remotes: Sequence[RemoteRecognizer],
        policy: FallbackPolicy,
        *,
        learner: LearningCatalogRecognizer | None = None,
        clock: Callable[[], float] = time.monotonic,
        egress: EgressBudget | None = None,
    ) -> None:
        self.order = tuple(order)
        self.egress = egress
        self.remotes = {remote.name: remote for remote in remotes}
        self.policy = policy
        self.learner = learner
        self.clock = clock
        self.budgets = {name: RecognizerBudget(policy.requests_per_minute) for name in self.remotes}
        self.counters = FallbackCounters()
        self._lock = threading.Lock()

    def ask(self, stream_id: int, samples: FloatArray, icy_title: str | None) -> Recognition | None:
        """The first fallback's answer that the budget allows (None: no one named it)."""
        for name in self.order:
            if name == ICY:
                answer = recognition_from_icy(icy_title)
                if answer is not None:
                    with self._lock:
                        self.counters.icy_named += 1
                    return answer
                continue
            answer = self._call(name, stream_id, samples)
            if answer is not None:
                return answer
        return None

    def _call(self, name: str, stream_id: int, samples: FloatArray) -> Recognition | None:
        budget = self.budgets[name]
        with self._lock:
            if not budget.try_acquire(stream_id, self.clock()):
                return None
        if self.egress is not None and not self.egress.try_take(name):
            with self._lock:
                budget.withdrawn()
            return None
        try:
            answer = self.remotes[name].recognize_clip(samples, self.policy.sample_rate_hz)
        except RateLimited as error:
            with self._lock:
                budget.rate_limited(self.clock(), error.retry_after_s)
            logger.warning("[RECOGNIZER] %s: rate limited; backing off", name)
            return None
        except RecognizerError as error:
            with self._lock:
                budget.failed(self.clock())
            logger.warning("[RECOGNIZER] %s failed (%s); backing off", name, error)
            return None
        with self._lock:
            budget.succeeded(named=answer is not None)
        return answer

    def forget(self, stream_id: int) -> None:
        with self._lock:
            for budget in self.budgets.values():
                budget.forget(stream_id)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Per recognizer: calls, 429s, errors, names, refusals, spend; plus the skips."""
        with self._lock:
            report: dict[str, dict[str, float]] = {}
            for name, budget in self.budgets.items():
                counters = budget.counters
                report[name] = {
                    "calls": counters.calls,
                    "rate_limited": counters.rate_limited,
                    "errors": counters.errors,
                    "named": counters.named,
                    "refused_by_budget": counters.refused_by_budget,
                    "refused_by_egress": counters.refused_by_egress,
                    "spend": counters.calls * self.policy.cost_per_call,
                }
            report["fallback"] = {
                "skipped_not_music": self.counters.skipped_not_music,
                "skipped_song_named": self.counters.skipped_song_named,
                "learned_fragments": self.counters.learned_fragments,
                "icy_named": self.counters.icy_named,
            }
            return report

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self.counters, what, getattr(self.counters, what) + 1)


def recognition_from_icy(stream_title: str | None) -> Recognition | None:
    """`Artist - Title` from an ICY StreamTitle, as a low-confidence recognition."""
    if not stream_title:
        return None
    artist, separator, title = stream_title.partition(" - ")
    if not separator or not artist.strip() or not title.strip():
        return None
    artist, title = artist.strip(), title.strip()
    return Recognition(
        artist=artist,
        title=title,
        track_key=f"icy:{artist.casefold()}|{title.casefold()}",
        recognizer=ICY,
        confidence=0.3,
    )
