"""Matching by time-offset voting: a true match lines many hashes up at one offset.

For every index entry a query hash hits, `offset = reference frame - query frame`; entries of the
right track pile up at one offset (give or take a frame or two of drift), random hits spread
thinly over all tracks and offsets. The answer is the (track, speed, offset) with the most
aligned hits, and "no match" unless that alignment is unlikely enough by chance
(:mod:`fingerv7.core.fingerprint.significance`) and reaches the floor `min_aligned_hashes`.
When no alignment passes on its hashes alone, the leading tracks' best alignments are checked
peak by peak (:mod:`fingerv7.core.fingerprint.verification`), whose evidence adds to the
vote's; every answer the hashes give alone is unchanged by that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig, MatchConfig
from fingerv7.core.fingerprint.hashing import (
    ANCHOR_BIN_BITS,
    STEPS_PER_BIN,
    STEPS_PER_FRAME,
    Fingerprint,
    anchor_bins_of,
    hash_peaks_at_speeds,
    unpack_hashes,
)
from fingerv7.core.fingerprint.index import HashLookup, HashPostings
from fingerv7.core.fingerprint.peaks import Peaks
from fingerv7.core.fingerprint.significance import chance_alignment_score
from fingerv7.core.fingerprint.verification import ClipCoverage, clip_coverage, peak_agreement
from fingerv7.core.fingerprint.voting import (
    HYPOTHESIS_BITS,
    VARIANT_BITS,
    Votes,
    cell_scores,
    hypothesis_of,
    track_of_key,
    tracks_of,
    variant_of,
)

IntArray = npt.NDArray[np.int64]

# The fewest votes a cell needs to nominate its track. Among the rarest hashes two already
# stand out of chance; a tenth of a large search's hits leaves hundreds of thousands of cells
# with two chance votes, whose counting and sorting took a third of the search, and a track
# that lines up only two of them does not stand out of those.
_NOMINATING_FLOOR_RAREST = 2
_NOMINATING_FLOOR = 3
# The fewest votes a cell needs to make its track a leader of a search that named nothing (a
# second look counts only the leaders): in a small catalog chance rarely lines up even three,
# and a voice can leave its song only two (the corpus's gains are the same with 2 and 3).
_LEADERS_FLOOR = 2


@dataclass(frozen=True, slots=True)
class Match:
    """The catalog track a clip came from, and how sure we are.

    `offset_s` is where in the track the clip starts; `speed` is the playback speed the clip was
    heard at relative to the catalog copy (1.02 = 2% fast); `confidence` (0..1) is the share of
    the hashes a perfect copy would line up that did (clean MP3 clips score about 0.5, clips in
    loud noise 0.1-0.2); `runner_up_aligned` is the best count any other track got (exact when
    it reaches `min_aligned_hashes`, a lower bound below that; among the nominated tracks only
    when a part of the query nominated them, see `MatchConfig.nominate_above_postings` and
    `max_search_postings`); `score` is how unlikely the alignment is by chance (-log10 of the
    expected number of chance alignments this good; see
    :mod:`fingerv7.core.fingerprint.significance`), computed on
    `distinct_hashes`, the number of different hash values among the aligned ones;
    `peak_score` is what the peak-by-peak check added to `score` (0 when the hashes passed
    alone and the check was not run; see `MatchConfig.verified_candidates`).
    """

    track_id: int
    offset_s: float
    speed: float
    aligned_hashes: int
    query_hashes: int
    confidence: float
    runner_up_aligned: int
    score: float = 0.0
    distinct_hashes: int = 0
    peak_score: float = 0.0


@dataclass(frozen=True, slots=True)
class Leaders:
    """The tracks that came closest when a search named nothing, best first, and the speed
    hypotheses of their best alignments: where a second look at the clip is counted
    (:meth:`LandmarkMatcher.identify_among`, clip.py)."""

    tracks: tuple[int, ...] = ()
    hypotheses: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Search:
    """A search's answer and, when it named nothing and leaders were asked for, its leaders."""

    match: Match | None
    leaders: Leaders = Leaders()


class LandmarkMatcher:
    """Identifies fingerprints against an index (or database) built with the same configuration."""

    def __init__(
        self,
        index: HashLookup,
        fingerprint_config: FingerprintConfig,
        match_config: MatchConfig,
    ) -> None:
        if len(match_config.query_speeds) >= 1 << HYPOTHESIS_BITS:
            raise ValueError("too many query speed hypotheses")
        if len(match_config.reference_speeds) >= 1 << VARIANT_BITS:
            raise ValueError("too many reference speed variants")
        step = match_config.nominating_speed_step
        if step is not None and step <= 0:
            raise ValueError("nominating_speed_step must be positive")
        self._nominating_hypotheses = [
            number
            for number, speed in enumerate(match_config.query_speeds)
            if step is None or _on_grid(speed - 1.0, step)
        ]
        self.index = index
        self.fingerprint_config = fingerprint_config
        self.match_config = match_config
        # A clean clip shares with its reference only the reference's (sparser) pairs: this share
        # of the query's pairs is what a perfect match can line up, i.e. confidence 1.0.
        reference = fingerprint_config.for_references()
        # The smallest alignment that can change an answer: a winner needs
        # `min_aligned_hashes`; an independent runner-up refuses it from
        # `min_aligned_hashes / min_runner_up_ratio` up. Smaller cells are not counted exactly.
        floor = match_config.min_aligned_hashes
        if match_config.min_runner_up_ratio > 0:
            floor = min(floor, int(floor // match_config.min_runner_up_ratio) + 1)
        self._vote_floor = max(1, floor)
        self._bin_frames = match_config.offset_bin_frames
        self._at_clip_speed_first = (
            match_config.query_speeds.index(1.0)
            if match_config.on_air_at_clip_speed_first and 1.0 in match_config.query_speeds
            else None
        )
        self._reference_share = min(
            1.0,
            (reference.peaks_per_second * reference.fan_out)
            / (fingerprint_config.peaks_per_second * fingerprint_config.fan_out),
        )

    def identify(self, fingerprint: Fingerprint, on_air: int | None = None) -> Match | None:
        """The best-supported track, or None (:meth:`search` without leaders)."""
        return self.search(fingerprint, on_air).match

    def search(
        self, fingerprint: Fingerprint, on_air: int | None = None, leaders: int = 0
    ) -> Search:
        """The best-supported track, or None when too few hashes line up (silence, noise,
        music that is not in the catalog).

        `on_air`: the track a stream was heard playing in its previous window. When another
        track lines up best but `on_air` still passes the decision in this clip, `on_air` is
        the answer: two recordings that share a passage (a version, a reprise) both line up
        in it, and the one already playing is the one on air. At a real song change the old
        track no longer passes, so the new one is named as soon as it would be without this.

        That rule also makes most windows cheap: `on_air` is checked first against its own
        entries only, which costs the same whatever the catalog's size, and the whole catalog
        is searched only when it does not pass. The answer is the one the whole search gives
        (its votes, score and offset are the same), except `runner_up_aligned`, which that
        check does not count (0). With the runner-up test on (`min_runner_up_ratio`), other
        tracks decide too, so the whole catalog is always searched.

        With `on_air_at_clip_speed_first`, `on_air` is checked under the clip's own speed
        (the 1.0 hypothesis) before the others are even hashed. When it passes there, the
        answer is that cell, as the whole search counts and scores it; where a neighbouring
        speed hypothesis lines up more of the same track's hashes (a clip 1% fast), the whole
        search would have named the same track at that speed instead.

        `leaders`: when nothing is named, the `leaders` tracks that came closest are returned
        too (:meth:`_leaders`), for a second look at the clip (:meth:`identify_among`).
        """
        cap = self.match_config.max_postings_per_hash
        if on_air is not None and self.match_config.min_runner_up_ratio == 0:
            at_clip_speed = self._at_clip_speed_first
            if at_clip_speed is not None and fingerprint.hashes.size:
                # The clip's own hashes are already made; the other hypotheses' cost most of a
                # window's time, and a song on air is nearly always heard at the speed it was.
                clip_query = self._query(fingerprint, [at_clip_speed])
                kept = self._on_air_passing(
                    clip_query, on_air, _ChanceHits(self.index, clip_query, cap)
                )
                if kept is not None:
                    return Search(kept)
        query = self._query(fingerprint)
        if query.hashes.size == 0:
            return Search(None)
        # The chance score needs what the whole catalog answers for the query: the number of
        # hits per hypothesis is known from the run lengths, without gathering them.
        hits_per_hypothesis = _ChanceHits(self.index, query, cap)
        if on_air is not None and self.match_config.min_runner_up_ratio == 0:
            kept = self._on_air_passing(query, on_air, hits_per_hypothesis)
            if kept is not None:
                return Search(kept)
            on_air = None  # it does not pass, so the whole search would not keep it either
        posting_counts = self.index.posting_counts(query.hashes, cap)
        hits_per_hypothesis.know_all(posting_counts)
        hits = self._search(query, posting_counts)
        votes = query.votes(hits, self._bin_frames, self._vote_floor)
        decided = None
        if votes is not None:
            decided = self._decide_votes(fingerprint, query, votes, on_air, hits_per_hypothesis)
        if decided is not None or leaders == 0:
            return Search(decided)
        return Search(None, self._leaders(query, hits, leaders))

    def _decide_votes(
        self,
        fingerprint: Fingerprint,
        query: _Query,
        votes: Votes,
        on_air: int | None,
        hits_per_hypothesis: _ChanceHits,
    ) -> Match | None:
        """The decision on a search's votes: the song on air's best cell when it passes, else
        the best cell, else (when no cell passes on its hashes) the peak-by-peak check."""
        checker = _PeakChecker(self.index, fingerprint.peaks, self.match_config)
        best = votes.best_cell()
        if on_air is not None and votes.track_of(best) != on_air:
            on_air_cells = np.flatnonzero(votes.cell_tracks() == on_air)
            if on_air_cells.size:
                on_air_best = int(on_air_cells[np.argmax(votes.scores[on_air_cells])])
                kept = self._decide_cell(query, votes, on_air_best, hits_per_hypothesis)
                if kept is not None:
                    return kept
        decided = self._decide_cell(query, votes, best, hits_per_hypothesis)
        if decided is not None or not checker.enabled:
            return decided
        return self._best_verified(query, votes, hits_per_hypothesis, checker)

    def _leaders(self, query: _Query, hits: HashPostings, count: int) -> Leaders:
        """The `count` tracks with the best cells of a search that named nothing, counted
        again with a floor of 2 votes, not `min_aligned_hashes`: where a voice or noise hid
        most of a clip's music, its track still lines up a few hashes, more than chance gives
        another. Among the nominees only, when a part of the query nominated them."""
        votes = query.votes(hits, self._bin_frames, _LEADERS_FLOOR)
        if votes is None:
            return Leaders()
        tracks = votes.leading_tracks(count)
        cell_tracks = votes.cell_tracks()
        hypotheses = set()
        for track in tracks:
            cells = np.flatnonzero(cell_tracks == track)
            best = int(cells[np.argmax(votes.scores[cells])])
            hypotheses.add(hypothesis_of(int(votes.unique_keys[best])))
        return Leaders(tuple(tracks), tuple(sorted(hypotheses)))

    def identify_among(self, fingerprint: Fingerprint, leaders: Leaders) -> Match | None:
        """The best-supported of `leaders.tracks` under `leaders.hypotheses`, counted from
        those tracks' own entries (a time that does not grow with the catalog), or None.

        A second look at a clip the whole search named nothing in (clip.py): the clip seen
        another way lines up more of its track's hashes, and only the tracks that came
        closest the first time are counted. The decision is the whole search's on those
        cells: the chance score counts the hits of the whole catalog and every hypothesis.
        """
        query = self._query(fingerprint, list(leaders.hypotheses))
        if not leaders.tracks or query.hashes.size == 0:
            return None
        votes = self._votes_of_tracks(query, leaders.tracks)
        if votes is None:
            return None
        chance = _ChanceHits(self.index, query, self.match_config.max_postings_per_hash)
        return self._decide_votes(fingerprint, query, votes, None, chance)

    def _on_air_passing(
        self, query: _Query, on_air: int, hits_per_hypothesis: _ChanceHits
    ) -> Match | None:
        """The best cell of the song on air among `query`'s hypotheses, counted from its own
        entries only, when it passes the decision on its hashes."""
        votes = self._votes_of_tracks(query, (on_air,))
        if votes is None:
            return None
        return self._decide_cell(query, votes, votes.best_cell(), hits_per_hypothesis)

    def _votes_of_tracks(self, query: _Query, tracks: Sequence[int]) -> Votes | None:
        """`query`'s votes counted on a few tracks' own entries (the song on air, the leaders
        of a search): the same votes those tracks get in a whole search."""
        cap = self.match_config.max_postings_per_hash
        hits = self.index.lookup_tracks(query.hashes, list(tracks), cap)
        return query.votes(hits, self._bin_frames, self._vote_floor)

    def _best_verified(
        self,
        query: _Query,
        votes: Votes,
        hits_per_hypothesis: _ChanceHits,
        checker: _PeakChecker,
    ) -> Match | None:
        """When no cell passes on its hashes alone (so the answer would be "no match"): the
        best cells of the leading tracks, checked peak by peak; the one whose scores add up
        highest among those that pass, if any. Run last, so every answer the hashes give
        alone is unchanged, the song on air's included."""
        leaders = votes.leading_tracks(self.match_config.verified_candidates)
        tracks = votes.cell_tracks()
        passing: list[Match] = []
        for track in leaders:
            cells = np.flatnonzero(tracks == track)
            cell = int(cells[np.argmax(votes.scores[cells])])
            decided = self._decide_cell(query, votes, cell, hits_per_hypothesis, checker)
            if decided is not None:
                passing.append(decided)
        return max(passing, key=lambda match: match.score + match.peak_score, default=None)

    def _search(self, query: _Query, posting_counts: IntArray) -> HashPostings:
        """The entries the decision is voted on: every track's, or those of the tracks a part
        of the query nominates (:meth:`_nominating`).

        The nominees are counted on every hash, so a nominee's votes and score are exactly the
        whole search's. What is lost is a match with too few votes in that part to be nominated
        (docs/fingerprint.md, "A search budget" and "Nominating by plain roundings on a coarser
        speed grid"). The runner-up test needs every track, so it always searches everything.
        """
        cap = self.match_config.max_postings_per_hash
        nominating = self._nominating(query, posting_counts)
        if nominating is None:
            return self.index.lookup(query.hashes, cap, posting_counts)
        positions, floor = nominating
        sampled = self.index.lookup(query.hashes[positions], cap, posting_counts[positions])
        sampled = replace(sampled, run_queries=positions[sampled.run_queries])
        votes = query.votes(sampled, self._bin_frames, floor)
        if votes is None:
            return sampled  # no cell reaches even the nominating floor, let alone the vote's
        nominees = votes.leading_tracks(self.match_config.candidate_tracks)
        return self.index.lookup_tracks(query.hashes, nominees, cap)

    def _nominating(self, query: _Query, posting_counts: IntArray) -> tuple[IntArray, int] | None:
        """Positions (ascending) of the query hashes that pick the tracks to count, and the
        votes a cell needs to nominate its track; None to count every track.

        Past `nominate_above_postings`: the plain roundings under the speed hypotheses of the
        coarser grid (`MatchConfig.nominating_speed_step`). Past the budget
        (`max_search_postings`), the rarest of those: they cost the least to gather per vote,
        and chance spreads their hits over millions of cells, so a track that lines up a few of
        them at one offset stands out.
        """
        config = self.match_config
        if config.min_runner_up_ratio > 0:
            return None
        total = int(posting_counts.sum())
        positions: IntArray | None = None
        if config.nominate_above_postings is not None and total > config.nominate_above_postings:
            kept = np.isin(query.hypotheses, self._nominating_hypotheses)
            if not config.nominate_with_margin:
                kept &= query.rounded
            positions = np.flatnonzero(kept)
            total = int(posting_counts[positions].sum())
        budget = config.max_search_postings
        if budget is not None and total > budget:
            counts = posting_counts if positions is None else posting_counts[positions]
            rarest = _rarest_within(counts, budget)
            positions = rarest if positions is None else positions[rarest]
            return positions, _NOMINATING_FLOOR_RAREST
        return None if positions is None else (positions, _NOMINATING_FLOOR)

    def _decide_cell(
        self,
        query: _Query,
        votes: Votes,
        cell: int,
        hits_per_hypothesis: _ChanceHits,
        checker: _PeakChecker | None = None,
    ) -> Match | None:
        """The decision on one cell: on its hashes alone, or, with a `checker`, on its hashes
        and, when they fall short, the peak-by-peak check."""
        # The offset reported is the median of the hits in the winning pair of bins, which is
        # finer than the bin edge.
        winners = (votes.keys == votes.unique_keys[cell]) | (
            votes.keys == votes.unique_keys[cell] + 1
        )
        offset_frames = float(np.median(votes.offsets[winners]))
        # A loop or sample shared by two recordings lines up the same few hash values again and
        # again; a true match lines up many different ones. Only distinct values count as
        # evidence in the score.
        distinct = int(np.unique(query.hashes[votes.query_positions[winners]]).size)
        independent = (
            _independent_runner_up(votes.keys, query.pairs[votes.query_positions], winners)
            if self.match_config.min_runner_up_ratio > 0
            else 0
        )

        def peak_score() -> float:
            assert checker is not None
            return checker.score(
                votes.track_of(cell),
                hypothesis_of(int(votes.unique_keys[cell])),
                offset_frames,
                _counted_peaks(query, votes, winners),
            )

        return self._decide(
            votes.unique_keys,
            votes.scores,
            cell,
            offset_frames,
            distinct,
            query.hashes_per_hypothesis,
            query.pairs_per_hypothesis,
            hits_per_hypothesis,
            independent,
            None if checker is None else peak_score,
        )

    def _decide(
        self,
        keys: IntArray,
        scores: IntArray,
        best: int,
        offset_frames: float,
        distinct: int,
        hashes_per_hypothesis: IntArray,
        pairs_per_hypothesis: IntArray,
        hits_per_hypothesis: _ChanceHits,
        independent_runner_up: int,
        peak_score: Callable[[], float] | None,
    ) -> Match | None:
        aligned = int(scores[best])
        key = int(keys[best])
        hypothesis = hypothesis_of(key)
        variant = variant_of(key)
        track_id = track_of_key(key)
        others = scores[tracks_of(keys) != track_id]
        runner_up = int(others.max()) if others.size else 0
        query_count = max(1, int(hashes_per_hypothesis[hypothesis]))
        # A catalogued pair has one hash, so it lines up through at most one of a query pair's
        # rounding variants: pairs, not hashes, are what a perfect copy lines up.
        query_pairs = max(1, int(pairs_per_hypothesis[hypothesis]))
        confidence = min(1.0, aligned / (query_pairs * self._reference_share))
        score = chance_alignment_score(
            distinct,
            int(hits_per_hypothesis[hypothesis]),
            self.index.frame_count,
            self.match_config.offset_bin_frames,
            len(self.match_config.query_speeds) * len(self.match_config.reference_speeds),
        )
        if aligned < self.match_config.min_aligned_hashes:
            return None
        # The peak check costs a look at the track's entries: only when the vote falls short.
        added = 0.0
        if score < self.match_config.min_score and peak_score is not None:
            added = peak_score()
        if score + added < self.match_config.min_score:
            return None
        if confidence < self.match_config.min_confidence:
            return None
        if aligned < self.match_config.min_runner_up_ratio * independent_runner_up:
            return None
        reference_speed = self.match_config.reference_speeds[variant]
        query_speed = self.match_config.query_speeds[hypothesis]
        return Match(
            track_id=track_id,
            offset_s=offset_frames * reference_speed * self.fingerprint_config.seconds_per_frame,
            speed=reference_speed * query_speed,
            aligned_hashes=aligned,
            query_hashes=query_count,
            confidence=confidence,
            runner_up_aligned=runner_up,
            score=score,
            distinct_hashes=distinct,
            peak_score=added,
        )

    def _query(self, fingerprint: Fingerprint, hypotheses: list[int] | None = None) -> _Query:
        """Hashes of every speed hypothesis (or of `hypotheses` only, the others left empty),
        concatenated, with their anchor frames, peak pairs and hypothesis number."""
        speeds = self.match_config.query_speeds
        wanted = range(len(speeds)) if hypotheses is None else hypotheses
        # Heard `speed` times fast: query frame t is reference frame t * speed, and query bin f
        # was reference bin f / speed. The clip's own hashes are the 1.0 hypothesis.
        to_rescale = [speeds[number] for number in wanted if speeds[number] != 1.0]
        rescaled = iter(
            hash_peaks_at_speeds(fingerprint.peaks, self.fingerprint_config, to_rescale)
            if to_rescale
            else []
        )
        unhashed = Fingerprint(
            hashes=np.zeros(0, dtype=np.int64),
            anchor_frames=np.zeros(0, dtype=np.int64),
            peaks=fingerprint.peaks,
            pair_count=0,
        )
        hashed_per_hypothesis = [unhashed] * len(speeds)
        for number in wanted:
            hashed_per_hypothesis[number] = fingerprint if speeds[number] == 1.0 else next(rescaled)
        all_hashes: list[IntArray] = []
        all_frames: list[IntArray] = []
        all_pairs: list[IntArray] = []
        all_hypotheses: list[IntArray] = []
        all_rounded: list[npt.NDArray[np.bool_]] = []
        per_hypothesis = np.zeros(len(speeds), dtype=np.int64)
        pairs_per_hypothesis = np.zeros(len(speeds), dtype=np.int64)
        for number, hashed in enumerate(hashed_per_hypothesis):
            all_hashes.append(hashed.hashes)
            all_frames.append(hashed.anchor_frames)
            # Without pair identities (hashes from elsewhere), each hash is its own pair.
            all_pairs.append(
                hashed.pairs
                if hashed.pairs.size == hashed.hashes.size
                else -1 - np.arange(hashed.hashes.size, dtype=np.int64)
            )
            all_hypotheses.append(np.full(hashed.hashes.size, number, dtype=np.int64))
            rounded = np.zeros(hashed.hashes.size, dtype=bool)
            rounded[
                : hashed.hashes.size if hashed.rounded_count is None else hashed.rounded_count
            ] = True
            all_rounded.append(rounded)
            per_hypothesis[number] = hashed.hashes.size
            pairs_per_hypothesis[number] = (
                hashed.hashes.size if hashed.pair_count is None else hashed.pair_count
            )
        return _Query(
            hashes=np.concatenate(all_hashes),
            anchor_frames=np.concatenate(all_frames),
            pairs=np.concatenate(all_pairs),
            hypotheses=np.concatenate(all_hypotheses),
            rounded=np.concatenate(all_rounded),
            hashes_per_hypothesis=per_hypothesis,
            pairs_per_hypothesis=pairs_per_hypothesis,
        )


class _ChanceHits:
    """The chance score's `hits` for each speed hypothesis: the index entries the query's
    hashes of that hypothesis point to (after the per-hash cap), read off the run lengths.

    A decision needs one hypothesis's. Reading them costs a cache miss per hash in the table of
    2**24 run starts, so the song-on-air check, which decides on one cell, reads that
    hypothesis's hashes only (a thirteenth of a query's); a whole search reads them all anyway
    and hands them over (:meth:`know_all`)."""

    __slots__ = ("_cap", "_index", "_known", "_query")

    def __init__(self, index: HashLookup, query: _Query, cap: int | None) -> None:
        self._index = index
        self._query = query
        self._cap = cap
        self._known: dict[int, int] = {}

    def know_all(self, posting_counts: IntArray) -> None:
        """Every hypothesis's, from the counts of all the query's hashes."""
        per_hypothesis = np.bincount(
            self._query.hypotheses,
            weights=posting_counts,
            minlength=self._query.hashes_per_hypothesis.size,
        )
        self._known = {number: int(hits) for number, hits in enumerate(per_hypothesis)}

    def __getitem__(self, hypothesis: int) -> int:
        if hypothesis not in self._known:
            # Hashes are concatenated hypothesis by hypothesis (`LandmarkMatcher._query`).
            ends = np.cumsum(self._query.hashes_per_hypothesis)
            first = int(ends[hypothesis - 1]) if hypothesis else 0
            hashes = self._query.hashes[first : int(ends[hypothesis])]
            self._known[hypothesis] = int(self._index.posting_counts(hashes, self._cap).sum())
        return self._known[hypothesis]


@dataclass(frozen=True, slots=True)
class _Query:
    """A clip's hashes under every speed hypothesis (see `LandmarkMatcher._query`)."""

    hashes: IntArray
    anchor_frames: IntArray
    pairs: IntArray
    hypotheses: IntArray
    # Each pair's plain rounding (True) or one of the margin's variants.
    rounded: npt.NDArray[np.bool_]
    hashes_per_hypothesis: IntArray
    # Peak pairs hashed (a pair near rounding edges has several hashes, one of which can match).
    pairs_per_hypothesis: IntArray

    def votes(self, hits: HashPostings, bin_frames: int, floor: int) -> Votes | None:
        """The votes of index entries these hashes matched (:class:`Votes`)."""
        return Votes.count(self.anchor_frames, self.hypotheses, hits, bin_frames, floor)


def _packed_peaks(frames: IntArray, bins: IntArray) -> IntArray:
    """(frame, bin) pairs as one comparable integer each."""
    packed: IntArray = frames << ANCHOR_BIN_BITS | bins
    return packed


def _counted_peaks(query: _Query, votes: Votes, winners: npt.NDArray[np.bool_]) -> IntArray:
    """The reference peaks the vote already counted in a cell: found by construction, they
    would be no evidence in the peak check."""
    positions = votes.query_positions[winners]
    anchor_frames = votes.offsets[winners] + query.anchor_frames[positions]
    return counted_peak_positions(anchor_frames, query.hashes[positions])


def counted_peak_positions(anchor_frames: IntArray, hashes: IntArray) -> IntArray:
    """Where the index stores the two peaks of each reference hash (given its rounded anchor
    frame), packed as :func:`_packed_peaks`: the anchor, and every position the target can have.
    A target is stored as some hash's anchor (frame rounded, bin floored); the hash's half-step
    fields give it only to within a step, so 2-3 frames by 2 bins (:func:`_target_span`)."""
    anchor_steps, delta_steps, frame_steps = unpack_hashes(hashes)
    # anchor field a: the anchor's bin lies in [a, a + 1) / S; with the difference field d the
    # target's lies in [a + d - 1/2, a + d + 3/2) / S.
    bins = _target_span(
        (anchor_steps + delta_steps - 0.5) / STEPS_PER_BIN,
        (anchor_steps + delta_steps + 1.5) / STEPS_PER_BIN,
    )
    # The anchor's true frame is within half a frame of its rounded one, and the difference
    # within half a step of d / S: the target's true frame is within both of frame + d / S.
    reach = 0.5 + 0.5 / STEPS_PER_FRAME
    frames = _target_span(
        anchor_frames + frame_steps / STEPS_PER_FRAME - reach + 0.5,
        anchor_frames + frame_steps / STEPS_PER_FRAME + reach + 0.5,
    )
    return np.concatenate(
        [_packed_peaks(anchor_frames, anchor_bins_of(hashes))]
        + [_packed_peaks(frame, np.clip(bin_, 0, None)) for frame in frames for bin_ in bins]
    )


def _target_span(low: npt.NDArray[np.float64], high: npt.NDArray[np.float64]) -> list[IntArray]:
    """The integers floor(x) for x in [low, high], as three arrays (a span of fewer repeats its
    last value)."""
    first = np.floor(low).astype(np.int64)
    last = np.floor(high).astype(np.int64)
    return [np.minimum(first + step, last) for step in range(3)]


class _PeakChecker:
    """Peak-by-peak checks of one clip's candidate alignments (verification.py), with the
    clip's coverage computed once per speed hypothesis it is needed for."""

    def __init__(self, index: HashLookup, peaks: Peaks, config: MatchConfig) -> None:
        self._index = index
        self._peaks = peaks
        self._config = config
        self._coverages: dict[int, ClipCoverage] = {}
        # Entries of other reference speeds are other copies of the track: one speed only.
        self.enabled = config.verified_candidates > 0 and len(config.reference_speeds) == 1

    def score(
        self, track_id: int, hypothesis: int, offset_frames: float, counted_peaks: IntArray
    ) -> float:
        """The check's score for `track_id` at `offset_frames` (reference frame minus clip
        frame) under a speed hypothesis, leaving out the peaks the vote counted."""
        coverage = self._coverages.get(hypothesis)
        if coverage is None:
            coverage = clip_coverage(
                self._peaks,
                self._config.query_speeds[hypothesis],
                self._config.peak_frame_tolerance,
                self._config.peak_bin_tolerance,
            )
            self._coverages[hypothesis] = coverage
        offset = round(offset_frames)
        frames, bins = self._index.anchor_peaks(track_id, offset, offset + coverage.frames)
        uncounted = ~np.isin(_packed_peaks(frames, bins), counted_peaks)
        agreement = peak_agreement(coverage, frames[uncounted] - offset, bins[uncounted])
        return agreement.score(self._config.verified_candidates)


def _on_grid(value: float, step: float) -> bool:
    """Whether `value` is a whole number of `step`s (to within float error)."""
    steps = value / step
    return abs(steps - round(steps)) < 1e-6


def _rarest_within(postings: IntArray, budget: int) -> IntArray:
    """Positions (ascending) of the query hashes with the fewest postings, taken rarest first
    while their postings together stay within `budget`; a hash with none is not taken.

    Linear: the budget is spent one posting count at a time (all hashes with one posting, then
    all with two, ...), and the first count that does not fit whole is taken in part."""
    totals = np.cumsum(np.bincount(postings, weights=postings))
    whole = int(np.searchsorted(totals, budget, side="right"))  # counts < `whole` fit
    taken = (postings > 0) & (postings < whole)
    if whole < totals.size:  # totals[0] is 0, so `whole` >= 1
        left = budget - int(totals[whole - 1])
        taken[np.flatnonzero(postings == whole)[: left // whole]] = True
    return np.flatnonzero(taken)


def _independent_runner_up(
    keys: IntArray, hit_pairs: IntArray, winners: npt.NDArray[np.bool_]
) -> int:
    """The best alignment of any other track made only of query peak pairs the winner did not
    align (under any speed hypothesis). A second copy of the winning recording lines up the same
    pairs and so does not count against it; music merely like the query (shared timbres, key,
    beat grid) lines up its own pairs about as well as the winner does."""
    winner_track = track_of_key(int(keys[winners][0]))
    others = (tracks_of(keys) != winner_track) & ~np.isin(hit_pairs, hit_pairs[winners])
    if not others.any():
        return 0
    return int(cell_scores(keys[others])[1].max())
