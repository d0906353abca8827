"""Fingerprint a track of any length in bounded memory: feed PCM chunks, get the hashes at the end.

The whole-track path holds a complex spectrogram of the whole track (a 29-minute track peaked at
1.5 GB). Here the spectrogram is computed a segment (`segment_blocks` one-second density blocks)
at a time, with `neighbourhood_frames` + 1 frames of context on each side, so memory is bounded by
the segment, not the track; only the peaks (10-18 per second, 24 bytes each) are kept, and they
are paired into hashes once at the end so pairs cross segment borders as before.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig
from fingerv7.core.fingerprint.hashing import Fingerprint, hash_peaks
from fingerv7.core.fingerprint.peaks import Peaks, find_segment_peaks
from fingerv7.core.fingerprint.spectrogram import spectrogram_db


class StreamingFingerprinter:
    """Accumulates peaks segment by segment; :meth:`finish` pairs them into a Fingerprint."""

    def __init__(self, config: FingerprintConfig, segment_blocks: int = 60) -> None:
        self.config = config
        self._segment_frames = segment_blocks * max(1, round(config.frames_per_second))
        self._margin_frames = config.neighbourhood_frames + 1
        self._buffer = np.zeros(0, dtype=np.float32)
        self._pending: list[npt.NDArray[np.float32]] = []  # fed, not yet joined to the buffer
        self._buffer_first_sample = 0
        self._next_frame = 0  # first frame of the next segment's core
        self._peaks: list[Peaks] = []
        self.sample_count = 0

    @property
    def duration_s(self) -> float:
        return self.sample_count / self.config.sample_rate_hz

    def feed(self, samples: npt.ArrayLike) -> None:
        """Append mono PCM at `config.sample_rate_hz`; complete segments are analysed now."""
        chunk = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._pending.append(chunk)
        self.sample_count += chunk.size
        hop, window = self.config.hop_size, self.config.fft_size
        while True:
            last_frame = self._next_frame + self._segment_frames + self._margin_frames - 1
            if self.sample_count < last_frame * hop + window:
                return
            self._analyse(self._next_frame + self._segment_frames)

    def finish(self) -> Fingerprint:
        """Analyse what is left and hash every peak of the track."""
        hop, window = self.config.hop_size, self.config.fft_size
        total_frames = 0 if self.sample_count < window else 1 + (self.sample_count - window) // hop
        while self._next_frame < total_frames:
            self._analyse(min(self._next_frame + self._segment_frames, total_frames))
        return hash_peaks(Peaks.concatenate(self._peaks), self.config)

    def _analyse(self, core_stop: int) -> None:
        """Peaks of frames [next_frame, core_stop), then drop samples no longer needed."""
        hop, window = self.config.hop_size, self.config.fft_size
        if self._pending:
            self._buffer = np.concatenate([self._buffer, *self._pending])
            self._pending = []
        total_frames = 1 + (self.sample_count - window) // hop
        first = max(0, self._next_frame - self._margin_frames)
        stop = min(total_frames, core_stop + self._margin_frames)
        start_sample = first * hop - self._buffer_first_sample
        stop_sample = (stop - 1) * hop + window - self._buffer_first_sample
        spectrogram = spectrogram_db(self._buffer[start_sample:stop_sample], self.config)
        core = (self._next_frame - first, core_stop - first)
        self._peaks.append(find_segment_peaks(spectrogram, self.config, first, core))
        self._next_frame = core_stop
        keep_from = max(0, self._next_frame - self._margin_frames) * hop
        self._buffer = self._buffer[keep_from - self._buffer_first_sample :].copy()
        self._buffer_first_sample = keep_from
