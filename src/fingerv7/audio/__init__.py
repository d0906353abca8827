"""Live audio: capturing a radio stream into a rolling window of mono PCM, and recognizing it.

`StreamCapture` reads a stream over HTTP and decodes it with PyAV on a thread of its own;
`RollingWindow` keeps the latest seconds; `Recognizer`s name what the window holds.
"""

from __future__ import annotations

from fingerv7.audio.capture import CaptureTimeouts, StreamCapture, format_from_content_type
from fingerv7.audio.recognition import (
    CatalogRecognizer,
    Recognition,
    Recognizer,
    RecognizerChain,
)
from fingerv7.audio.window import RollingWindow

__all__ = [
    "CaptureTimeouts",
    "CatalogRecognizer",
    "Recognition",
    "Recognizer",
    "RecognizerChain",
    "RollingWindow",
    "StreamCapture",
    "format_from_content_type",
]
