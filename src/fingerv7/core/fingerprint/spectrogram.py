"""Short-time Fourier magnitude in dB: the picture whose peaks become landmarks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft
from scipy.ndimage import uniform_filter1d

from fingerv7.core.fingerprint.config import FingerprintConfig

FloatArray = npt.NDArray[np.float32]


def spectrogram_db(samples: npt.ArrayLike, config: FingerprintConfig) -> FloatArray:
    """Magnitude spectrogram, shape (frames, fft_size // 2 + 1), in dB re a full-scale sine.

    A clip shorter than one window yields zero frames, never an error: the caller then simply
    gets no peaks and no hashes.
    """
    signal = np.asarray(samples, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError("expected mono samples (a 1-D array)")
    if signal.size < config.fft_size:
        return np.zeros((0, config.fft_size // 2 + 1), dtype=np.float32)
    window = np.hanning(config.fft_size).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(signal, config.fft_size)[:: config.hop_size]
    # SciPy's FFT, not NumPy's: the same transform in single precision, 6x faster here (3.1 ->
    # 0.5 ms for a 10 s clip); it was a third of a window's CPU on the on-air path.
    spectrum = np.abs(scipy.fft.rfft(frames * window, axis=1)).astype(np.float32)
    full_scale = float(window.sum()) / 2.0
    # The floor keeps log10 finite on digital silence and sits far below any useful peak.
    np.maximum(spectrum, full_scale * 1e-6, out=spectrum)
    result: FloatArray = (20.0 * np.log10(spectrum / full_scale)).astype(np.float32)
    return result


def steadied(spectrogram: FloatArray, config: FingerprintConfig) -> FloatArray:
    """Each bin's dB level averaged over `config.steady_frames` frames: noise and speech
    flicker from frame to frame, a held note does not, so what stays is more of the music."""
    result: FloatArray = uniform_filter1d(spectrogram, config.steady_frames, axis=0, mode="nearest")
    return result
