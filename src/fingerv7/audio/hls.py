"""Capture of a live HLS stream (`.m3u8`): playlist refresh, segment fetch, one decoder.

:class:`HlsCapture` is a :class:`~fingerv7.audio.capture.StreamCapture` whose one "connection"
is a session of playlist refreshes: it fetches each new segment with the worker's HTTP client and
feeds the bytes, back to back, to the same decoding thread as the other streams (MPEG-TS and
packed AAC segments concatenate into a valid stream). Where the bytes do not follow on, because
of an EXT-X-DISCONTINUITY or because segments fell off the playlist before we fetched them, the
decoder starts afresh and the window is cleared, so no identification spans the splice. A
playlist that stops advancing, or fails to load, ends the session; the inherited
:meth:`run_forever` reconnects with backoff like any other stream. fMP4 segments are not
supported (a non-seekable MP4 cannot be demuxed as it arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from fingerv7.audio.capture import MAX_UNDECODED_BYTES, CaptureTimeouts, StreamCapture
from fingerv7.audio.decoding import ByteFeed, decode_into_window, run_on_own_thread
from fingerv7.audio.icy import IcyCapture
from fingerv7.audio.window import RollingWindow
from fingerv7.core.hls_playlist import (
    MasterPlaylist,
    MediaPlaylist,
    PlaylistError,
    Segment,
    SegmentCursor,
    parse_playlist,
)
from fingerv7.processing import StreamStats

logger = logging.getLogger("fingerv7.audio.hls")

_FORMATS_BY_SUFFIX = {".ts": "mpegts", ".aac": "aac", ".adts": "aac", ".mp3": "mp3"}
# A live playlist that has not advanced for this many target durations is dead (RFC 8216 §6.3.4
# lets a client give up after a while; three is what players commonly use).
STALE_TARGET_DURATIONS = 3.0
_BACKPRESSURE_PAUSE_S = 0.02


class HlsStalled(httpx.TransportError):
    """The live playlist stopped advancing (treated like a dropped connection)."""


def is_hls_url(url: str) -> bool:
    """True for URLs whose path ends in `.m3u8` (the HLS playlist extension)."""
    return urlsplit(url).path.lower().endswith(".m3u8")


def segment_format(url: str) -> str | None:
    """FFmpeg's demuxer for a segment URL, or None to probe."""
    path = urlsplit(url).path.lower()
    for suffix, name in _FORMATS_BY_SUFFIX.items():
        if path.endswith(suffix):
            return name
    return None


class _SegmentDecoder:
    """One decoding thread fed with consecutive segments."""

    def __init__(self, capture: HlsCapture, format_hint: str | None) -> None:
        self.feed = ByteFeed()
        progress = capture.progress()
        self.task = asyncio.ensure_future(
            run_on_own_thread(
                lambda: decode_into_window(
                    self.feed,
                    capture.window,
                    capture.sample_rate_hz,
                    format_hint=format_hint,
                    on_audio=progress.audio_arrived,
                ),
                name=f"decode-{capture.label}",
            )
        )

    async def put(self, data: bytes) -> None:
        if self.task.done():
            await self.task  # raises the decoder's error
        self.feed.put(data)
        while self.feed.buffered_bytes > MAX_UNDECODED_BYTES and not self.task.done():
            await asyncio.sleep(_BACKPRESSURE_PAUSE_S)

    async def finish(self) -> None:
        """Decode what was fed, then stop."""
        self.feed.end()
        await self.task

    def abort(self) -> None:
        self.feed.abort()
        if not self.task.done():
            self.task.cancel()


class HlsCapture(StreamCapture):
    """Keeps `window` filled from a live HLS playlist, reconnecting (with backoff) as needed."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        window: RollingWindow,
        sample_rate_hz: int,
        *,
        timeouts: CaptureTimeouts | None = None,
        label: str = "",
    ) -> None:
        super().__init__(url, http, window, sample_rate_hz, timeouts=timeouts, label=label)
        self.label = label or url
        self.segments_fetched = 0
        self.decoder_restarts = 0
        self.segments_missed = 0

    async def capture_once(self, stats: StreamStats) -> None:
        """One session: follow the playlist until it ends or fails; raises when it fails."""
        media_url, playlist = await self._media_playlist()
        self.connections += 1
        self.window.clear()
        self.progress().audio_arrived()  # wake a waiter: the window was cleared
        cursor = SegmentCursor()
        decoder: _SegmentDecoder | None = None
        restart_next = False
        loop = asyncio.get_running_loop()
        advanced_at = loop.time()
        try:
            while True:
                before = cursor.last_sequence
                for step in cursor.next_steps(playlist):
                    data = await self._segment_bytes(step.segment)
                    if data is None:
                        cursor.skipped(step.segment)
                        restart_next = True
                        continue
                    if decoder is not None and (step.restart or restart_next):
                        await self._restart(decoder)
                        decoder = None
                    restart_next = False
                    if decoder is None:
                        decoder = _SegmentDecoder(self, segment_format(step.segment.url))
                    await decoder.put(data)
                    cursor.fetched(step.segment)
                    self.segments_fetched += 1
                    self._count(stats, len(data))
                self.segments_missed = cursor.missed
                if playlist.ended:
                    if decoder is not None:
                        await decoder.finish()
                    return
                if cursor.last_sequence != before:
                    advanced_at = loop.time()
                elif loop.time() - advanced_at > STALE_TARGET_DURATIONS * max(
                    playlist.target_duration_s, 1.0
                ):
                    raise HlsStalled("the live playlist stopped advancing")
                # RFC 8216 §6.3.4: wait a target duration after a change, half of one otherwise.
                changed = cursor.last_sequence != before
                await asyncio.sleep(playlist.target_duration_s * (1.0 if changed else 0.5))
                playlist = await self._load_media(media_url)
        finally:
            if decoder is not None:
                decoder.abort()

    async def _restart(self, decoder: _SegmentDecoder) -> None:
        """The bytes do not follow on: drain the old decoder, clear the window."""
        with contextlib.suppress(Exception):  # a broken tail is why we restart
            await decoder.finish()
        decoder.abort()
        self.decoder_restarts += 1
        self.window.clear()
        self.progress().audio_arrived()
        logger.info("[STREAM] %s: HLS discontinuity or gap; decoding afresh", self.label)

    def _count(self, stats: StreamStats, size: int) -> None:
        if stats.may_process():
            stats.bytes_read += size
            stats.last_activity = datetime.now(UTC)
            stats.status = "running"

    async def _media_playlist(self) -> tuple[str, MediaPlaylist]:
        playlist = await self._load(self.url)
        if isinstance(playlist, MasterPlaylist):
            media_url = playlist.choose()
            return media_url, await self._load_media(media_url)
        return self.url, playlist

    async def _load_media(self, url: str) -> MediaPlaylist:
        playlist = await self._load(url)
        if not isinstance(playlist, MediaPlaylist):
            raise HlsStalled("a variant playlist points to another multivariant playlist")
        return playlist

    async def _load(self, url: str) -> MediaPlaylist | MasterPlaylist:
        response = await self._http.get(url, timeout=self._timeout())
        response.raise_for_status()
        try:
            return parse_playlist(response.text, str(response.url))
        except PlaylistError as error:
            raise HlsStalled(f"bad playlist: {error}") from error

    async def _segment_bytes(self, segment: Segment) -> bytes | None:
        """The segment's bytes; None when it is gone already (404/410: a gap, not a failure)."""
        response = await self._http.get(segment.url, timeout=self._timeout())
        if response.status_code in (404, 410):
            logger.info("[STREAM] %s: segment %d is gone", self.label, segment.sequence)
            return None
        response.raise_for_status()
        return response.content

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeouts.connect_s, read=self.timeouts.read_s)


def create_capture(
    url: str,
    http: httpx.AsyncClient,
    window: RollingWindow,
    sample_rate_hz: int,
    *,
    timeouts: CaptureTimeouts | None = None,
    label: str = "",
    icy_titles: bool = False,
) -> StreamCapture:
    """The capture for a stream URL: HLS for `.m3u8`, a continuous HTTP stream otherwise (one
    that takes ICY metadata out and keeps its titles, when `icy_titles`)."""
    kind: type[StreamCapture] = StreamCapture
    if is_hls_url(url):
        kind = HlsCapture
    elif icy_titles:
        kind = IcyCapture
    return kind(url, http, window, sample_rate_hz, timeouts=timeouts, label=label)
