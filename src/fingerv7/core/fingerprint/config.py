"""Tunable parameters of landmark fingerprinting and matching, with their units in their names.

Both objects are frozen values: the catalog and the stream processor build one at the edge and pass
it down, so a catalog and its queries always agree on how hashes were made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# The catalog-side algorithm (FingerprintConfig.for_references() of the defaults), stored with
# every catalog track. Bump it whenever catalog hashes change: a catalog made by another version
# is then refused at load time instead of silently not matching (docs/fingerprint.md).
# 1: one density ranking by level. 2: density control takes frequency bands in turn.
# 3: a peak may also pass by standing out of its own frame (quiet passages).
# 4: hashes count half bins and half frames (24 bits), measured from unrounded peak positions.
# 5: every track also has the low band's hashes (low_band.py), in their own index.
CATALOG_FINGERPRINT_VERSION = 5


@dataclass(frozen=True, slots=True)
class FingerprintConfig:
    """How audio becomes peaks and peaks become hashes (Wang 2003 landmarks).

    Density is asymmetric: catalog references keep few peaks and pairs (storage per hour), queries
    keep more, so that a reference's pairs are still found among a noisy query's pairs.
    `neighbourhood_*`, `peaks_per_second`, `fan_out` and `hash_margin` are the query side;
    :meth:`for_references` swaps in the reference side.
    """

    sample_rate_hz: int = 8000
    fft_size: int = 512  # 64 ms window at 8 kHz: 15.6 Hz per bin
    hop_size: int = 128  # 16 ms per frame
    min_frequency_bin: int = 10  # ~160 Hz: below this, kick drums and bass repeat the same hashes
    max_frequency_bin: int = 240  # ~3.75 kHz: above this, MP3 low-passing at low bit rates
    # Query side: a peak must be the maximum of +-6 frames and +-6 bins. The reference's peaks are
    # maxima of a larger area (below); a presenter or noise near a reference peak hides it from
    # that area's maximum in the query, not from this smaller one (docs/fingerprint.md).
    neighbourhood_frames: int = 6
    neighbourhood_bins: int = 6
    reference_neighbourhood_frames: int = 9
    reference_neighbourhood_bins: int = 10
    min_peak_db_above_median: float = 6.0  # reject flat regions (noise floor, silence)
    # ... or stand this far above the median of its own frame. A quiet passage sits below its
    # bins' usual level, so the test above found 1-2 peaks per second there and such snippets
    # could not match; held notes fail it too. Noise maxima stand ~6-13 dB above their frame's
    # median, music's spectral lines 20-60 dB. None: the bin test alone (version 2).
    min_peak_db_above_frame_median: float | None = 20.0
    silence_floor_db: float = -70.0  # absolute floor, dB relative to a full-scale sine
    peaks_per_second: int = 30  # density control, enforced per one-second block
    # Density control takes peaks from these frequency bands in turn (each band's strongest, then
    # each band's second strongest, ...), so loud low notes or a voice cannot take a second's
    # whole quota. Edges in bins, increasing; () = one band (rank by level only). Octave-wide
    # bands: 160-340 Hz, 340-770 Hz, 770 Hz-1.7 kHz, 1.7-3.75 kHz.
    density_band_edges: tuple[int, ...] = (22, 49, 109)
    fan_out: int = 12  # targets paired with each anchor
    # Query side: a pair whose frequency or time field lies within this fraction of a bin (frame)
    # of a rounding edge is also hashed with the neighbouring value, so sub-bin jitter from
    # re-encoding does not change the hash. References store one hash per pair.
    hash_margin: float = 0.2
    reference_peaks_per_second: int = 10
    reference_fan_out: int = 3
    reference_density_band_edges: tuple[int, ...] = (22, 49, 109)
    target_min_frames: int = 2
    target_max_frames: int = 62  # dt field has 6 bits after quantisation
    target_max_bins: int = 63  # |f2 - f1| limit, 7 bits signed
    # Query side, the second looks (voice.py, `MatchConfig.second_look_tracks`): each
    # frame's leading pitch is sought in this range, on this grid (in bins), from its first
    # `voice_pitch_harmonics` multiples; where it stands out by `voice_min_salience_db` (its
    # harmonics' mean level above the frame's median, less the same half-way between them), its
    # harmonics are masked, each over +-(half width + widening x harmonic number) bins. Tuned on
    # the corpus's presenter snippets, checked on a held-out set (docs/fingerprint.md).
    voice_pitch_range_hz: tuple[float, float] = (70.0, 400.0)
    voice_pitch_step_bins: float = 0.2
    voice_pitch_harmonics: int = 20
    voice_min_salience_db: float = 6.0
    voice_mask_half_width_bins: float = 1.5
    voice_mask_widening: float = 0.03
    # ... and the other second look: each bin's dB level averaged over this many frames (80 ms).
    steady_frames: int = 5

    def for_references(self) -> FingerprintConfig:
        """The same analysis with the (sparser) catalog-side neighbourhood, density and fan-out,
        and one hash per pair."""
        return replace(
            self,
            neighbourhood_frames=self.reference_neighbourhood_frames,
            neighbourhood_bins=self.reference_neighbourhood_bins,
            peaks_per_second=self.reference_peaks_per_second,
            fan_out=self.reference_fan_out,
            density_band_edges=self.reference_density_band_edges,
            hash_margin=0.0,
        )

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate_hz / self.hop_size

    @property
    def seconds_per_frame(self) -> float:
        return self.hop_size / self.sample_rate_hz


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """How lookups are voted on and when the answer is "no match".

    `reference_speeds` are the speeds at which each catalog track is indexed (resampled copies);
    `query_speeds` are the speed hypotheses under which a query's peaks are re-hashed. Either one
    (or both) gives tolerance to stations that play tracks a few percent fast or slow.
    """

    # The decision: the best alignment must be unlikely by chance (`min_score`, -log10 of the
    # expected chance alignments this good, see significance.py) and reach a small floor of
    # aligned hashes. Real music is not the independent-hits null model (unrelated pieces share
    # chords and figures): 16, set on the corpus's own 846 negatives, let 7 of 3,360 fresh ones
    # through (the Wesnoth soundtrack, never used for tuning; 11 with fingerprint version 2);
    # 18 lets 1 through and costs no positive on the corpus that 17 does not
    # (docs/fingerprint.md, "A larger negative set"). Under the old fixed rule of 36 aligned
    # hashes, a short or sparse track and most noisy clips were refused.
    min_score: float = 18.0
    min_aligned_hashes: int = 8
    # Hashes this common (drum hits, repeated notes) carry little identity and would dominate
    # voting time; skipped at query time. About 20x the average at 1,000 hours of catalog.
    max_postings_per_hash: int | None = 1000
    # When set, a search of the whole catalog gathers at most this many index entries. A query's
    # hashes point to about ten million at 1,000 hours, and gathering and voting on them takes
    # 1-3 s. Past the budget, the query's rarest hashes (up to this many entries together)
    # nominate `candidate_tracks` tracks, and only those are counted, on all the query's hashes,
    # from their own entries. 300,000 brings a whole search at 1,000 h to about 70 ms, but a
    # weak match (talk over the music, loud noise) rarely has enough of its votes among the rare
    # hashes to be nominated: at 1,000 h, top-1 fell by 8 to 42 points in every condition but
    # clean snippets, and a confusion the exhaustive search outvotes can then win. Off by default
    # (docs/fingerprint.md, "A search budget").
    max_search_postings: int | None = None
    candidate_tracks: int = 4
    # A search of the whole catalog whose query hashes point to more index entries than this
    # (about 8.5 million at 1,000 hours, 30,000 at 2.35 hours) gathers only a part of them: each
    # peak pair's plain rounding (not the variants `hash_margin` adds, about six hashes per
    # pair) under the speed hypotheses on a grid of `nominating_speed_step` (every 1%: 7 of 13).
    # That part nominates `candidate_tracks` tracks, which are then counted on every hash and
    # hypothesis from their own entries, so their votes and scores are the whole search's. A
    # pair's variants and a neighbouring hypothesis move the same peaks by a fraction of a bin:
    # the right track still leads on a tenth of the entries. At 1,000 hours a query's p95 went
    # from 277 to 75 ms, and 1 answer of 1,173 snippets changed (a -6 dB snippet missed;
    # docs/fingerprint.md, "Nominating by plain roundings on a coarser speed grid"). None: every
    # search is exhaustive.
    nominate_above_postings: int | None = 1_000_000
    nominating_speed_step: float | None = 0.01  # None: every hypothesis nominates
    nominate_with_margin: bool = False
    # A stream's next window is checked against the song on air (`LandmarkMatcher.identify`)
    # first under the clip's own speed alone, whose hashes the fingerprint already holds:
    # re-hashing the clip under the other 12 speed hypotheses was most of such a window's
    # cost. Only when the song does not pass there are all hypotheses hashed and it is checked
    # under all of them. False: every check hashes all hypotheses (docs/fingerprint.md, "The
    # song on air at the clip's own speed").
    on_air_at_clip_speed_first: bool = True
    # When a clip names nothing, look at it again, counting only the `second_look_tracks`
    # tracks that came closest (`LandmarkMatcher.identify_among`, clip.py): first with each
    # frame's leading pitch masked (voice.py: a presenter hides the music's peaks, and the music
    # between the voice's harmonics is still there), then with each bin's level averaged over
    # a few frames (noise and speech flicker, held notes do not). Only `identify_clip` takes
    # these looks (they need the clip, not just its hashes). Counting a few tracks' own entries
    # costs the same at any catalog size: a clip that names nothing costs about 35 ms more,
    # where a whole second search cost 50 more. At 1,000 h the query p95 goes 55 -> 87 ms and a
    # stream's mean CPU per window 10.1 -> 13.8 ms (docs/fingerprint.md, "Second looks at
    # 1,000 hours"). 0: no second look.
    second_look_tracks: int = 4
    # A second look is more chances for chance: what it names must score this much above
    # `min_score`. The steadied look let 3 of 9,504 negatives through at 18.2-18.7 without it.
    second_look_extra_score: float = 1.0
    # When the looks above name nothing either, search the whole catalog's low band (20-160 Hz,
    # low_band.py), accepted at `min_score` + `second_look_extra_score` like a second look. Music
    # that lives under 160 Hz (pads, drones) is buried under a presenter or noise in the main
    # band and not in its own: on the corpus, presenter 96.6 -> 100% and pink noise +10 / +5 dB
    # 98.3 / 96.6 -> 99.1 / 98.3%, no false identification of 846 negatives (docs/fingerprint.md,
    # "The low band"). Only `identify_clip` searches it (it needs the clip). False: never.
    low_band_look: bool = True
    # Peak-level verification (verification.py). When no alignment passes `min_score` on its
    # hashes alone, the best alignments of the `verified_candidates` leading tracks are checked
    # peak by peak: the reference's peaks in the clip's span that the vote did not already
    # count, each found or not among the clip's peaks within these tolerances. The check's
    # score adds to the vote's, so a presenter or loud noise that broke most pairs but left
    # single peaks can still match; an answer the hashes give alone never changes. 0: the
    # hashes alone decide. Off with several reference speeds (their copies would mix).
    verified_candidates: int = 4
    peak_frame_tolerance: int = 2
    peak_bin_tolerance: int = 1
    min_confidence: float = 0.0
    # Off by default. When > 0, refuse a match whose aligned count is under this multiple of the
    # best other track's alignment made of query hashes the winner did not align (a duplicate of
    # the winner does not count). On generated songs 3 removes every false identification of
    # 1,000; on real recordings it costs recall (docs/fingerprint.md), hence off.
    min_runner_up_ratio: float = 0.0
    offset_bin_frames: int = 2
    reference_speeds: tuple[float, ...] = (1.0,)
    query_speeds: tuple[float, ...] = (
        1.0,
        0.995,
        1.005,
        0.99,
        1.01,
        0.985,
        1.015,
        0.98,
        1.02,
        0.975,
        1.025,
        0.97,
        1.03,
    )
