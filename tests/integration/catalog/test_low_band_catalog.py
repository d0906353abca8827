"""The low band end to end: `catalog add` stores each file's low band, and `CatalogIdentifier`
names a clip of music that lives under 160 Hz, talked over, from it (and not when the low band
is turned off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerv7.catalog import AddStatus, CatalogIdentifier, CatalogIngestor, CatalogStore
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig
from tests.audio_factory import bass_line, encode_audio, mix_at_snr, speech_like_noise

pytestmark = pytest.mark.integration
CONFIG = FingerprintConfig()
RATE = CONFIG.sample_rate_hz


def test_a_bass_line_under_a_presenter_is_named_from_the_catalogs_low_band(
    store: CatalogStore, tmp_path: Path
) -> None:
    ingestor = CatalogIngestor(store, CONFIG)
    ids = {}
    for seed in (41, 42, 43):
        path = tmp_path / f"Bass Player - Line {seed}.mp3"
        encode_audio(path, bass_line(seed, 30.0, RATE), RATE)
        added = ingestor.add_file(path)
        assert added.status is AddStatus.ADDED and added.track is not None
        ids[seed] = added.track.id
    clip = tmp_path / "clip.mp3"
    talked_over = mix_at_snr(
        bass_line(42, 30.0, RATE)[5 * RATE : 15 * RATE], speech_like_noise(7, 10.0, RATE), 0.0
    )
    encode_audio(clip, talked_over, RATE)

    found = CatalogIdentifier(store, CONFIG, MatchConfig()).identify_file(clip)
    assert found is not None and found.track.id == ids[42]
    assert found.match.offset_s == pytest.approx(5.0, abs=0.1)
    without = CatalogIdentifier(store, CONFIG, MatchConfig(low_band_look=False))
    assert without.identify_file(clip) is None
