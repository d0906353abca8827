"""A catalog padded with decoy tracks, so lookups cost what they would at a larger size.

Decoy hashes are drawn from a hash distribution (common hashes stay common, so postings per hash
grow as they would) at random frames of three-minute decoy tracks: no decoy can line up with a
query, so accuracy and false identifications measured on a padded catalog are optimistic, and
only the cost is that of a real catalog of that size.

Where the decoys' hashes come from matters. Drawn from the catalog's own entries (the default),
every value the query's own recording holds is repeated as often as the commonest: with 24-bit
hashes, where most values are rare, that over-counts a query's postings many times over. Drawn
from `source_hashes`, the entries of other recordings than the queries', a value is repeated in
proportion to how often independent music holds it, which is what a larger catalog would add
(docs/fingerprint.md, "Padding from other music").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint import FingerprintConfig, HashIndex

IntArray = npt.NDArray[np.int64]

DECOY_SECONDS = 180
FIRST_DECOY_TRACK = 1_000_000_000


def padded_index(
    hashes: IntArray,
    tracks: IntArray,
    frames: IntArray,
    audio_s: float,
    hours: float,
    seed: int = 7,
    source_hashes: IntArray | None = None,
    frames_per_second: float = FingerprintConfig().frames_per_second,
) -> HashIndex:
    """The entries given (covering `audio_s` seconds of audio) plus decoys up to `hours`, their
    hashes drawn from `source_hashes` where given, else from `hashes`; `frames_per_second` of
    the entries' analysis (the low band's frames are twice as long)."""
    rng = np.random.default_rng(seed)
    pool = hashes if source_hashes is None else source_hashes
    decoy_count = max(0, round((hours * 3600 - audio_s) * hashes.size / audio_s))
    frames_per_decoy = round(DECOY_SECONDS * frames_per_second)
    entries_per_decoy = max(1, round(DECOY_SECONDS * hashes.size / audio_s))
    return HashIndex(
        np.concatenate([hashes, rng.choice(pool, size=decoy_count)]),
        np.concatenate([tracks, FIRST_DECOY_TRACK + np.arange(decoy_count) // entries_per_decoy]),
        np.concatenate([frames, rng.integers(0, frames_per_decoy, size=decoy_count)]),
    )
