"""Identify a clip of samples: the hashes of the clip as heard, then, when they name nothing,
the hashes of the clip with its leading pitch masked (a presenter talking over the music)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig
from fingerv7.core.fingerprint.hashing import Fingerprint, hash_peaks
from fingerv7.core.fingerprint.peaks import find_peaks
from fingerv7.core.fingerprint.spectrogram import FloatArray, spectrogram_db
from fingerv7.core.fingerprint.voice import without_leading_pitch

if TYPE_CHECKING:
    from fingerv7.core.fingerprint.matching import LandmarkMatcher, Match


def fingerprint_spectrogram(spectrogram: FloatArray, config: FingerprintConfig) -> Fingerprint:
    """Query hashes of a dB spectrogram (`spectrogram_db`): its peaks, paired."""
    return hash_peaks(find_peaks(spectrogram, config), config)


def identify_clip(
    matcher: LandmarkMatcher, samples: npt.ArrayLike, on_air: int | None = None
) -> Match | None:
    """The catalog track in mono `samples` (at the matcher's sample rate), or None; `on_air`
    as in `LandmarkMatcher.identify`, for both looks.

    The second look (`MatchConfig.second_look_without_voice`, off by default) is a second
    chance for chance alignments too; on the corpus's 846 negatives and the 3,360 of the
    Wesnoth set it let none through (docs/fingerprint.md).
    """
    config = matcher.fingerprint_config
    spectrogram = spectrogram_db(samples, config)
    match = matcher.identify(fingerprint_spectrogram(spectrogram, config), on_air)
    if match is not None or not matcher.match_config.second_look_without_voice:
        return match
    masked = without_leading_pitch(spectrogram, config)
    if masked is None:
        return None
    return matcher.identify(fingerprint_spectrogram(masked, config), on_air)
