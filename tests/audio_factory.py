"""Deterministic test music: every seed is a different little song, rebuilt bit for bit.

Songs have a tempo, key, chord progression, bass line, melody with its own timbre, and drums, so
their spectrograms look like music (harmonic stacks, onsets) rather than like test tones. Used by
the fingerprint tests, the catalog tests and the benchmark; nothing is ever downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter, resample_poly

from fingerv7.catalog.decoding import decode_audio
from fingerv7.testing.encoding import encode_mono

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


def _add(track: npt.NDArray[np.float64], start_s: float, sound: npt.ArrayLike, rate: int) -> None:
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
        _add(track, beat * beat_s, (0.9 if beat % 2 == 0 else 0.0) * kick, rate)
        _add(track, beat * beat_s, (0.6 if beat % 2 == 1 else 0.0) * snare, rate)
        if pattern[(2 * beat + 1) % 8]:
            _add(track, (beat + 0.5) * beat_s, 0.6 * kick, rate)
        for half in (0.0, 0.5):
            _add(track, (beat + half) * beat_s, 0.25 * hat, rate)


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
            _add(
                track, bar * bar_s, 0.12 * _tone(_midi_hz(note + 12), bar_s, pad_timbre, rate), rate
            )
        for beat in range(4):
            bass = _tone(
                _midi_hz(chord[0] - 12), beat_s * 0.9, np.array([1.0, 0.6, 0.3, 0.2]), rate
            )
            _add(track, bar * bar_s + beat * beat_s, 0.35 * bass, rate)
    step_s = beat_s / 2
    for step in range(int(duration_s / step_s)):
        if rng.random() < 0.7:
            note = root + 12 + scale[int(rng.integers(0, 7))] + 12 * int(rng.integers(0, 2))
            length = step_s * int(rng.integers(1, 4))
            _add(track, step * step_s, 0.3 * _tone(_midi_hz(note), length, lead_timbre, rate), rate)
    _drums(rng, track, beat_s, rate)
    peak = float(np.max(np.abs(track))) or 1.0
    return (track * (0.89 / peak)).astype(np.float32)


def speech_like_noise(
    seed: int, duration_s: float, sample_rate_hz: int = SONG_SAMPLE_RATE_HZ
) -> FloatArray:
    """A talker-like signal: voiced syllables (a glottal pulse train through moving formants)
    and fricative bursts, at about 4 syllables a second. Not words, but speech's spectrum
    and rhythm, which is what matters to a fingerprint."""
    rng = np.random.default_rng(seed)
    rate = sample_rate_hz
    out = np.zeros(int(duration_s * rate))
    position_s = 0.0
    while position_s < duration_s:
        length_s = rng.uniform(0.12, 0.35)
        n = int(length_s * rate)
        if rng.random() < 0.8:
            pitch_hz = rng.uniform(95, 230) * (1 + 0.1 * np.linspace(0, rng.uniform(-1, 1), n))
            phase = np.cumsum(pitch_hz / rate)
            source = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(float)
            for formant_hz in (
                rng.uniform(300, 900),
                rng.uniform(900, 2400),
                rng.uniform(2400, 3400),
            ):
                radius = np.exp(-np.pi * 120 / rate)
                a = [1.0, -2 * radius * np.cos(2 * np.pi * formant_hz / rate), radius**2]
                source = source + lfilter([1.0], a, source) * 0.3
        else:
            source = rng.standard_normal(n) * 0.3
        envelope = np.sin(np.linspace(0, np.pi, n)) ** 2
        _add(out, position_s, source * envelope, rate)
        position_s += length_s + rng.uniform(0.02, 0.15)
    peak = float(np.max(np.abs(out))) or 1.0
    return (out * (0.89 / peak)).astype(np.float32)


def resample(samples: npt.ArrayLike, from_rate_hz: int, to_rate_hz: int) -> FloatArray:
    """Band-limited sample-rate conversion (e.g. 22 050 Hz songs to the 8 kHz fingerprint rate)."""
    divisor = int(np.gcd(from_rate_hz, to_rate_hz))
    converted = resample_poly(
        np.asarray(samples, dtype=np.float64), to_rate_hz // divisor, from_rate_hz // divisor
    )
    return converted.astype(np.float32)


def white_noise(seed: int, size: int) -> FloatArray:
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32) * 0.3


def mix_at_snr(signal: npt.ArrayLike, noise: npt.ArrayLike, snr_db: float) -> FloatArray:
    """`signal` plus `noise` scaled so signal power / noise power = `snr_db`."""
    clean = np.asarray(signal, dtype=np.float64)
    interference = np.resize(np.asarray(noise, dtype=np.float64), clean.size)
    gain = np.sqrt(np.mean(clean**2) / (np.mean(interference**2) * 10 ** (snr_db / 10)))
    mixed = clean + gain * interference
    return (mixed / max(1.0, float(np.max(np.abs(mixed))))).astype(np.float32)


_CODECS = {
    ".wav": ("pcm_s16le", "s16", None),
    ".mp3": ("libmp3lame", "s16p", None),
    ".ogg": ("libopus", "flt", 48000),
    ".flac": ("flac", "s16", None),
}


def encode_audio(
    target: str | Path | io.BytesIO,
    samples: npt.ArrayLike,
    sample_rate_hz: int,
    *,
    suffix: str | None = None,
    tags: Mapping[str, str] | None = None,
    bitrate: int = 128_000,
) -> None:
    """Write mono samples as WAV, MP3, OGG (Opus) or FLAC, chosen by suffix, with tags."""
    kind = (suffix or Path(str(target)).suffix).lower()
    codec, sample_format, forced_rate = _CODECS[kind]
    rate = forced_rate or sample_rate_hz
    pcm = np.asarray(samples, dtype=np.float32)
    if forced_rate and forced_rate != sample_rate_hz:
        pcm = np.interp(
            np.arange(int(pcm.size * rate / sample_rate_hz)) * sample_rate_hz / rate,
            np.arange(pcm.size),
            pcm,
        ).astype(np.float32)
    container_format = {".wav": "wav", ".mp3": "mp3", ".ogg": "ogg", ".flac": "flac"}[kind]
    with av.open(
        target if isinstance(target, io.BytesIO) else str(target), mode="w", format=container_format
    ) as container:
        for key, value in (tags or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if kind in (".mp3", ".ogg"):
            stream.bit_rate = bitrate
        encode_mono(container, stream, pcm, rate, sample_format)


def mp3_round_trip(
    samples: npt.ArrayLike, sample_rate_hz: int, output_rate_hz: int, bitrate: int = 128_000
) -> FloatArray:
    """Encode as MP3 in memory and decode back at `output_rate_hz`: as a broadcast does."""
    buffer = io.BytesIO()
    encode_audio(buffer, samples, sample_rate_hz, suffix=".mp3", bitrate=bitrate)
    buffer.seek(0)
    return decode_audio(buffer, output_rate_hz).samples
