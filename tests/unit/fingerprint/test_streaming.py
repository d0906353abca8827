"""Streaming fingerprinting: the answer does not depend on how the PCM is chunked, and with a
single segment it is exactly the whole-track fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

from fingerv7.core.fingerprint import FingerprintConfig, StreamingFingerprinter, fingerprint
from tests.audio_factory import SONG_SAMPLE_RATE_HZ, resample, synthesize_song

CONFIG = FingerprintConfig().for_references()


@pytest.fixture(scope="module")
def track() -> np.ndarray:
    song = synthesize_song(8, 75.0)
    return resample(song, SONG_SAMPLE_RATE_HZ, CONFIG.sample_rate_hz)


def _streamed(samples: np.ndarray, chunk: int, segment_blocks: int = 20) -> tuple[np.ndarray, ...]:
    streamer = StreamingFingerprinter(CONFIG, segment_blocks=segment_blocks)
    for start in range(0, samples.size, chunk):
        streamer.feed(samples[start : start + chunk])
    assert streamer.duration_s == pytest.approx(samples.size / CONFIG.sample_rate_hz)
    result = streamer.finish()
    return result.hashes, result.anchor_frames


@pytest.mark.parametrize("chunk", [1152, 4096, 100_003])
def test_chunking_does_not_change_the_fingerprint(track: np.ndarray, chunk: int) -> None:
    whole_feed = _streamed(track, track.size)
    chunked = _streamed(track, chunk)
    assert all(np.array_equal(a, b) for a, b in zip(whole_feed, chunked, strict=True))


def test_one_segment_equals_the_whole_track_fingerprint(track: np.ndarray) -> None:
    hashes, frames = _streamed(track, 5000, segment_blocks=1000)
    whole = fingerprint(track, CONFIG)
    assert np.array_equal(hashes, whole.hashes)
    assert np.array_equal(frames, whole.anchor_frames)


def test_segments_keep_pairs_across_their_borders(track: np.ndarray) -> None:
    """Peaks are paired after all segments are analysed: as many hashes as the whole track
    (the segment median only nudges which peaks pass), at the same frames."""
    hashes, frames = _streamed(track, 5000, segment_blocks=10)
    whole = fingerprint(track, CONFIG)
    same = set(zip(hashes.tolist(), frames.tolist(), strict=True)) & set(
        zip(whole.hashes.tolist(), whole.anchor_frames.tolist(), strict=True)
    )
    assert len(same) >= 0.95 * len(whole)
    assert frames.max() > 0.95 * whole.anchor_frames.max()


def test_short_and_empty_input() -> None:
    streamer = StreamingFingerprinter(CONFIG)
    assert len(streamer.finish()) == 0
    streamer = StreamingFingerprinter(CONFIG)
    streamer.feed(np.zeros(100, dtype=np.float32))
    assert len(streamer.finish()) == 0
