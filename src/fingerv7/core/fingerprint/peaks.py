"""Peak picking: the local maxima of the spectrogram that survive noise and re-encoding.

A peak must be the maximum of its time-frequency neighbourhood, stand above the level that bin
usually has (so steady noise does not count) or far above the rest of its own frame (so a quiet
passage or a held note still gives peaks), and be among the strongest few of its second
(density control keeps storage per hour bounded). Positions are refined below one bin/frame by
parabolic interpolation, so hashes can be recomputed exactly under a speed hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter

from fingerv7.core.fingerprint.config import FingerprintConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Peaks:
    """Spectral peaks sorted by time: fractional frame index, fractional bin, level in dB."""

    frames: FloatArray
    bins: FloatArray
    levels_db: FloatArray

    def __len__(self) -> int:
        return int(self.frames.size)

    @classmethod
    def empty(cls) -> Peaks:
        nothing = np.zeros(0, dtype=np.float64)
        return cls(frames=nothing, bins=nothing.copy(), levels_db=nothing.copy())

    @classmethod
    def concatenate(cls, parts: list[Peaks]) -> Peaks:
        """Peaks of consecutive segments, in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([part.frames for part in parts]),
            np.concatenate([part.bins for part in parts]),
            np.concatenate([part.levels_db for part in parts]),
        )

    def rescaled(self, time_factor: float, frequency_factor: float) -> Peaks:
        """The same peaks with time and frequency axes stretched (a speed hypothesis)."""
        return Peaks(self.frames * time_factor, self.bins * frequency_factor, self.levels_db)


def find_peaks(spectrogram: npt.NDArray[np.float32], config: FingerprintConfig) -> Peaks:
    """Landmark peaks of a dB spectrogram (frames x bins); empty for silence or short input."""
    return find_segment_peaks(spectrogram, config, first_frame=0, core=(0, spectrogram.shape[0]))


def find_segment_peaks(
    spectrogram: npt.NDArray[np.float32],
    config: FingerprintConfig,
    first_frame: int,
    core: tuple[int, int],
) -> Peaks:
    """Peaks of the frames `core` (local indices) of a spectrogram that starts at absolute frame
    `first_frame`, reported at absolute frames.

    A streaming caller passes `neighbourhood_frames` (+1) of context on each side of the core and
    cores made of whole one-second density blocks, so each core frame sees the same neighbourhood
    and competes in the same block as it would in the whole track; only a bin's usual level is
    taken over the segment rather than the whole track.
    """
    n_frames = spectrogram.shape[0]
    if n_frames < 3 or core[1] <= core[0]:
        return Peaks.empty()
    low, high = config.min_frequency_bin, min(config.max_frequency_bin, spectrogram.shape[1] - 2)
    band = spectrogram[:, low : high + 1]
    size = (2 * config.neighbourhood_frames + 1, 2 * config.neighbourhood_bins + 1)
    local_max = band == maximum_filter(band, size=size, mode="nearest")
    typical_level = median_along(band, axis=0)
    strong = band > typical_level + config.min_peak_db_above_median
    if config.min_peak_db_above_frame_median is not None:
        frame_level = median_along(band, axis=1)
        strong |= band > frame_level + config.min_peak_db_above_frame_median
    strong &= band > config.silence_floor_db
    candidates = local_max & strong
    candidates[: core[0]] = False
    candidates[core[1] :] = False
    frame_idx, bin_idx = np.nonzero(candidates)
    levels = band[frame_idx, bin_idx].astype(np.float64)
    keep = _densest_allowed(frame_idx + first_frame, bin_idx + low, levels, config)
    frame_idx, bin_idx, levels = frame_idx[keep], bin_idx[keep] + low, levels[keep]
    frames = frame_idx + _parabolic_offset(spectrogram, frame_idx, bin_idx, axis=0) + first_frame
    bins = bin_idx + _parabolic_offset(spectrogram, frame_idx, bin_idx, axis=1)
    order = np.lexsort((bins, frames))
    return Peaks(frames=frames[order], bins=bins[order], levels_db=levels[order])


def median_along(values: npt.NDArray[np.float32], axis: int) -> npt.NDArray[np.float32]:
    """`np.median(values, axis, keepdims=True)` of NaN-free values, bit for bit, about 4x faster.

    `np.median` partitions around the last element too, to find NaNs, and around two middle
    elements for an even count; a spectrogram has no NaN (its floor), and the lower middle
    element is the largest of the lower part. The two medians were a quarter of a stream
    window's CPU (docs/fingerprint.md, "The song on air at the clip's own speed").
    """
    half = values.shape[axis] // 2
    part = np.partition(values, half, axis=axis)
    upper = np.take(part, [half], axis=axis)
    if values.shape[axis] % 2:
        return upper
    lower = np.take(part, np.arange(half), axis=axis).max(axis=axis, keepdims=True)
    middle: npt.NDArray[np.float32] = np.concatenate([lower, upper], axis=axis).mean(
        axis=axis, keepdims=True
    )
    return middle


def _densest_allowed(
    frame_idx: IntArray, bin_idx: IntArray, levels: FloatArray, config: FingerprintConfig
) -> npt.NDArray[np.bool_]:
    """Mask keeping `peaks_per_second` peaks of each one-second block: the strongest, or with
    `density_band_edges`, each band's strongest in turn.

    Ranking by height above each bin's usual level instead was measured: it spreads peaks
    towards high frequencies, which white noise then takes over (-6 dB accuracy fell to 80%).
    """
    block = frame_idx // max(1, round(config.frames_per_second))
    if config.density_band_edges:
        turn = _rank_in_band(block, bin_idx, levels, config.density_band_edges)
        order = np.lexsort((-levels, turn, block))
    else:
        order = np.lexsort((-levels, block))
    sorted_blocks = block[order]
    starts = np.searchsorted(sorted_blocks, sorted_blocks, side="left")
    rank = np.arange(order.size) - starts
    keep = np.zeros(order.size, dtype=bool)
    keep[order[rank < config.peaks_per_second]] = True
    return keep


def _rank_in_band(
    block: IntArray, bin_idx: IntArray, levels: FloatArray, band_edges: tuple[int, ...]
) -> IntArray:
    """Each peak's rank by level among the peaks of its (block, band): 0 for the strongest."""
    band = np.searchsorted(np.asarray(band_edges), bin_idx, side="right")
    order = np.lexsort((-levels, band, block))
    group = block[order] * (len(band_edges) + 1) + band[order]
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size) - np.searchsorted(group, group, side="left")
    return rank


def _parabolic_offset(
    spectrogram: npt.NDArray[np.float32], frame_idx: IntArray, bin_idx: IntArray, axis: int
) -> FloatArray:
    """Sub-sample position of each maximum along one axis, in [-0.5, 0.5]."""
    limit = spectrogram.shape[axis] - 1
    if axis == 0:
        before = spectrogram[np.maximum(frame_idx - 1, 0), bin_idx]
        after = spectrogram[np.minimum(frame_idx + 1, limit), bin_idx]
    else:
        before = spectrogram[frame_idx, np.maximum(bin_idx - 1, 0)]
        after = spectrogram[frame_idx, np.minimum(bin_idx + 1, limit)]
    centre = spectrogram[frame_idx, bin_idx]
    curvature = before.astype(np.float64) - 2.0 * centre + after
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (before - after) / curvature, 0.0)
    return np.clip(offset, -0.5, 0.5)
