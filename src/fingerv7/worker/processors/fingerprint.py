"""The `fingerprint` processor: capture each stream, identify it every few seconds, log plays.

Per stream task: a :class:`~fingerv7.audio.StreamCapture` keeps the last
`IDENTIFICATION_DURATION` seconds of the stream in a window (one connection, decoding on its own
thread); every `IDENTIFICATION_INTERVAL` seconds of new audio the window is recognised on a
shared thread pool; a :class:`~fingerv7.playlog.PlayTracker` folds consecutive sightings of a
song into one play; each new play goes to the worker's :class:`~fingerv7.playlog.PlayLog`
(durable buffer, then music_log, once). Nothing is committed once `stats.may_process()` is
false. Shared by all streams of a worker: the catalog index, the thread pool, the HTTP client,
the play log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from fingerv7.audio import (
    CaptureTimeouts,
    Recognition,
    Recognizer,
    RollingWindow,
    StreamCapture,
)
from fingerv7.audio.fallback import (
    FallbackService,
    LearningCatalogRecognizer,
)
from fingerv7.audio.hls import create_capture
from fingerv7.audio.stream_identification import StreamIdentification
from fingerv7.catalog import DEFAULT_DATABASE_URL
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig
from fingerv7.playlog import (
    MusicLogWriter,
    Play,
    PlayBuffer,
    PlayLog,
    PlayTracker,
    PlayWriter,
    SqliteMusicLogWriter,
    stream_metadata_fields,
)
from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.storage.database_url import describe_url
from fingerv7.worker.processors.recognizers import catalog_loader, fallback_loader
from fingerv7.worker.settings import WorkerSettings

logger = logging.getLogger("fingerv7.worker.processors.fingerprint")


@dataclass(frozen=True, slots=True)
class IdentificationPlan:
    """How much audio each identification looks at, how often, and the duplicate window."""

    window_s: float
    interval_s: float
    duplicate_window_s: float
    sample_rate_hz: int

    @property
    def window_samples(self) -> int:
        return max(1, round(self.window_s * self.sample_rate_hz))

    @property
    def interval_samples(self) -> int:
        return max(1, round(self.interval_s * self.sample_rate_hz))


class FingerprintProcessor:
    """Identifies songs on every assigned stream and logs each play once."""

    name: ClassVar[str] = "fingerprint"

    def __init__(
        self,
        *,
        recognizer_loader: Callable[[], Recognizer],
        play_log: PlayLog,
        instance_id: str,
        plan: IdentificationPlan,
        capture_timeouts: CaptureTimeouts | None = None,
        catalog_refresh_s: float | None = None,
        identification_threads: int | None = None,
        fallback_loader: Callable[[Recognizer], FallbackService] | None = None,
        learned_refresh_s: float | None = None,
        icy_titles: bool = False,
    ) -> None:
        self.play_log = play_log
        self.instance_id = instance_id
        self.plan = plan
        self.capture_timeouts = capture_timeouts or CaptureTimeouts()
        self._recognizer_loader = recognizer_loader
        self._recognizer: Recognizer | None = None
        self._catalog_problem: str | None = None  # shown in /health and the heartbeat
        self.catalog_description = "the catalog"
        self._load_lock = asyncio.Lock()
        self._catalog_refresh_s = catalog_refresh_s
        self._refresh_task: asyncio.Task[None] | None = None
        self._fallback_loader = fallback_loader
        self.fallback: FallbackService | None = None
        self._learned_refresh_s = learned_refresh_s
        self._learned_refresh_task: asyncio.Task[None] | None = None
        self._icy_titles = icy_titles
        self._executor = ThreadPoolExecutor(
            max_workers=identification_threads or min(8, os.cpu_count() or 1),
            thread_name_prefix="identify",
        )
        self._http = httpx.AsyncClient(
            follow_redirects=True,
            # With ICY titles wanted, servers interleave metadata; IcyCapture takes it out.
            headers={"User-Agent": "fingerv7-fingerprint", "Icy-MetaData": str(int(icy_titles))},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # built outside the event loop: the first run() starts the play log
        else:
            self.play_log.start()  # plays left by an earlier run are written at once
            # Load the catalog now, not with the first stream: an empty or unreachable catalog
            # must be said at start, even by a worker that has no stream yet.
            self._preload = asyncio.create_task(self._preload_catalog(), name="catalog-load")

    async def run(self, stream: AssignedStream, stats: StreamStats) -> None:
        self.play_log.start()
        recognizer = await self._loaded_recognizer()
        window = RollingWindow(self.plan.window_samples)
        capture = create_capture(
            stream.url,
            self._http,
            window,
            self.plan.sample_rate_hz,
            timeouts=self.capture_timeouts,
            label=f"{stream.id} ({stream.name})",
            icy_titles=self._icy_titles,
        )
        identification = StreamIdentification(
            stream.id,
            recognizer,
            self.fallback,
            icy_title=lambda: getattr(capture, "icy_title", None),
        )
        stats.status = "starting"
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(capture.run_forever(stats), name=f"capture-{stream.id}")
                group.create_task(
                    self._identify_forever(stream, stats, capture, identification),
                    name=f"identify-{stream.id}",
                )
        except ExceptionGroup as failure:  # a crash: report the error itself, not the group
            raise failure.exceptions[0] from failure
        finally:
            if self.fallback is not None:
                self.fallback.forget(stream.id)

    async def _identify_forever(
        self,
        stream: AssignedStream,
        stats: StreamStats,
        capture: StreamCapture,
        identification: StreamIdentification,
    ) -> None:
        window, progress = capture.window, capture.progress()
        tracker = PlayTracker(self.plan.duplicate_window_s)
        loop = asyncio.get_running_loop()
        generation, due = window.generation, window.capacity_samples
        while True:
            await progress.wait_for(generation, due)
            samples, seen_generation = window.latest()
            if seen_generation != generation:  # reconnected: wait for a fresh, full window
                generation, due = seen_generation, window.capacity_samples
                continue
            due += self.plan.interval_samples
            if due <= window.samples_since_clear:  # fell behind: skip the missed slots
                due = window.samples_since_clear + self.plan.interval_samples
            recognition = await loop.run_in_executor(
                self._executor, identification.identify, samples
            )
            heard_at = datetime.now(UTC)
            if not stats.may_process():
                continue  # we may have lost the stream; the agent is about to stop us
            stats.processed += 1
            stats.last_activity = heard_at
            if recognition is None:
                continue
            stats.identifications += 1
            stats.last_identified_at = heard_at
            stats.last_song = f"{recognition.artist} - {recognition.title}"
            if tracker.observe(recognition.track_key, heard_at).is_new_play:
                await self.play_log.record(self._play(stream, recognition, heard_at))
                logger.info(
                    "[STREAM] %s (%s): now playing %s - %s (%s, confidence %.2f)",
                    stream.id,
                    stream.name,
                    recognition.artist,
                    recognition.title,
                    recognition.recognizer,
                    recognition.confidence,
                )

    def _play(self, stream: AssignedStream, recognition: Recognition, heard_at: datetime) -> Play:
        return Play(
            stream_id=stream.id,
            stream_name=stream.name,
            artist=recognition.artist,
            song_title=recognition.title,
            heard_at=heard_at,
            identified_by=f"{self.instance_id}:{recognition.recognizer}",
            isrc=recognition.isrc,
            label=recognition.label,
            genre=recognition.genre,
            recognizer=recognition.recognizer,
            **stream_metadata_fields(dict(stream.metadata)),
        )

    def problems(self) -> list[str]:
        """What stops this worker identifying songs (reported in /health and the heartbeat)."""
        problems = [self._catalog_problem, self.play_log.problem()]
        return [p for p in problems if p]

    async def _preload_catalog(self) -> None:
        with contextlib.suppress(Exception):  # already logged and recorded as a problem
            await self._loaded_recognizer()

    def _judge_catalog(self, recognizer: Recognizer) -> None:
        count = _track_count(recognizer)
        if count == 0:
            problem = (
                f"{self.catalog_description} is empty: nothing can be identified and no play is "
                "logged (add songs with `fingerv7 catalog add`)"
            )
            if problem != self._catalog_problem:
                logger.error("[CATALOG] %s", problem)
            self._catalog_problem = problem
        else:
            self._catalog_problem = None

    async def _loaded_recognizer(self) -> Recognizer:
        """The recognizer, loaded once (on a thread: the catalog index may be large)."""
        async with self._load_lock:
            if self._recognizer is None:
                try:
                    self._recognizer = await asyncio.to_thread(self._recognizer_loader)
                except Exception as error:
                    first_line = str(error).splitlines()[0] if str(error) else ""
                    self._catalog_problem = (
                        f"{self.catalog_description} is unreachable ({type(error).__name__}: "
                        f"{first_line}): nothing is identified"
                    )
                    logger.exception("[CATALOG] %s", self._catalog_problem)
                    raise
                self._judge_catalog(self._recognizer)
                if self._catalog_refresh_s:
                    self._refresh_task = asyncio.create_task(
                        self._refresh_forever(self._recognizer, self._catalog_refresh_s),
                        name="catalog-refresh",
                    )
                if self._fallback_loader is not None:
                    self.fallback = await asyncio.to_thread(self._fallback_loader, self._recognizer)
                if isinstance(self._recognizer, LearningCatalogRecognizer):
                    self._learned_refresh_task = asyncio.create_task(
                        self._refresh_learned_forever(self._recognizer),
                        name="learned-refresh",
                    )
            return self._recognizer

    async def _refresh_forever(self, recognizer: Recognizer, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(recognizer.refresh)
            except Exception as error:  # the catalog database may be down: keep the old index
                logger.warning("[CATALOG] refresh failed (%s); keeping the loaded catalog", error)
            else:
                self._judge_catalog(recognizer)

    def play_log_backlog(self) -> dict[str, object]:
        """For the worker's /metrics and Prometheus: the plays not yet in music_log."""
        return self.play_log.backlog()

    async def _refresh_learned_forever(self, recognizer: LearningCatalogRecognizer) -> None:
        """Pick up fragments learned by any worker within LEARNED_REFRESH_SECONDS (a cheap
        version check; the index is reloaded only when it changed)."""
        while True:
            await asyncio.sleep(self._learned_refresh_s or 10.0)
            try:
                await asyncio.to_thread(recognizer.refresh_if_changed)
            except Exception as error:  # the catalog database may be down: keep the old index
                logger.warning("[CATALOG] learned refresh failed (%s)", error)

    def recognizer_metrics(self) -> dict[str, dict[str, float]]:
        """Calls, 429s, errors, spend per external recognizer, and the windows not sent."""
        return self.fallback.metrics() if self.fallback is not None else {}

    @property
    def last_db_write(self) -> datetime | None:
        """When a play last reached music_log (inserted or found already there)."""
        return self.play_log.stats.last_write_at

    async def aclose(self) -> None:
        preload = getattr(self, "_preload", None)
        if preload is not None:
            preload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await preload
        for task in (self._refresh_task, self._learned_refresh_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.play_log.aclose()
        await self._http.aclose()
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        if self._recognizer is not None:
            await asyncio.to_thread(self._recognizer.close)
        if self.fallback is not None:
            for remote in self.fallback.remotes.values():
                remote.close()
            if self.fallback.egress is not None:
                self.fallback.egress.close()


def _track_count(recognizer: Recognizer) -> int | None:
    recognizer = getattr(recognizer, "catalog", recognizer)  # a learning wrapper: its catalog
    identifier = getattr(recognizer, "identifier", None)
    count = getattr(identifier, "track_count", None)
    return count if isinstance(count, int) else None


def match_config_from(settings: WorkerSettings) -> MatchConfig:
    """The matcher's defaults, with the MATCH_* settings that are set applied."""
    config = MatchConfig()
    if settings.match_min_score is not None:
        config = replace(config, min_score=settings.match_min_score)
    if settings.match_min_aligned_hashes is not None:
        config = replace(config, min_aligned_hashes=settings.match_min_aligned_hashes)
    if settings.match_min_confidence is not None:
        config = replace(config, min_confidence=settings.match_min_confidence)
    if settings.match_min_runner_up_ratio is not None:
        config = replace(config, min_runner_up_ratio=settings.match_min_runner_up_ratio)
    if settings.match_max_search_postings is not None:
        budget = settings.match_max_search_postings
        config = replace(config, max_search_postings=budget or None)
    if settings.match_nominate_above_postings is not None:
        size = settings.match_nominate_above_postings
        config = replace(config, nominate_above_postings=size or None)
    if settings.match_verified_candidates is not None:
        config = replace(config, verified_candidates=settings.match_verified_candidates)
    if settings.match_second_look_tracks is not None:
        config = replace(config, second_look_tracks=settings.match_second_look_tracks)
    if settings.match_low_band is not None:
        config = replace(config, low_band_look=settings.match_low_band)
    return config


def create_processor(settings: WorkerSettings) -> FingerprintProcessor:
    """The processor for `PROCESSOR=fingerprint`, wired from the worker's settings."""
    fingerprint_config = FingerprintConfig()
    match_config = match_config_from(settings)
    window_s, rate_hz = settings.identification_duration, fingerprint_config.sample_rate_hz
    fallbacks = fallback_loader(settings, window_s, rate_hz)  # refuses a bad chain first
    catalog_url = settings.catalog_database_url or DEFAULT_DATABASE_URL
    writer: PlayWriter
    if settings.music_log_path is not None:  # embedded: one machine (the demo)
        writer = SqliteMusicLogWriter(
            settings.music_log_path,
            settings.db_table_name,
            window_s=settings.duplicate_prevention_window_seconds,
            zone=settings.zone,
        )
    else:
        writer = MusicLogWriter(
            settings.postgres_conninfo(),
            settings.db_table_name,
            window_s=settings.duplicate_prevention_window_seconds,
            zone=settings.zone,
        )
    play_log = PlayLog(PlayBuffer(settings.effective_playlog_buffer_path), writer)
    plan = IdentificationPlan(
        window_s=settings.identification_duration,
        interval_s=settings.effective_identification_interval,
        duplicate_window_s=settings.duplicate_prevention_window_seconds,
        sample_rate_hz=fingerprint_config.sample_rate_hz,
    )
    processor = FingerprintProcessor(
        recognizer_loader=catalog_loader(settings, catalog_url, fingerprint_config, match_config),
        play_log=play_log,
        instance_id=settings.instance_id,
        plan=plan,
        catalog_refresh_s=settings.catalog_refresh_seconds,
        fallback_loader=fallbacks,
        learned_refresh_s=settings.learned_refresh_seconds,
        icy_titles="icy" in settings.recognizer_list,
    )
    processor.catalog_description = f"the catalog ({describe_url(catalog_url)})"
    return processor
