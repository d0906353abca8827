"""Identify a clip of samples: the hashes of the clip as heard, then, when they name nothing,
second looks at the clip seen other ways (without its leading voice; each bin steadied over a
few frames), counted only among the tracks that came closest the first time, and last the
clip's low band (20-160 Hz) against the whole catalog's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig
from fingerv7.core.fingerprint.hashing import Fingerprint, hash_peaks
from fingerv7.core.fingerprint.low_band import decimated
from fingerv7.core.fingerprint.peaks import find_peaks
from fingerv7.core.fingerprint.spectrogram import FloatArray, spectrogram_db, steadied
from fingerv7.core.fingerprint.voice import without_leading_pitch

if TYPE_CHECKING:
    from fingerv7.core.fingerprint.matching import LandmarkMatcher, Match

# The clip seen other ways, in the order they are tried; None: nothing to see that way.
SECOND_LOOKS: tuple[Callable[[FloatArray, FingerprintConfig], FloatArray | None], ...] = (
    without_leading_pitch,
    steadied,
)


def fingerprint_spectrogram(spectrogram: FloatArray, config: FingerprintConfig) -> Fingerprint:
    """Query hashes of a dB spectrogram (`spectrogram_db`): its peaks, paired."""
    return hash_peaks(find_peaks(spectrogram, config), config)


def identify_clip(
    matcher: LandmarkMatcher,
    samples: npt.ArrayLike,
    on_air: int | None = None,
    low_band: LandmarkMatcher | None = None,
) -> Match | None:
    """The catalog track in mono `samples` (at the matcher's sample rate), or None; `on_air`
    as in `LandmarkMatcher.identify`.

    When the clip names nothing, each of `SECOND_LOOKS` is counted against the
    `MatchConfig.second_look_tracks` tracks that came closest (none when that is 0), and the
    first that passes the same decision, with `second_look_extra_score` more score, is the
    answer. Counting so few tracks costs the same at any catalog size and gives chance few ways
    in: on 10,350 negatives they added no false identification (docs/fingerprint.md).

    When those name nothing either, `low_band` (a matcher of the catalog's low-band index,
    `low_band_config`) searches the clip's low band, under the same raised bar.
    """
    config = matcher.fingerprint_config
    samples = np.asarray(samples, dtype=np.float32)
    spectrogram = spectrogram_db(samples, config)
    first = matcher.search(
        fingerprint_spectrogram(spectrogram, config),
        on_air,
        leaders=matcher.match_config.second_look_tracks,
    )
    if first.match is not None:
        return first.match
    bar = matcher.match_config.min_score + matcher.match_config.second_look_extra_score
    for look in SECOND_LOOKS if first.leaders.tracks else ():
        seen = look(spectrogram, config)
        if seen is None:
            continue
        match = matcher.identify_among(fingerprint_spectrogram(seen, config), first.leaders)
        if match is not None and match.score + match.peak_score >= bar:
            return match
    if low_band is None:
        return None
    low_config = low_band.fingerprint_config
    low_samples = decimated(samples, config.sample_rate_hz)
    match = low_band.identify(
        fingerprint_spectrogram(spectrogram_db(low_samples, low_config), low_config), on_air
    )
    return match if match is not None and match.score + match.peak_score >= bar else None
