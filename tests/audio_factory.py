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
from scipy.signal import lfilter

from fingerv7.catalog.decoding import decode_audio
from fingerv7.testing.encoding import encode_mono
from fingerv7.testing.songs import SONG_SAMPLE_RATE_HZ, add_at, synthesize_song
from fingerv7.testing.stations import resample

__all__ = ["SONG_SAMPLE_RATE_HZ", "resample", "synthesize_song"]

FloatArray = npt.NDArray[np.float32]


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
        add_at(out, position_s, source * envelope, rate)
        position_s += length_s + rng.uniform(0.02, 0.15)
    peak = float(np.max(np.abs(out))) or 1.0
    return (out * (0.89 / peak)).astype(np.float32)


def bass_line(seed: int, seconds: float, rate_hz: int = 8000) -> FloatArray:
    """Notes of 41-123 Hz (E1-B2) with a weak octave, each decaying: music with nothing of its
    own above 250 Hz, which only the low band's fingerprint sees (low_band.py)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate_hz))
    position = 0
    while position < out.size:
        length = int(rng.choice([0.25, 0.5, 0.75, 1.0]) * rate_hz)
        pitch_hz = 440.0 * 2 ** ((int(rng.integers(28, 48)) - 69) / 12)
        t = np.arange(length) / rate_hz
        note = np.sin(2 * np.pi * pitch_hz * t) + 0.3 * np.sin(4 * np.pi * pitch_hz * t)
        kept = min(length, out.size - position)
        out[position : position + kept] += (note * np.exp(-2.5 * t))[:kept]
        position += length
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def white_noise(seed: int, size: int) -> FloatArray:
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32) * 0.3


def mix_at_snr(signal: npt.ArrayLike, noise: npt.ArrayLike, snr_db: float) -> FloatArray:
    """`signal` plus `noise` scaled so signal power / noise power = `snr_db`."""
    clean = np.asarray(signal, dtype=np.float64)
    interference = np.resize(np.asarray(noise, dtype=np.float64), clean.size)
    gain = np.sqrt(np.mean(clean**2) / (np.mean(interference**2) * 10 ** (snr_db / 10)))
    mixed = clean + gain * interference
    return (mixed / max(1.0, float(np.max(np.abs(mixed))))).astype(np.float32)


def harmonic_voice(
    seed: int, seconds: float = 10.0, pitch_hz: float | None = None, rate_hz: int = 8000
) -> FloatArray:
    """A voiced vowel: 27 harmonics falling as 1/k, its pitch gliding 110-160 Hz (or held)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    if pitch_hz is None:
        glide = 2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 2 * np.pi)
        pitch = 135.0 + 25.0 * np.sin(glide)
    else:
        pitch = np.full(t.size, pitch_hz)
    phase = 2 * np.pi * np.cumsum(pitch) / rate_hz
    voice = sum(np.sin(k * phase) / k for k in range(1, 28))
    return np.asarray(voice, dtype=np.float32)


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
