"""A local live HLS station for tests: segments written to a folder, a sliding playlist over HTTP.

The playlist (songs, mono PCM) is encoded once into segments in `folder`: MPEG-TS by FFmpeg's
own HLS muxer, or packed AAC (ADTS frames grouped into segments). `/live.m3u8` then serves a live
playlist computed from the clock, like a packager: the last few segments that have "happened"
since the first request, with sequence numbers that keep growing as the programme loops (each
loop starts with EXT-X-DISCONTINUITY). Tests can make segments vanish (404: a gap), make the
playlist fail for a while (a reconnect), or mark a discontinuity. `/master.m3u8` lists it as the
only variant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import av
import numpy as np

from fingerv7.core.hls_playlist import MediaPlaylist, parse_playlist
from fingerv7.testing.background_http import BackgroundHttpServer
from fingerv7.testing.radio import RadioSong, _resampled, encode_programme

_ADTS_SAMPLES_PER_FRAME = 1024


def write_ts_segments(
    songs: Sequence[RadioSong], folder: Path, segment_s: float, sample_rate_hz: int
) -> list[tuple[str, float]]:
    """MPEG-TS segments (AAC audio) by FFmpeg's HLS muxer; [(file name, duration)]."""
    pcm = np.concatenate([_resampled(song, sample_rate_hz) for song in songs])
    options = {
        "hls_time": str(segment_s),
        "hls_list_size": "0",
        "hls_segment_filename": str(folder / "seg%05d.ts"),
    }
    with av.open(str(folder / "vod.m3u8"), mode="w", format="hls", options=options) as container:
        stream = container.add_stream("aac", rate=sample_rate_hz, layout="mono")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = 64_000
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=sample_rate_hz)
        for start in range(0, pcm.size, 4096):
            frame = av.AudioFrame.from_ndarray(
                pcm[None, start : start + 4096], format="flt", layout="mono"
            )
            frame.sample_rate = sample_rate_hz
            for converted in resampler.resample(frame):
                container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    vod = parse_playlist((folder / "vod.m3u8").read_text(), "http://x/")
    assert isinstance(vod, MediaPlaylist)
    return [(s.url.rsplit("/", 1)[1], s.duration_s) for s in vod.segments]


def write_aac_segments(
    songs: Sequence[RadioSong], folder: Path, segment_s: float, sample_rate_hz: int
) -> list[tuple[str, float]]:
    """Packed-audio AAC segments: the ADTS stream cut at frame boundaries."""
    adts, _ = encode_programme(songs, "aac", sample_rate_hz, 64_000)
    frame_s = _ADTS_SAMPLES_PER_FRAME / sample_rate_hz
    frames_per_segment = max(1, round(segment_s / frame_s))
    segments: list[tuple[str, float]] = []
    position, frames, start = 0, 0, 0
    while position + 7 <= len(adts):
        length = ((adts[position + 3] & 0x03) << 11) | (adts[position + 4] << 3)
        length |= adts[position + 5] >> 5
        position += max(length, 7)
        frames += 1
        if frames == frames_per_segment or position + 7 > len(adts):
            name = f"seg{len(segments):05d}.aac"
            (folder / name).write_bytes(adts[start:position])
            segments.append((name, frames * frame_s))
            start, frames = position, 0
    return segments


class LocalHlsStation(BackgroundHttpServer):
    """A live HLS station at `url` (`/live.m3u8`); `start()` returns at once."""

    thread_name = "local-hls"

    def __init__(
        self,
        songs: Sequence[RadioSong],
        folder: Path,
        *,
        segment_format: str = "ts",
        segment_s: float = 1.0,
        playlist_segments: int = 4,
        sample_rate_hz: int = 22050,
    ) -> None:
        writers = {"ts": write_ts_segments, "aac": write_aac_segments}
        self.folder = folder
        self.segments = writers[segment_format](songs, folder, segment_s, sample_rate_hz)
        self.segment_s = segment_s
        self.playlist_segments = playlist_segments
        self._lock = threading.Lock()
        self._on_air_at: float | None = None
        self._vanished: set[int] = set()
        self._discontinuities: set[int] = set()
        self._playlist_failures = 0
        self.playlist_requests = 0
        self.segment_requests = 0
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/live.m3u8"

    @property
    def master_url(self) -> str:
        return f"{self.base_url}/master.m3u8"

    def live_sequence(self) -> int:
        """The sequence number of the newest segment on the playlist (-1 before it airs)."""
        with self._lock:
            on_air_at = self._on_air_at
        if on_air_at is None:
            return -1
        return int((time.monotonic() - on_air_at) / self.segment_s) + self.playlist_segments - 1

    def vanish(self, sequences: Sequence[int]) -> None:
        """These segments answer 404, as if they expired before the client fetched them."""
        with self._lock:
            self._vanished.update(sequences)

    def mark_discontinuity(self, sequence: int) -> None:
        with self._lock:
            self._discontinuities.add(sequence)

    def fail_playlist(self, times: int) -> None:
        """The next `times` playlist requests answer 503."""
        with self._lock:
            self._playlist_failures = times

    def _playlist(self) -> tuple[int, str]:
        with self._lock:
            self.playlist_requests += 1
            if self._playlist_failures > 0:
                self._playlist_failures -= 1
                return 503, ""
            if self._on_air_at is None:
                self._on_air_at = time.monotonic()
            discontinuities = set(self._discontinuities)
        newest = self.live_sequence()
        first = max(0, newest - self.playlist_segments + 1)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{max(1, round(self.segment_s))}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        for sequence in range(first, newest + 1):
            name, duration_s = self.segments[sequence % len(self.segments)]
            looped = sequence > 0 and sequence % len(self.segments) == 0
            if looped or sequence in discontinuities:
                lines.append("#EXT-X-DISCONTINUITY")
            lines += [f"#EXTINF:{duration_s:.6f},", f"{name}?seq={sequence}"]
        return 200, "\n".join(lines) + "\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        station = self

        class HlsHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/live.m3u8":
                    status, body = station._playlist()
                    self._send(status, body.encode(), "application/vnd.apple.mpegurl")
                elif path == "/master.m3u8":
                    body = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000\nlive.m3u8\n"
                    self._send(200, body.encode(), "application/vnd.apple.mpegurl")
                else:
                    self._segment(path.lstrip("/"), query)

            def _segment(self, name: str, query: str) -> None:
                sequence = int(query.removeprefix("seq=") or -1)
                with station._lock:
                    station.segment_requests += 1
                    gone = sequence in station._vanished
                file = station.folder / name
                if gone or "/" in name or not file.is_file():
                    self._send(404, b"", "text/plain")
                    return
                self._send(200, file.read_bytes(), "video/mp2t")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return HlsHandler
