"""Deterministic music: every seed is a different little song, rebuilt bit for bit.

Songs have a tempo, key, chord progression, bass line, melody with its own timbre, and drums, so
their spectrograms look like music (harmonic stacks, onsets) rather than like test tones. Used by
`fingerv7 demo` (its stations play them and its catalog knows them) and by the tests.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

FloatArray = npt.NDArray[np.float32]
SONG_SAMPLE_RATE_HZ = 22050
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


def _midi_hz(note: float) -> float:
    return float(440.0 * 2.0 ** ((note - 69) / 12))


def _tone(
    frequency_hz: float, seconds: float, harmonics: npt.NDArray[np.float64], rate: int
) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * rate)) / rate
    wave = np.zeros_like(t)
    for number, weight in enumerate(harmonics, start=1):
        if frequency_hz * number < rate / 2:
            wave += weight * np.sin(2 * np.pi * frequency_hz * number * t)
    attack = np.minimum(1.0, t / 0.01)
    return wave * attack * np.exp(-t * (3.0 / max(seconds, 0.05)))


def add_at(track: npt.NDArray[np.float64], start_s: float, sound: npt.ArrayLike, rate: int) -> None:
    start = int(start_s * rate)
    piece = np.asarray(sound)[: max(0, track.size - start)]
    track[start : start + piece.size] += piece


def _drums(
    rng: np.random.Generator, track: npt.NDArray[np.float64], beat_s: float, rate: int
) -> None:
    """Kick, snare and hi-hat with a kit of their own per song (pitch, decay, noise colour)."""
    t = np.arange(int(0.25 * rate)) / rate
    kick_hz, kick_sweep_hz = rng.uniform(40, 70), rng.uniform(30, 120)
    kick = np.sin(2 * np.pi * (kick_hz * t + kick_sweep_hz * (1 - np.exp(-t * 30)) / 30))
    kick *= np.exp(-t * rng.uniform(12, 25))
    snare_colour = rng.uniform(0.2, 0.9)
    snare_noise = lfilter([1.0], [1.0, -snare_colour], rng.standard_normal(t.size))
    snare = 0.3 * snare_noise * np.exp(-t * rng.uniform(15, 35))
    snare += 0.4 * np.sin(2 * np.pi * rng.uniform(150, 260) * t) * np.exp(-t * 30)
    hat_t = t[: int(0.05 * rate)]
    hat = np.diff(rng.standard_normal(hat_t.size + 1)) * np.exp(-hat_t * rng.uniform(60, 120))
    pattern = rng.random(8) < 0.35  # extra kicks on off-beats: each song grooves its own way
    for beat in range(int(track.size / rate / beat_s)):
        add_at(track, beat * beat_s, (0.9 if beat % 2 == 0 else 0.0) * kick, rate)
        add_at(track, beat * beat_s, (0.6 if beat % 2 == 1 else 0.0) * snare, rate)
        if pattern[(2 * beat + 1) % 8]:
            add_at(track, (beat + 0.5) * beat_s, 0.6 * kick, rate)
        for half in (0.0, 0.5):
            add_at(track, (beat + half) * beat_s, 0.25 * hat, rate)


def synthesize_song(
    seed: int, duration_s: float = 30.0, sample_rate_hz: int = SONG_SAMPLE_RATE_HZ
) -> FloatArray:
    """A song of `duration_s` seconds, mono float32 peaking near -1 dBFS; same seed, same song."""
    rng = np.random.default_rng(seed)
    rate = sample_rate_hz
    track = np.zeros(int(duration_s * rate))
    beat_s = 60.0 / rng.uniform(80, 150)
    root = int(rng.integers(45, 58))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    degrees = rng.choice(7, size=4, replace=True)
    lead_timbre = rng.uniform(0.05, 1.0, size=int(rng.integers(3, 8)))
    lead_timbre[0] = 1.0
    pad_timbre = np.array([1.0, 0.5, 0.25])
    bar_s = 4 * beat_s
    for bar in range(int(duration_s / bar_s) + 1):
        degree = int(degrees[bar % 4])
        chord = [
            root + scale[(degree + step) % 7] + 12 * ((degree + step) // 7) for step in (0, 2, 4)
        ]
        for note in chord:
            add_at(
                track, bar * bar_s, 0.12 * _tone(_midi_hz(note + 12), bar_s, pad_timbre, rate), rate
            )
        for beat in range(4):
            bass = _tone(
                _midi_hz(chord[0] - 12), beat_s * 0.9, np.array([1.0, 0.6, 0.3, 0.2]), rate
            )
            add_at(track, bar * bar_s + beat * beat_s, 0.35 * bass, rate)
    step_s = beat_s / 2
    for step in range(int(duration_s / step_s)):
        if rng.random() < 0.7:
            note = root + 12 + scale[int(rng.integers(0, 7))] + 12 * int(rng.integers(0, 2))
            length = step_s * int(rng.integers(1, 4))
            add_at(
                track, step * step_s, 0.3 * _tone(_midi_hz(note), length, lead_timbre, rate), rate
            )
    _drums(rng, track, beat_s, rate)
    peak = float(np.max(np.abs(track))) or 1.0
    return (track * (0.89 / peak)).astype(np.float32)
