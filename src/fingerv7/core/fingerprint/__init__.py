"""Landmark audio fingerprinting (Wang 2003), pure NumPy/SciPy.

Typical use by a stream processor::

    fingerprint_config = FingerprintConfig()
    index = HashIndex(hashes, track_ids, frames)  # from fingerprint_reference() of each track
    matcher = LandmarkMatcher(index, fingerprint_config, MatchConfig())
    match = identify_clip(matcher, latest_mono_samples)  # or, from hashes alone:
    match = matcher.identify(fingerprint(latest_mono_samples, fingerprint_config))

`identify_clip` takes second looks when the hashes name nothing (clip.py,
`MatchConfig.second_look_tracks`), and then searches the low band (20-160 Hz) when given a
matcher of the catalog's low-band index: `HashIndex` of each track's `low_band_reference()`,
`LandmarkMatcher(low_index, low_band_config(fingerprint_config),
low_band_match_config(MatchConfig()))`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy.typing as npt

from fingerv7.core.fingerprint.clip import fingerprint_spectrogram, identify_clip
from fingerv7.core.fingerprint.config import (
    CATALOG_FINGERPRINT_VERSION,
    FingerprintConfig,
    MatchConfig,
)
from fingerv7.core.fingerprint.hashing import (
    HASH_BITS,
    STEPS_PER_BIN,
    STEPS_PER_FRAME,
    Fingerprint,
    hash_peaks,
    hash_peaks_at_speeds,
    pack_hashes,
    unpack_hashes,
)
from fingerv7.core.fingerprint.index import HashIndex, HashLookup, HashPostings
from fingerv7.core.fingerprint.low_band import (
    Decimator,
    decimated,
    low_band_config,
    low_band_match_config,
)
from fingerv7.core.fingerprint.peaks import Peaks, find_peaks
from fingerv7.core.fingerprint.spectrogram import spectrogram_db
from fingerv7.core.fingerprint.speed import change_speed
from fingerv7.core.fingerprint.streaming import StreamingFingerprinter

if TYPE_CHECKING:
    from fingerv7.core.fingerprint.matching import LandmarkMatcher, Match


def __getattr__(name: str) -> object:
    """The matcher is imported on first use: it loads the compiled voting loops (Numba, about
    110 MB of memory), which `catalog add` and anything else that only makes hashes do not
    need (its peak memory target is 300 MB)."""
    if name in ("LandmarkMatcher", "Match"):
        from fingerv7.core.fingerprint import matching

        return getattr(matching, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fingerprint(samples: npt.ArrayLike, config: FingerprintConfig) -> Fingerprint:
    """Query hashes of mono PCM already at `config.sample_rate_hz` (floats in [-1, 1])."""
    return fingerprint_spectrogram(spectrogram_db(samples, config), config)


def fingerprint_reference(samples: npt.ArrayLike, config: FingerprintConfig) -> Fingerprint:
    """Catalog hashes of a whole track: the sparser reference-side density of `config`, computed
    segment by segment exactly as `catalog add` streams a file (StreamingFingerprinter)."""
    streamer = StreamingFingerprinter(config.for_references())
    streamer.feed(samples)
    return streamer.finish()


def low_band_reference(samples: npt.ArrayLike, config: FingerprintConfig) -> Fingerprint:
    """Catalog hashes of a whole track's low band (`low_band_config`), made as `catalog add`
    makes them; `samples` are at `config.sample_rate_hz`."""
    return fingerprint_reference(decimated(samples, config.sample_rate_hz), low_band_config(config))


__all__ = [
    "CATALOG_FINGERPRINT_VERSION",
    "HASH_BITS",
    "STEPS_PER_BIN",
    "STEPS_PER_FRAME",
    "Decimator",
    "Fingerprint",
    "FingerprintConfig",
    "HashIndex",
    "HashLookup",
    "HashPostings",
    "LandmarkMatcher",
    "Match",
    "MatchConfig",
    "Peaks",
    "StreamingFingerprinter",
    "change_speed",
    "decimated",
    "find_peaks",
    "fingerprint",
    "fingerprint_reference",
    "hash_peaks",
    "hash_peaks_at_speeds",
    "identify_clip",
    "low_band_config",
    "low_band_match_config",
    "low_band_reference",
    "pack_hashes",
    "spectrogram_db",
    "unpack_hashes",
]
