"""External recognizers: a clip of audio goes out, a song's metadata (or nothing) comes back.

They are slow, rate-limited and sometimes paid, so they are only asked through
:class:`~fingerv7.audio.fallback.FallbackRecognition`, which applies the budget. This module
holds what they share (the protocol, the errors, the clip as WAV) and the generic HTTP
recognizer for commercial services: POST the clip, read the fields from the JSON answer through
a configured mapping. Shazam lives in :mod:`fingerv7.audio.shazam` (an optional extra).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from fingerv7.audio.recognition import Recognition
from fingerv7.catalog.learning import song_key
from fingerv7.retry import retry_after_s

FloatArray = npt.NDArray[np.float32]

# What the answer's fields are called unless RECOGNIZER_HTTP_FIELDS says otherwise.
DEFAULT_FIELDS = {
    "title": "title",
    "artist": "artist",
    "isrc": "isrc",
    "label": "label",
    "genre": "genre",
    "offset_s": "offset_s",
    "duration_s": "duration_s",
}
REQUIRED_FIELDS = ("title", "artist")


class RecognizerError(Exception):
    """The service failed (network, 5xx, unreadable answer): back off and try later."""


class RateLimited(RecognizerError):
    """HTTP 429: the service wants fewer requests; `retry_after_s` when it said how long."""

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__(f"rate limited (retry after {retry_after_s} s)")
        self.retry_after_s = retry_after_s


class RemoteRecognizer(Protocol):
    """Names a clip (mono float32 PCM at `sample_rate_hz`), answers None, or raises
    RecognizerError. Called from identification threads: may block."""

    name: str

    def recognize_clip(self, samples: FloatArray, sample_rate_hz: int) -> Recognition | None: ...

    def close(self) -> None: ...


def wav_bytes(samples: FloatArray, sample_rate_hz: int) -> bytes:
    """The clip as 16-bit mono WAV: what every recognition service accepts."""
    pcm = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate_hz)
        writer.writeframes((pcm * 32767.0).astype("<i2").tobytes())
    return buffer.getvalue()


def parse_field_mapping(text: str) -> dict[str, str]:
    """`title=result.song,artist=result.artists.0.name` → {"title": "result.song", ...}.

    Fields not mentioned keep their default path; unknown field names are refused.
    """
    mapping = dict(DEFAULT_FIELDS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, separator, path = item.partition("=")
        name = name.strip()
        if not separator or name not in DEFAULT_FIELDS or not path.strip():
            known = ", ".join(DEFAULT_FIELDS)
            raise ValueError(f"bad field mapping {item!r}: use NAME=json.path with NAME in {known}")
        mapping[name] = path.strip()
    return mapping


def json_path(document: Any, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c`: list indexes are numbers), or None."""
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


@dataclass(frozen=True, slots=True)
class HttpRecognizerConfig:
    url: str
    api_key: str | None = None
    fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    timeout_s: float = 20.0
    name: str = "http"


class HttpRecognizer:
    """The generic HTTP recognizer: POST the clip as WAV, read the song from the JSON answer.

    A missing or empty title (or artist) means "no match". The key, if any, is sent as
    `Authorization: Bearer <key>` and never appears in errors.
    """

    def __init__(self, config: HttpRecognizerConfig) -> None:
        self.config = config
        self.name = config.name
        headers = {"User-Agent": "fingerv7-recognizer", "Content-Type": "audio/wav"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._client = httpx.Client(headers=headers, timeout=config.timeout_s)

    def recognize_clip(self, samples: FloatArray, sample_rate_hz: int) -> Recognition | None:
        try:
            response = self._client.post(
                self.config.url, content=wav_bytes(samples, sample_rate_hz)
            )
        except httpx.HTTPError as error:
            raise RecognizerError(f"{self.name}: {type(error).__name__}") from None
        if response.status_code == 429:
            raise RateLimited(retry_after_s(response.headers))
        if response.status_code >= 400:
            raise RecognizerError(f"{self.name}: HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise RecognizerError(f"{self.name}: the answer is not JSON") from None
        return self._recognition(document)

    def _recognition(self, document: Any) -> Recognition | None:
        fields = self.config.fields
        values = {name: json_path(document, path) for name, path in fields.items()}
        if any(not isinstance(values[name], str) or not values[name] for name in REQUIRED_FIELDS):
            return None
        return recognition_from(self.name, values)

    def close(self) -> None:
        self._client.close()


def recognition_from(recognizer: str, values: Mapping[str, Any]) -> Recognition:
    """A Recognition from a service's title/artist/isrc/... values (extra types tolerated)."""
    artist, title = str(values["artist"]).strip(), str(values["title"]).strip()
    isrc = _text(values.get("isrc"))
    return Recognition(
        artist=artist,
        title=title,
        track_key=song_key(artist, title, isrc),  # the key learned fragments will report
        recognizer=recognizer,
        confidence=1.0,
        isrc=isrc,
        label=_text(values.get("label")),
        genre=_text(values.get("genre")),
        offset_s=_number(values.get("offset_s")),
        duration_s=_number(values.get("duration_s")),
    )


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None
