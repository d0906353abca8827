"""Audio files (or in-memory bytes) to mono float PCM at the fingerprint rate, with PyAV.

PyAV's wheels ship FFmpeg's libraries, so any format FFmpeg reads works without a system install.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt


class AudioDecodeError(Exception):
    """The file is not audio PyAV can decode (or has no audio stream)."""


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Mono float32 samples in [-1, 1] at `sample_rate_hz`, and the container's tags."""

    samples: npt.NDArray[np.float32]
    sample_rate_hz: int
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate_hz


def decode_audio(source: str | Path | BinaryIO, sample_rate_hz: int) -> DecodedAudio:
    """Decode the first audio stream of `source` whole, downmixed and resampled by FFmpeg."""
    with open_audio(source, sample_rate_hz) as reader:
        chunks = list(reader.chunks())
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return DecodedAudio(samples=samples, sample_rate_hz=sample_rate_hz, tags=reader.tags)


class AudioReader:
    """An open audio file: its tags now, its PCM chunk by chunk (memory bounded by a frame)."""

    def __init__(self, container: av.container.InputContainer, source: object, rate: int) -> None:
        if not container.streams.audio:
            raise AudioDecodeError(f"{source}: no audio stream")
        self._container = container
        self._source = source
        self._stream = container.streams.audio[0]
        self.sample_rate_hz = rate
        self.tags = {**_lowercase(container.metadata), **_lowercase(self._stream.metadata)}

    def chunks(self) -> Iterator[npt.NDArray[np.float32]]:
        """Mono float32 PCM in decoder-sized pieces. A decoding error after some audio ends the
        stream (a truncated file keeps what was readable); before any, it raises."""
        resampler = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate_hz)
        produced = False
        try:
            for frame in self._container.decode(self._stream):
                for resampled in resampler.resample(frame):
                    produced = True
                    yield _plane(resampled)
            for resampled in resampler.resample(None):
                yield _plane(resampled)
        except av.error.FFmpegError as error:
            if not produced:
                raise AudioDecodeError(f"cannot decode {self._source}: {error}") from error

    def blocks(self, min_samples: int) -> Iterator[npt.NDArray[np.float32]]:
        """The PCM of :meth:`chunks` joined into blocks of at least `min_samples` (the last may
        be shorter): a decoder piece is a few hundred samples, and each step that consumes them
        pays a fixed cost per call (in `catalog add`, a third of its CPU)."""
        pending: list[npt.NDArray[np.float32]] = []
        size = 0
        for chunk in self.chunks():
            pending.append(chunk)
            size += chunk.size
            if size >= min_samples:
                yield np.concatenate(pending)
                pending, size = [], 0
        if pending:
            yield np.concatenate(pending)


@contextmanager
def open_audio(source: str | Path | BinaryIO, sample_rate_hz: int) -> Iterator[AudioReader]:
    """Open `source` for chunked decoding at `sample_rate_hz` (mono)."""
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, mode="r")
    except (av.error.FFmpegError, OSError) as error:
        raise AudioDecodeError(f"cannot open {source}: {error}") from error
    with container:
        yield AudioReader(container, source, sample_rate_hz)


def _plane(frame: av.AudioFrame) -> npt.NDArray[np.float32]:
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def _lowercase(metadata: dict[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in metadata.items()}
