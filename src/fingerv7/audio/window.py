"""The latest seconds of a stream's audio: a fixed-size ring of mono float32 samples.

The decoding thread appends, the identification loop copies the latest window out; a lock keeps
the two consistent. `clear()` marks a discontinuity (a reconnection): audio from before a gap
must not be glued to audio after it, so identification waits for a fresh full window.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


class RollingWindow:
    """Keeps the last `capacity_samples` samples appended since the last :meth:`clear`."""

    def __init__(self, capacity_samples: int) -> None:
        if capacity_samples < 1:
            raise ValueError("capacity_samples must be at least 1")
        self.capacity_samples = capacity_samples
        self._ring = np.zeros(capacity_samples, dtype=np.float32)
        self._lock = threading.Lock()
        self._since_clear = 0
        self._generation = 0

    @property
    def samples_since_clear(self) -> int:
        """Samples appended since the last clear (not capped at the capacity)."""
        with self._lock:
            return self._since_clear

    @property
    def generation(self) -> int:
        """Incremented by every clear: a changed value means the audio is discontinuous."""
        with self._lock:
            return self._generation

    @property
    def is_full(self) -> bool:
        return self.samples_since_clear >= self.capacity_samples

    def append(self, samples: npt.ArrayLike) -> None:
        """Add samples at the end; the oldest fall out when the ring is full."""
        block = np.asarray(samples, dtype=np.float32).reshape(-1)
        appended = block.size
        dropped = max(0, appended - self.capacity_samples)  # older than the window anyway
        block = block[dropped:]
        with self._lock:
            start = (self._since_clear + dropped) % self.capacity_samples
            first = min(block.size, self.capacity_samples - start)
            self._ring[start : start + first] = block[:first]
            self._ring[: block.size - first] = block[first:]
            self._since_clear += appended

    def clear(self) -> None:
        with self._lock:
            self._since_clear = 0
            self._generation += 1

    def latest(self) -> tuple[FloatArray, int]:
        """A copy of the window, oldest sample first, and the generation it belongs to."""
        with self._lock:
            count = min(self._since_clear, self.capacity_samples)
            end = self._since_clear % self.capacity_samples
            if count < self.capacity_samples:
                window = self._ring[:count].copy()
            else:
                window = np.concatenate((self._ring[end:], self._ring[:end]))
            return window, self._generation
