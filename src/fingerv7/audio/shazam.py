"""The `shazam` recognizer: the original system's service, through the optional `shazamio` package.

Install with `pip install 'fingerv7[shazam]'`. The adapter is thin: the clip goes to shazamio as
WAV, and :func:`recognition_from_shazam` reads Shazam's answer (title, subtitle as the artist,
ISRC, the label from the song section's metadata, the primary genre, and the match's offset).
Shazam allows roughly 5-15 requests a minute per address before HTTP 429; the budget in front of
it (RECOGNIZER_REQUESTS_PER_MINUTE) must stay below that.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from typing import Any

from fingerv7.audio.recognition import Recognition
from fingerv7.audio.remote import (
    FloatArray,
    RateLimited,
    RecognizerError,
    recognition_from,
    wav_bytes,
)


class ShazamUnavailable(RuntimeError):
    """RECOGNIZERS names shazam but the optional `shazamio` package is not installed."""


def recognition_from_shazam(
    document: Mapping[str, Any], name: str = "shazam"
) -> Recognition | None:
    """Shazam's JSON answer as a Recognition; None when it matched nothing."""
    track = document.get("track")
    if not isinstance(track, Mapping) or not track.get("title") or not track.get("subtitle"):
        return None
    label = None
    for section in track.get("sections") or []:
        for item in (section or {}).get("metadata") or []:
            if isinstance(item, Mapping) and str(item.get("title", "")).lower() == "label":
                label = item.get("text")
    genres = track.get("genres")
    matches = document.get("matches") or []
    offset = matches[0].get("offset") if matches and isinstance(matches[0], Mapping) else None
    values = {
        "title": track["title"],
        "artist": track["subtitle"],
        "isrc": track.get("isrc"),
        "label": label,
        "genre": genres.get("primary") if isinstance(genres, Mapping) else None,
        "offset_s": offset,
    }
    return recognition_from(name, values)


class ShazamRecognizer:
    """Shazam through shazamio (async); each call runs its own short event loop on the
    identification thread that asked."""

    name = "shazam"

    def __init__(self) -> None:
        try:
            module = importlib.import_module("shazamio")
        except ModuleNotFoundError:
            raise ShazamUnavailable(
                "RECOGNIZERS includes shazam but shazamio is not installed: "
                "pip install 'fingerv7[shazam]'"
            ) from None
        self._shazam = module.Shazam()

    def recognize_clip(self, samples: FloatArray, sample_rate_hz: int) -> Recognition | None:
        clip = wav_bytes(samples, sample_rate_hz)
        try:
            document = asyncio.run(self._shazam.recognize(clip))
        except Exception as error:  # shazamio raises its own and aiohttp's errors
            if "429" in str(error):
                raise RateLimited(None) from None
            raise RecognizerError(f"shazam: {type(error).__name__}") from None
        if not isinstance(document, Mapping):
            raise RecognizerError("shazam: unexpected answer")
        return recognition_from_shazam(document, self.name)

    def close(self) -> None:
        pass
