"""Query cost at catalog scale: real snippets against the real catalog padded to N hours.

The catalog `bench_real_corpus.py` ingested (2.35 h of Debian music) is loaded from its
database, then padded with decoys drawn from its own hashes up to `--hours`
(benchmarks/decoys.py). The same decoded snippets are identified against both, in turns of one
snippet each, so the small catalog is the baseline measured in the same run; the timed part is
`fingerprint` + `LandmarkMatcher.identify` (decoding excluded, it does not grow with the catalog).

    .venv/bin/python benchmarks/bench_catalog_scale.py --corpus /work/corpus-issue12 \\
        --database-url postgresql://postgres@127.0.0.1:5432/fv7_bench_real --hours 1000

Decoys cannot line up with a query, so the padded catalog's accuracy is optimistic for misses by
confusion but fair for misses by cost: `max_postings_per_hash` skips more of a query's hashes as
postings grow, and the chance score asks for more aligned hashes as the catalog grows.
`--configs` compares several settings on one padded catalog (built once: about a minute and
9 GB of peak memory at 1,000 h). `--padding-source URL` draws the decoys' hashes from another
catalog, of recordings none of the snippets come from, instead of the catalog's own entries
(benchmarks/decoys.py says why that matters); `--check-padding` tests the padding against a
real larger catalog, the corpus's plus the source's recordings:

    .venv/bin/python benchmarks/bench_catalog_scale.py --corpus /work/corpus-issue12 \\
        --database-url postgresql://postgres@127.0.0.1:5432/fv7_bench_real \\
        --padding-source postgresql://postgres@127.0.0.1:5432/fv7_bench_pad --check-padding

Each snippet is also identified the way a stream's next window is: with `on_air` set to the
track the previous window named (for a snippet of a catalogued recording, that recording; for a
negative, some other catalogued track, which then does not pass). That check reads only the
track's own entries, found through the index's order by track; the first check of each track is
also timed apart (`first_check_of_a_track_ms`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_real_corpus import SHARED_AUDIO, drop_silent_snippets  # noqa: I001
from benchmarks.decoys import IntArray, padded_index
from fingerv7.catalog import CatalogStore, create_catalog_engine, decode_audio
from fingerv7.catalog.store import TrackRecord
from fingerv7.core.fingerprint import (
    FingerprintConfig,
    HashIndex,
    LandmarkMatcher,
    Match,
    MatchConfig,
    fingerprint,
    identify_clip,
    low_band_config,
    low_band_match_config,
)


SOURCE_TRACK_OFFSET = 500_000_000  # the padding source's track ids, apart from the catalog's


def catalog_at(
    database_url: str, low_band: bool = False
) -> tuple[HashIndex, list[TrackRecord], tuple[IntArray, ...]]:
    """The catalog in `database_url` (its low band's index with `low_band`), its tracks, and
    the index's (hashes, track ids, frames)."""
    store = CatalogStore(create_catalog_engine(database_url))
    tracks = store.list_tracks()
    catalog = store.load_low_band_index() if low_band else store.load_index()
    store.engine.dispose()
    # `columns` was private (`_columns`) before this benchmark existed; the fallback lets the
    # same script measure an older commit.
    columns = getattr(catalog, "columns", None) or catalog._columns  # type: ignore[attr-defined]
    hashes, track_ids, frames, _ = columns()
    return catalog, tracks, (hashes, track_ids, frames)


@dataclass(frozen=True)
class PaddedCatalog:
    """The catalog and the same padded, each with its low band's index padded alike."""

    catalog: HashIndex
    padded: HashIndex
    low_band: HashIndex
    low_band_padded: HashIndex
    tracks: list[TrackRecord]
    build_s: float

    def matchers(
        self, padded: bool, config: FingerprintConfig, match_config: MatchConfig
    ) -> tuple[LandmarkMatcher, LandmarkMatcher | None]:
        """The main matcher and, when `match_config` searches it, the low band's."""
        main = LandmarkMatcher(self.padded if padded else self.catalog, config, match_config)
        if not match_config.low_band_look:
            return main, None
        low_band_index = self.low_band_padded if padded else self.low_band
        low_config, low_match = low_band_config(config), low_band_match_config(match_config)
        return main, LandmarkMatcher(low_band_index, low_config, low_match)


def real_catalog_padded(
    database_url: str, hours: float, padding_source: str | None = None
) -> PaddedCatalog:
    """The catalog in `database_url`, the same padded to `hours` (decoys drawn from the catalog
    at `padding_source` where given, else from its own entries), and the same of the low
    band's indexes."""
    catalog, tracks, (hashes, track_ids, frames) = catalog_at(database_url)
    low_band, _, (low_hashes, low_track_ids, low_frames) = catalog_at(database_url, low_band=True)
    audio_s = sum(track.duration_s for track in tracks)
    source_hashes = None if padding_source is None else catalog_at(padding_source)[2][0]
    source_low = None if padding_source is None else catalog_at(padding_source, True)[2][0]
    started = time.perf_counter()
    padded = padded_index(hashes, track_ids, frames, audio_s, hours, source_hashes=source_hashes)
    low_band_padded = padded_index(
        low_hashes,
        low_track_ids,
        low_frames,
        audio_s,
        hours,
        source_hashes=source_low,
        frames_per_second=low_band_config(FingerprintConfig()).frames_per_second,
    )
    build_s = time.perf_counter() - started
    return PaddedCatalog(catalog, padded, low_band, low_band_padded, tracks, build_s)


def padding_check_indexes(
    database_url: str, padding_source: str
) -> tuple[HashIndex, dict[str, HashIndex], list[TrackRecord]]:
    """Is padding a fair stand-in for a larger catalog? The catalog plus every recording of
    `padding_source` as real tracks, against the catalog padded to the same size with decoys
    drawn from half of the source's recordings, from a quarter of them, and from the catalog's
    own entries (the older way). Returns the catalog, those four indexes and its tracks."""
    catalog, tracks, (hashes, track_ids, frames) = catalog_at(database_url)
    _, source_tracks, (source_hashes, source_ids, source_frames) = catalog_at(padding_source)
    audio_s = sum(track.duration_s for track in tracks)
    hours = (audio_s + sum(track.duration_s for track in source_tracks)) / 3600
    ordered_ids = np.array(sorted(track.id for track in source_tracks))
    indexes = {
        f"{hours:.1f} h real (catalog + padding source)": HashIndex(
            np.concatenate([hashes, source_hashes]),
            np.concatenate([track_ids, SOURCE_TRACK_OFFSET + source_ids]),
            np.concatenate([frames, source_frames]),
        )
    }
    for share in (2, 4):
        kept = np.isin(source_ids, ordered_ids[::share])
        indexes[f"{hours:.1f} h padded from 1/{share} of the source"] = padded_index(
            hashes, track_ids, frames, audio_s, hours, source_hashes=source_hashes[kept]
        )
    indexes[f"{hours:.1f} h padded from the catalog itself"] = padded_index(
        hashes, track_ids, frames, audio_s, hours
    )
    return catalog, indexes, tracks


def compile_voting_loops() -> None:
    """Compile the voting loops (or load them from Numba's cache) before anything is timed:
    after a change to them, the first search would otherwise pay seconds of compiling. Older
    commits have no such loops."""
    try:
        from fingerv7.core.fingerprint.voting import compile_now
    except ImportError:
        return
    compile_now()


def load_snippets(
    corpus: Path, every: int, conditions: set[str] | None, catalogued: set[str], rate: int
) -> list[dict[str, Any]]:
    """Every `every`-th snippet of the manifest (of `conditions`, when given), decoded; as in
    bench_real_corpus.py, a snippet of a recording not in the catalog is a negative and one cut
    from digital silence is left out."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    chosen = [e for e in manifest if conditions is None or e["condition"] in conditions][::every]
    for entry in chosen:
        expected = entry["expected"] and str(Path(entry["expected"]).resolve())
        entry["expected"] = expected if expected in catalogued else None
    chosen = drop_silent_snippets(chosen)
    for entry in chosen:
        entry["samples"] = decode_audio(corpus / "queries" / entry["file"], rate).samples
    return chosen


def timed_identify(
    matcher: LandmarkMatcher,
    samples: np.ndarray,
    config: FingerprintConfig,
    on_air: int | None = None,
    low_band: LandmarkMatcher | None = None,
) -> tuple[Match | None, float, float]:
    """The match by the product's path (`identify_clip`), and its seconds in two parts: the
    clip's fingerprint (timed on its own beforehand) and the rest (the match, and the second
    looks and the low band when the first names nothing)."""
    started = time.perf_counter()
    fingerprint(samples, config)
    fingerprint_s = time.perf_counter() - started
    started = time.perf_counter()
    match = identify_clip(matcher, samples, on_air, low_band)
    return match, fingerprint_s, max(0.0, time.perf_counter() - started - fingerprint_s)


def decision(match: Match | None) -> dict[str, Any] | None:
    """What a match decides, for comparing two runs (the runner-up count is not a decision)."""
    return None if match is None else {**asdict(match), "runner_up_aligned": None}


def first_check_ms(matcher: LandmarkMatcher, track_ids: list[int]) -> dict[str, float] | None:
    """Time of the first on-air lookup of each track, where the index has one (older commits
    do not; in some, that first lookup scanned the index and its result was kept)."""
    lookup_tracks = getattr(matcher.index, "lookup_tracks", None)
    lookup_track = getattr(matcher.index, "lookup_track", None)
    if lookup_tracks is None and lookup_track is None:
        return None
    seconds = []
    for track_id in track_ids:
        started = time.perf_counter()
        if lookup_tracks is not None:
            lookup_tracks(np.zeros(1, dtype=np.int64), [track_id])
        else:
            lookup_track(np.zeros(1, dtype=np.int64), track_id)
        seconds.append(time.perf_counter() - started)
    return percentiles_ms(seconds)


def percentiles_ms(seconds: list[float]) -> dict[str, float] | None:
    """p50 / p95 / p99 in ms; None for no samples (a query set of negatives only has no
    snippet whose song is on air)."""
    if not seconds:
        return None
    values = np.percentile(np.array(seconds) * 1000, [50, 95, 99])
    return {"p50": float(values[0]), "p95": float(values[1]), "p99": float(values[2])}


def summarise(outcomes: list[dict[str, Any]], source_of_track: dict[int, str]) -> dict[str, Any]:
    """Top-1 per condition, wrong answers, false identifications, latency percentiles."""
    conditions: dict[str, Any] = {}
    for entry in outcomes:
        entry["answer"] = source_of_track.get(entry["track_id"]) if entry["track_id"] else None
    for condition in dict.fromkeys(entry["condition"] for entry in outcomes):
        positives = [e for e in outcomes if e["condition"] == condition and e["expected"]]
        if positives:
            conditions[condition] = sum(e["answer"] == e["expected"] for e in positives) / len(
                positives
            )
    # A held-out recording that contains catalogued audio is no negative (bench_real_corpus.py).
    negatives = [e for e in outcomes if not e["expected"] and e["source"] not in SHARED_AUDIO]
    return {
        "top1": conditions,
        "wrong": sum(
            bool(e["expected"]) and e["answer"] not in (None, e["expected"]) for e in outcomes
        ),
        "false_identifications": sum(e["track_id"] is not None for e in negatives),
        "negatives": len(negatives),
        "total_ms": percentiles_ms([e["fingerprint_s"] + e["match_s"] for e in outcomes]),
        "fingerprint_ms": percentiles_ms([e["fingerprint_s"] for e in outcomes]),
        "match_ms": percentiles_ms([e["match_s"] for e in outcomes]),
        "on_air_total_ms": {
            "song_still_on_air": percentiles_ms(
                [e["on_air_fingerprint_s"] + e["on_air_match_s"] for e in outcomes if e["expected"]]
            ),
            "another_track_on_air": percentiles_ms(
                [
                    e["on_air_fingerprint_s"] + e["on_air_match_s"]
                    for e in outcomes
                    if not e["expected"]
                ]
            ),
        },
        "answers_changed_by_on_air": sum(e["on_air_decision"] != e["decision"] for e in outcomes),
        "postings_per_query": float(np.mean([e["postings"] for e in outcomes])),
    }


def pointed_postings(matcher: LandmarkMatcher, samples: np.ndarray) -> int:
    """Index entries the query's hashes point to under every speed hypothesis (after the
    per-hash cap): what an exhaustive search gathers. Asks the matcher for its own query
    hashes, a private method (named `_query_hashes` in older commits, so the same script
    measures a before and an after)."""
    query = fingerprint(samples, matcher.fingerprint_config)
    if hasattr(matcher, "_query"):
        hashes = matcher._query(query).hashes
    else:
        hashes = matcher._query_hashes(query)[0]  # type: ignore[attr-defined]
    cap = matcher.match_config.max_postings_per_hash
    return int(matcher.index.posting_counts(hashes, cap).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--database-url", required=True, help="a catalog bench_real_corpus made")
    parser.add_argument("--hours", type=float, default=1000.0)
    parser.add_argument("--every", type=int, default=10, help="use every n-th snippet only")
    parser.add_argument("--conditions", nargs="*", default=None, help="default: all")
    parser.add_argument(
        "--configs",
        type=json.loads,
        nargs="*",
        default=[{}],
        help='one padded-catalog matcher each: {"match": MatchConfig overrides, "query": '
        "FingerprintConfig overrides (query side)} as JSON; default: one with the defaults",
    )
    parser.add_argument(
        "--padding-source",
        default=None,
        help="a catalog of other recordings (none of the corpus's) to draw the decoys' hashes "
        "from; default: the catalog's own entries",
    )
    parser.add_argument(
        "--check-padding",
        action="store_true",
        help="instead of --hours and --configs: the catalog plus the padding source as real "
        "tracks against the catalog padded to that size three ways (padding_check_indexes)",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    for overrides in args.configs:
        if not set(overrides) <= {"match", "query"}:
            parser.error(f"--configs: {json.dumps(overrides)} has keys other than match, query")
    config = FingerprintConfig()
    # name -> the main matcher and the low band's (None: not searched)
    padded_matchers: dict[str, tuple[LandmarkMatcher, LandmarkMatcher | None]] = {}
    if args.check_padding:
        if args.padding_source is None:
            parser.error("--check-padding needs --padding-source")
        started = time.perf_counter()
        catalog, indexes, tracks = padding_check_indexes(args.database_url, args.padding_source)
        build_s = time.perf_counter() - started
        for name, index in indexes.items():
            padded_matchers[name] = (LandmarkMatcher(index, config, MatchConfig()), None)
        baseline_matchers = (LandmarkMatcher(catalog, config, MatchConfig()), None)
    else:
        padded = real_catalog_padded(args.database_url, args.hours, args.padding_source)
        tracks, build_s = padded.tracks, padded.build_s
        for overrides in args.configs:
            name = f"{args.hours:g} h, {json.dumps(overrides) if overrides else 'defaults'}"
            padded_matchers[name] = padded.matchers(
                True,
                replace(config, **overrides.get("query", {})),
                MatchConfig(**overrides.get("match", {})),
            )
        baseline_matchers = padded.matchers(False, config, MatchConfig())
    source_of_track = {track.id: str(Path(track.source_path).resolve()) for track in tracks}
    audio_s = sum(track.duration_s for track in tracks)
    baseline = f"{audio_s / 3600:.2f} h, defaults"
    matchers = {baseline: baseline_matchers} | padded_matchers
    snippets = load_snippets(
        args.corpus,
        args.every,
        set(args.conditions) if args.conditions else None,
        set(source_of_track.values()),
        config.sample_rate_hz,
    )
    track_of_source = {source: track for track, source in source_of_track.items()}
    catalogued_ids = sorted(source_of_track)
    compile_voting_loops()
    first_checks = {
        name: first_check_ms(matcher, catalogued_ids) for name, (matcher, _) in matchers.items()
    }
    outcomes: dict[str, list[dict[str, Any]]] = {name: [] for name in matchers}
    # In turns, one snippet through every matcher, so a change in the machine's load falls on
    # all of them alike.
    for number, entry in enumerate(snippets):
        expected_id = track_of_source.get(entry["expected"]) if entry["expected"] else None
        on_air = expected_id or catalogued_ids[number % len(catalogued_ids)]
        for name, (matcher, low_band) in matchers.items():
            match, fingerprint_s, match_s = timed_identify(
                matcher, entry["samples"], matcher.fingerprint_config, None, low_band
            )
            on_air_match, on_air_fingerprint_s, on_air_match_s = timed_identify(
                matcher, entry["samples"], matcher.fingerprint_config, on_air, low_band
            )
            outcomes[name].append(
                {
                    "condition": entry["condition"],
                    "source": entry["source"],
                    "expected": entry["expected"],
                    "track_id": None if match is None else match.track_id,
                    "fingerprint_s": fingerprint_s,
                    "match_s": match_s,
                    "decision": decision(match),
                    "on_air": on_air,
                    "on_air_decision": decision(on_air_match),
                    "on_air_fingerprint_s": on_air_fingerprint_s,
                    "on_air_match_s": on_air_match_s,
                    "postings": pointed_postings(matcher, entry["samples"]),
                }
            )
    if args.output:
        args.output.with_suffix(".outcomes.json").write_text(json.dumps(outcomes))
    results = {name: summarise(rows, source_of_track) for name, rows in outcomes.items()}
    for result in results.values():
        result["p95_ratio_to_baseline"] = (
            result["total_ms"]["p95"] / results[baseline]["total_ms"]["p95"]
        )
    report = {
        "snippets": len(snippets),
        "padding_source": args.padding_source,
        "entries": {name: len(matcher.index) for name, (matcher, _) in matchers.items()},
        "index_gb": {name: matcher.index.nbytes / 1e9 for name, (matcher, _) in matchers.items()},
        "low_band_entries": {
            name: len(low.index) for name, (_, low) in matchers.items() if low is not None
        },
        "low_band_index_gb": {
            name: low.index.nbytes / 1e9 for name, (_, low) in matchers.items() if low is not None
        },
        "padding_build_s": build_s,
        "first_check_of_a_track_ms": first_checks,
        "results": results,
    }
    print(json.dumps(report, indent=1))
    if args.output:
        args.output.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
