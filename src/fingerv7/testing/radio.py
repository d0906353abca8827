"""A local internet radio for tests and demos: a playlist served over HTTP in real time.

`LocalRadio` encodes a playlist of songs (mono PCM) once, as MP3 (default), AAC (ADTS) or Ogg
Opus, and serves it from `http://127.0.0.1:<port>/radio.<ext>` paced at the audio's own rate,
like an Icecast mount. In broadcast mode (MP3 and AAC) every listener hears the same moment of
the programme: the station goes on air when its first listener connects, and a later listener,
or one that reconnects, joins mid-song where the programme is at. Ogg needs its headers at the
start of a stream, so each Ogg listener hears the playlist from the beginning. The playlist
loops unless told not to. `drop_listeners()` cuts every connection, as a flaky server does.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import av
import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from fingerv7.background_http import BackgroundHttpServer
from fingerv7.testing.encoding import encode_mono

FloatArray = npt.NDArray[np.float32]
SEND_EVERY_S = 0.05


@dataclass(frozen=True, slots=True)
class _Encoding:
    container: str
    codec: str
    sample_format: str
    rate_hz: int | None  # the codec's required rate, if any
    content_type: str
    broadcast_safe: bool  # a listener may join mid-stream
    options: tuple[tuple[str, str], ...] = ()


_ENCODINGS = {
    "mp3": _Encoding(
        "mp3",
        "libmp3lame",
        "s16p",
        None,
        "audio/mpeg",
        True,
        (("id3v2_version", "0"), ("write_xing", "0")),
    ),
    "aac": _Encoding("adts", "aac", "fltp", None, "audio/aac", True),
    "ogg": _Encoding("ogg", "libopus", "flt", 48000, "audio/ogg", False),
}


@dataclass(frozen=True, slots=True)
class RadioSong:
    """One song of the playlist: mono samples in [-1, 1] at `sample_rate_hz`."""

    artist: str
    title: str
    samples: FloatArray
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate_hz


@dataclass(frozen=True, slots=True)
class ScheduledSong:
    """When a song plays, in seconds from the start of the programme (first loop)."""

    song: RadioSong
    start_s: float
    end_s: float


def encode_programme(
    songs: Sequence[RadioSong], audio_format: str, sample_rate_hz: int, bitrate: int
) -> tuple[bytes, float]:
    """The playlist as one encoded stream, and its duration in seconds."""
    encoding = _ENCODINGS[audio_format]
    rate = encoding.rate_hz or sample_rate_hz
    pcm = np.concatenate([_resampled(song, rate) for song in songs]).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(
        buffer, mode="w", format=encoding.container, options=dict(encoding.options)
    ) as container:
        stream = container.add_stream(encoding.codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = bitrate
        encode_mono(container, stream, pcm, rate, encoding.sample_format)
    return buffer.getvalue(), pcm.size / rate


def _resampled(song: RadioSong, rate_hz: int) -> FloatArray:
    samples = np.asarray(song.samples, dtype=np.float64).reshape(-1)
    if song.sample_rate_hz != rate_hz:
        divisor = int(np.gcd(song.sample_rate_hz, rate_hz))
        samples = resample_poly(samples, rate_hz // divisor, song.sample_rate_hz // divisor)
    return samples.astype(np.float32)


class LocalRadio(BackgroundHttpServer):
    """One station; `start()` returns at once, `stop()` ends every connection."""

    thread_name = "local-radio"

    def __init__(
        self,
        songs: Sequence[RadioSong],
        *,
        audio_format: str = "mp3",
        bitrate: int = 64_000,
        sample_rate_hz: int = 22050,
        loop: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not songs:
            raise ValueError("a radio needs at least one song")
        if audio_format not in _ENCODINGS:
            raise ValueError(f"audio_format must be one of {sorted(_ENCODINGS)}")
        self.songs = tuple(songs)
        self.audio_format = audio_format
        self.loop = loop
        self._encoding = _ENCODINGS[audio_format]
        self._programme, self.duration_s = encode_programme(
            songs, audio_format, sample_rate_hz, bitrate
        )
        self._byte_rate = len(self._programme) / self.duration_s
        self._lock = threading.Lock()
        self._on_air_at: float | None = None
        self._drops = 0
        self._listeners = 0
        self._connections = 0
        super().__init__(host, port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/radio.{self.audio_format}"

    @property
    def schedule(self) -> list[ScheduledSong]:
        """The playlist's timetable within one loop of the programme."""
        timetable, start_s = [], 0.0
        for song in self.songs:
            timetable.append(ScheduledSong(song, start_s, start_s + song.duration_s))
            start_s += song.duration_s
        return timetable

    def seconds_on_air(self) -> float | None:
        """How long the programme has been playing (None before the first listener)."""
        with self._lock:
            on_air_at = self._on_air_at
        return None if on_air_at is None else time.monotonic() - on_air_at

    def listeners(self) -> int:
        with self._lock:
            return self._listeners

    def connections_opened(self) -> int:
        with self._lock:
            return self._connections

    def drop_listeners(self) -> None:
        """Close every open connection (listeners may reconnect)."""
        with self._lock:
            self._drops += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        radio = self
        path = re.compile(rf"^/radio\.{self.audio_format}$")

        class RadioHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not path.match(self.path.split("?", 1)[0]):
                    self.send_error(404, f"no such mount; try /radio.{radio.audio_format}")
                    return
                radio._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return RadioHandler

    def _tune_in(self) -> tuple[float, int, int]:
        """(clock origin, starting byte, drop generation) for a new listener."""
        now = time.monotonic()
        with self._lock:
            self._listeners += 1
            self._connections += 1
            if self._on_air_at is None:
                self._on_air_at = now
            if self._encoding.broadcast_safe:
                return self._on_air_at, int((now - self._on_air_at) * self._byte_rate), self._drops
            return now, 0, self._drops

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", self._encoding.content_type)
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("icy-name", "FingerV7 test radio")
        handler.end_headers()
        origin, position, drops = self._tune_in()
        try:
            while not self._stopping.is_set():
                with self._lock:
                    if self._drops != drops:
                        return
                due = int((time.monotonic() - origin) * self._byte_rate)
                if not self.loop and position >= len(self._programme):
                    return
                if due > position:
                    handler.wfile.write(self._bytes_between(position, due))
                    handler.wfile.flush()
                    position = due
                self._stopping.wait(SEND_EVERY_S)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            with self._lock:
                self._listeners -= 1

    def _bytes_between(self, start: int, end: int) -> bytes:
        size = len(self._programme)
        if not self.loop:
            return self._programme[min(start, size) : min(end, size)]
        pieces = []
        while start < end:
            offset = start % size
            take = min(end - start, size - offset)
            pieces.append(self._programme[offset : offset + take])
            start += take
        return b"".join(pieces)
