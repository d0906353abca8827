"""Audio files (or in-memory bytes) to mono float PCM at the fingerprint rate, with PyAV.

PyAV's wheels ship FFmpeg's libraries, so any format FFmpeg reads works without a system install.
"""

from __future__ import annotations

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
    """Decode the first audio stream of `source`, downmixed and resampled by FFmpeg."""
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, mode="r")
    except (av.error.FFmpegError, OSError) as error:
        raise AudioDecodeError(f"cannot open {source}: {error}") from error
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{source}: no audio stream")
        stream = container.streams.audio[0]
        tags = {**_lowercase(container.metadata), **_lowercase(stream.metadata)}
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        chunks: list[npt.NDArray[np.float32]] = []
        try:
            for frame in container.decode(stream):
                chunks.extend(_plane(resampled) for resampled in resampler.resample(frame))
            chunks.extend(_plane(resampled) for resampled in resampler.resample(None))
        except av.error.FFmpegError as error:
            if not chunks:
                raise AudioDecodeError(f"cannot decode {source}: {error}") from error
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return DecodedAudio(samples=samples, sample_rate_hz=sample_rate_hz, tags=tags)


def _plane(frame: av.AudioFrame) -> npt.NDArray[np.float32]:
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def _lowercase(metadata: dict[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in metadata.items()}
