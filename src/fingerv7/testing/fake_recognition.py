"""A local fake of a commercial recognition service, for tests and the simulated radio day.

It knows a set of songs (the stations' playlists) and really recognizes clips against them,
with its own catalog in a SQLite file: POST a WAV clip to `/recognize`, get
`{"result": {"title", "artist", "isrc", "label", "genre", "offset_s", "duration_s"}}` or
`{"result": null}`. Like the real services it enforces a rate limit (at most `limit` requests in
any `per_s` seconds, else HTTP 429 with Retry-After) and, when given a key, wants
`Authorization: Bearer <key>` (else 401). Everything it was asked is counted, so a test can
check the limit was respected. `clock` lets a test drive time; with `time_header`, a simulation
in another process does, by sending the time as `X-Simulated-Time`. It listens on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np

from fingerv7.catalog import CatalogIdentifier, CatalogStore, TrackInfo, create_catalog_engine
from fingerv7.core.fingerprint import (
    FingerprintConfig,
    MatchConfig,
    fingerprint_reference,
    low_band_reference,
)
from fingerv7.testing.background_http import BackgroundHttpServer
from fingerv7.testing.radio import RadioSong, _resampled


@dataclass(frozen=True, slots=True)
class KnownSong:
    """A song the service can name, with the metadata it answers."""

    song: RadioSong
    isrc: str | None = None
    label: str | None = None
    genre: str | None = None


class FakeRecognitionService(BackgroundHttpServer):
    """`start()` returns at once; `url` is the endpoint to configure as RECOGNIZER_HTTP_URL."""

    thread_name = "fake-recognition"

    def __init__(
        self,
        songs: Sequence[KnownSong],
        folder: Path,
        *,
        limit: int = 10,
        per_s: float = 60.0,
        api_key: str | None = None,
        fail_next: int = 0,
        clock: Callable[[], float] = time.monotonic,
        time_header: bool = False,
    ) -> None:
        self.time_header = time_header
        self.clock = clock
        self.limit = limit
        self.per_s = per_s
        self.api_key = api_key
        self.config = FingerprintConfig()
        self._engine = create_catalog_engine(f"sqlite:///{folder / 'fake-recognition.db'}")
        store = CatalogStore(self._engine)
        store.create_schema()
        self._known: dict[int, KnownSong] = {}
        for known in songs:
            samples = _resampled(known.song, self.config.sample_rate_hz)
            record, _ = store.add_track(
                TrackInfo(
                    known.song.title, known.song.artist, known.isrc, known.label, known.genre
                ),
                duration_s=known.song.duration_s,
                source_path=f"fake/{known.song.title}",
                content_sha256=hashlib.sha256(samples.tobytes()).hexdigest(),
                fingerprint=fingerprint_reference(samples, self.config),
                low_band=low_band_reference(samples, self.config),
            )
            self._known[record.id] = known
        self._identifier = CatalogIdentifier(store, self.config, MatchConfig())
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._fail_next = fail_next
        self.requests = 0
        self.answered = 0
        self.named = 0
        self.refused = 0  # 429s
        self.unauthorized = 0
        self.request_times: list[float] = []
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/recognize"

    def fail(self, times: int) -> None:
        """The next `times` requests answer 500 (a broken service)."""
        with self._lock:
            self._fail_next = times

    def stop(self) -> None:
        super().stop()
        self._engine.dispose()

    def _admit(self, simulated_now: float | None) -> tuple[int, float | None]:
        """(status, retry-after) for a request arriving now, under the rate limit."""
        now = self.clock() if simulated_now is None else simulated_now
        with self._lock:
            self.requests += 1
            self.request_times.append(now)
            while self._recent and now - self._recent[0] >= self.per_s:
                self._recent.popleft()
            if len(self._recent) >= self.limit:
                self.refused += 1
                return 429, self._recent[0] + self.per_s - now
            self._recent.append(now)
            if self._fail_next > 0:
                self._fail_next -= 1
                return 500, None
            return 200, None

    def _recognize(self, body: bytes) -> dict[str, Any]:
        with wave.open(io.BytesIO(body), "rb") as reader:
            rate = reader.getframerate()
            pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        samples = pcm.astype(np.float32) / 32767.0
        if rate != self.config.sample_rate_hz:
            song = RadioSong("", "", samples, rate)
            samples = _resampled(song, self.config.sample_rate_hz)
        found = self._identifier.identify_samples(samples)
        with self._lock:
            self.answered += 1
            self.named += found is not None
        if found is None:
            return {"result": None}
        known = self._known[found.track.id]
        return {
            "result": {
                "title": known.song.title,
                "artist": known.song.artist,
                "isrc": known.isrc,
                "label": known.label,
                "genre": known.genre,
                "offset_s": round(found.match.offset_s, 3),
                "duration_s": round(known.song.duration_s, 3),
            }
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class RecognitionHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/recognize":
                    self._reply(404, {"error": "POST /recognize"})
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if service.api_key and self.headers.get("Authorization") != (
                    f"Bearer {service.api_key}"
                ):
                    with service._lock:
                        service.unauthorized += 1
                    self._reply(401, {"error": "bad key"})
                    return
                sent_time = self.headers.get("X-Simulated-Time")
                simulated = float(sent_time) if service.time_header and sent_time else None
                status, retry_after_s = service._admit(simulated)
                if status == 429:
                    retry = str(max(1, math.ceil(retry_after_s or 1)))
                    self._reply(429, {"error": "too many requests"}, {"Retry-After": retry})
                elif status != 200:
                    self._reply(status, {"error": "internal error"})
                else:
                    try:
                        self._reply(200, service._recognize(body))
                    except (wave.Error, EOFError):
                        self._reply(400, {"error": "send a WAV clip"})

            def _reply(
                self, status: int, document: Any, headers: dict[str, str] | None = None
            ) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return RecognitionHandler
