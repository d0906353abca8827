"""Encoding mono PCM with PyAV: the one loop behind the local radio and the tests' audio files."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
from av.container import OutputContainer

FRAME_SAMPLES = 4096


def encode_mono(
    container: OutputContainer,
    stream: av.AudioStream,
    samples: npt.NDArray[np.float32],
    rate_hz: int,
    sample_format: str,
) -> None:
    """Encode mono float samples at `rate_hz` into `stream` of `container`, then flush it.

    `sample_format` is the codec's (e.g. `s16p` for MP3); the resampler converts to it.
    """
    resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate_hz)
    for start in range(0, samples.size, FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(
            samples[None, start : start + FRAME_SAMPLES], format="flt", layout="mono"
        )
        frame.sample_rate = rate_hz
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
    container.mux(stream.encode(None))
