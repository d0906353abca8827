"""Playback-speed change by resampling, as a radio station's "a few percent fast" does it:
tempo and pitch move together."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly


def change_speed(samples: npt.ArrayLike, speed: float) -> npt.NDArray[np.float32]:
    """`samples` played `speed` times as fast (1.03 = 3% faster, 3% shorter, 3% higher)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    signal = np.asarray(samples, dtype=np.float32)
    if speed == 1.0 or signal.size == 0:
        return signal.copy()
    ratio = Fraction(speed).limit_denominator(1000)
    # Playing faster = fewer output samples for the same content: up/down = 1/speed.
    result: npt.NDArray[np.float32] = resample_poly(
        signal, ratio.denominator, ratio.numerator
    ).astype(np.float32)
    return result
