"""How unlikely an alignment is by chance: the calibrated part of the match decision.

Null model: a query that is not in the catalog still hits index entries (common hashes), and each
hit lands at an offset that is uniform over the catalog's frames. With `hits` hits spread over
`frame_count / bin_frames` offset bins, a scoring cell (a bin and its right-hand neighbour) gets a
Poisson(mu) count with mu = hits * 2 * bin_frames / frame_count. The best of `cells` such cells
reaching `aligned` has probability at most cells * P(Poisson(mu) >= aligned). The score is minus
log10 of that bound: 6 means "one query in a million would line up this well by chance".

The model knows the query's hash count (through its hits) and the index's size, so a short or
sparse track matches with few aligned hashes when the catalog is small or the query's hashes are
rare, and a big catalog or a query full of common hashes asks for more.
"""

from __future__ import annotations

import math

_LN10 = math.log(10.0)


def log10_poisson_tail(count: int, mean: float) -> float:
    """log10 of an upper bound on P(X >= count) for X ~ Poisson(mean); 0 when not in the tail."""
    if count <= 0 or mean <= 0.0:
        return 0.0 if count <= 0 else -math.inf
    if mean >= count + 1:
        return 0.0
    log_pmf = count * math.log(mean) - mean - math.lgamma(count + 1)
    # Terms after the first shrink at least geometrically by mean / (count + 1).
    log_tail = log_pmf - math.log1p(-mean / (count + 1))
    return min(0.0, log_tail / _LN10)


def chance_alignment_score(
    aligned: int, hits: int, frame_count: int, bin_frames: int, hypotheses: int
) -> float:
    """-log10 of the expected number of offset cells, among all tested, that would line up
    `aligned` hits by chance; higher is more certain."""
    if frame_count <= 0 or hits <= 0:
        return 0.0
    cells = max(1.0, hypotheses * frame_count / bin_frames)
    mean = hits * 2.0 * bin_frames / frame_count
    return -(math.log10(cells) + log10_poisson_tail(aligned, mean))
