"""Fingerprint benchmark: accuracy under noise/speed, false positives, speed, latency, storage.

Builds a catalog of synthetic songs (tests/audio_factory.py: no download, no soundfont), stores
it in a database, and queries 10 s clips re-encoded as 128 kbit/s MP3. Prints a Markdown report
(and writes JSON with --output). Not a test: run it by hand, e.g.

    .venv/bin/python benchmarks/bench_fingerprint.py --tracks 300 --queries 100
    .venv/bin/python benchmarks/bench_fingerprint.py --tracks 1000 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.decoys import padded_index  # noqa: I001  (needs the path set above)
from tests import audio_factory as af
from fingerv7.catalog import CatalogStore, TrackInfo, create_catalog_engine
from fingerv7.core.fingerprint import (
    Fingerprint,
    FingerprintConfig,
    HashIndex,
    LandmarkMatcher,
    MatchConfig,
    Peaks,
    change_speed,
    fingerprint,
    fingerprint_reference,
)

RATE = af.SONG_SAMPLE_RATE_HZ
QUERY_S = 10.0
SPEED_COPIES = (0.97, 0.985, 1.0, 1.015, 1.03)
CONDITIONS: list[tuple[str, float]] = [
    ("clean", 0.0),
    *[("white", snr) for snr in (10.0, 5.0, 0.0, -6.0)],
    *[("speech", snr) for snr in (10.0, 5.0, 0.0, -6.0)],
    *[("speed", speed) for speed in (0.97, 0.98, 0.99, 1.01, 1.02, 1.03)],
]


@dataclass
class TrackWork:
    """What one worker process returns for a catalog track."""

    track_id: int
    hashes: np.ndarray
    frames: np.ndarray
    seconds: float
    extraction_s: float
    clips: dict[int, np.ndarray] = field(default_factory=dict)  # query number -> 22 kHz clip
    copies: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def _track_seed(track_id: int) -> int:
    return 10_000 + track_id


def _build_track(
    track_id: int, seconds: float, clip_starts: dict[int, float], with_copies: bool
) -> TrackWork:
    """Synthesise one song, fingerprint it (timed), cut the query clips it is asked for."""
    config = FingerprintConfig()
    song = af.synthesize_song(_track_seed(track_id), seconds)
    pcm = af.resample(song, RATE, config.sample_rate_hz)
    started = time.process_time()
    reference = fingerprint_reference(pcm, config)
    elapsed = time.process_time() - started
    clip_samples = int((QUERY_S * 1.05) * RATE)
    clips = {
        number: song[int(start * RATE) : int(start * RATE) + clip_samples]
        for number, start in clip_starts.items()
    }
    copies = []
    if with_copies:
        for speed in SPEED_COPIES:
            copy = (
                reference
                if speed == 1.0
                else fingerprint_reference(change_speed(pcm, speed), config)
            )
            copies.append((copy.hashes, copy.anchor_frames))
    return TrackWork(
        track_id, reference.hashes, reference.anchor_frames, seconds, elapsed, clips, copies
    )


@dataclass(frozen=True)
class Query:
    number: int
    track_id: int
    start_s: float
    kind: str
    value: float


def _plan_queries(args: argparse.Namespace, rng: np.random.Generator) -> list[Query]:
    queries: list[Query] = []
    for kind, value in CONDITIONS:
        for _ in range(args.queries):
            track = int(rng.integers(1, args.tracks + 1))
            start = float(rng.uniform(0, args.track_seconds - QUERY_S * 1.1))
            queries.append(Query(len(queries), track, start, kind, value))
    return queries


def _degrade(query: Query, clip: np.ndarray) -> np.ndarray:
    """Apply the query's condition, cut to 10 s, and pass it through MP3 at 128 kbit/s."""
    if query.kind == "speed":
        clip = change_speed(clip, query.value)
    clip = clip[: int(QUERY_S * RATE)]
    if query.kind == "white":
        clip = af.mix_at_snr(clip, af.white_noise(query.number, clip.size), query.value)
    elif query.kind == "speech":
        noise = af.speech_like_noise(query.number, QUERY_S + 1)
        clip = af.mix_at_snr(clip, noise, query.value)
    return af.mp3_round_trip(clip, RATE, FingerprintConfig().sample_rate_hz)


def _percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    if not latencies_s:
        return 0.0, 0.0
    p50, p95 = np.percentile(np.array(latencies_s) * 1000, [50, 95])
    return float(p50), float(p95)


def _evaluate(
    matcher: LandmarkMatcher, queries: list[Query], fingerprints: dict[int, Fingerprint]
) -> dict[str, dict[str, float]]:
    """Top-1 accuracy and matcher latency per condition."""
    by_condition: dict[str, dict[str, list[float]]] = {}
    for query in queries:
        started = time.perf_counter()
        match = matcher.identify(fingerprints[query.number])
        elapsed = time.perf_counter() - started
        label = _label(query.kind, query.value)
        entry = by_condition.setdefault(label, {"correct": [], "latency": []})
        entry["correct"].append(float(match is not None and match.track_id == query.track_id))
        entry["latency"].append(elapsed)
    report = {}
    for label, entry in by_condition.items():
        p50, p95 = _percentiles_ms(entry["latency"])
        report[label] = {
            "accuracy": float(np.mean(entry["correct"])),
            "p50_ms": p50,
            "p95_ms": p95,
        }
    return report


def _label(kind: str, value: float) -> str:
    if kind == "clean":
        return "clean"
    if kind == "speed":
        return f"speed {100 * (value - 1):+.0f}%"
    return f"{kind} {value:+.0f} dB"


def _negative_clip(number: int) -> np.ndarray:
    """Audio that is not in the catalog, after MP3: other songs (most), talk, white noise."""
    if number % 10 == 8:
        clip = af.speech_like_noise(500_000 + number, QUERY_S)
    elif number % 10 == 9:
        clip = af.white_noise(500_000 + number, int(QUERY_S * RATE))
    else:
        clip = af.synthesize_song(900_000 + number, QUERY_S)
    return af.mp3_round_trip(clip, RATE, FingerprintConfig().sample_rate_hz)


def _store_catalog(url: str, works: list[TrackWork]) -> dict[str, float]:
    """Write the catalog to the database; measure insert time, on-disk size, index load time."""
    engine = create_catalog_engine(url)
    store = CatalogStore(engine)
    store.create_schema()
    started = time.perf_counter()
    for work in works:
        store.add_track(
            TrackInfo(title=f"Song {work.track_id}", artist="Synthetic"),
            duration_s=work.seconds,
            source_path=f"synthetic:{work.track_id}",
            content_sha256=hashlib.sha256(f"bench-{work.track_id}".encode()).hexdigest(),
            fingerprint=Fingerprint(work.hashes, work.frames, peaks=Peaks.empty()),
            # The main band's storage and load only: bench_real_corpus.py measures both bands.
            low_band=Fingerprint(work.hashes[:0], work.frames[:0], peaks=Peaks.empty()),
        )
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = store.load_index()
    load_s = time.perf_counter() - started
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            size = connection.execute(
                text(
                    "SELECT sum(pg_total_relation_size(oid)) FROM pg_class"
                    " WHERE relkind = 'r' AND relname LIKE 'catalog\\_%'"
                )
            ).scalar_one()
        else:
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
    engine.dispose()
    return {
        "database_bytes": float(size),
        "insert_s": insert_s,
        "load_index_s": load_s,
        "loaded_rows": float(len(loaded)),
    }


def _index(works: list[TrackWork]) -> HashIndex:
    return HashIndex(
        np.concatenate([work.hashes for work in works]),
        np.concatenate([np.full(work.hashes.size, work.track_id) for work in works]),
        np.concatenate([work.frames for work in works]),
    )


def _copies_index(works: list[TrackWork]) -> HashIndex:
    """Approach A: every track indexed at each speed in SPEED_COPIES (variant = position)."""
    parts = [
        (hashes, frames, work.track_id, variant)
        for work in works
        for variant, (hashes, frames) in enumerate(work.copies)
    ]
    return HashIndex(
        np.concatenate([part[0] for part in parts]),
        np.concatenate([np.full(part[0].size, part[2]) for part in parts]),
        np.concatenate([part[1] for part in parts]),
        np.concatenate([np.full(part[0].size, part[3]) for part in parts]),
    )


def _filler_index(works: list[TrackWork], hours: float) -> HashIndex:
    """The catalog plus decoy tracks up to `hours` of audio (benchmarks/decoys.py)."""
    return padded_index(
        np.concatenate([work.hashes for work in works]),
        np.concatenate([np.full(work.hashes.size, work.track_id) for work in works]),
        np.concatenate([work.frames for work in works]),
        sum(work.seconds for work in works),
        hours,
    )


FILLER_CONDITIONS = ("clean", "white +0 dB", "speech +0 dB", "speed -3%", "speed +3%")


def _evaluate_filler(
    works: list[TrackWork],
    queries: list[Query],
    fingerprints: dict[int, Fingerprint],
    negatives: list[Fingerprint],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Accuracy, latency and false positives against a catalog padded to `filler_hours`, for
    each common-hash cap in `filler_caps` (a subset of conditions, to keep the run short)."""
    config = FingerprintConfig()
    big = _filler_index(works, args.filler_hours)
    chosen = [q for q in queries if _label(q.kind, q.value) in FILLER_CONDITIONS]
    result: dict[str, Any] = {"hours": args.filler_hours, "entries": len(big)}
    result["index_bytes"] = big.nbytes
    for cap in args.filler_caps:
        matcher = LandmarkMatcher(big, config, MatchConfig(max_postings_per_hash=cap))
        result[f"cap {cap}"] = {
            "conditions": _evaluate(matcher, chosen, fingerprints),
            "false_positives": _false_positives(matcher, negatives[: args.filler_negatives]),
            "negatives": min(len(negatives), args.filler_negatives),
        }
    return result


def _false_positives(matcher: LandmarkMatcher, negatives: list[Fingerprint]) -> int:
    return sum(matcher.identify(negative) is not None for negative in negatives)


def main() -> None:
    args = _parse_arguments()
    config = FingerprintConfig()
    rng = np.random.default_rng(args.seed)
    queries = _plan_queries(args, rng)
    wanted: dict[int, dict[int, float]] = {}
    for query in queries:
        wanted.setdefault(query.track_id, {})[query.number] = query.start_s

    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        works = list(
            pool.map(
                _build_track,
                range(1, args.tracks + 1),
                [args.track_seconds] * args.tracks,
                [wanted.get(track, {}) for track in range(1, args.tracks + 1)],
                [track <= args.compare_tracks for track in range(1, args.tracks + 1)],
                chunksize=4,
            )
        )
    build_s = time.perf_counter() - started
    clips = {number: clip for work in works for number, clip in work.clips.items()}
    audio_s = sum(work.seconds for work in works)
    extraction_speed = audio_s / sum(work.extraction_s for work in works)

    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        degraded = list(pool.map(_degrade, queries, [clips[q.number] for q in queries]))
        negative_clips = list(pool.map(_negative_clip, range(args.negatives), chunksize=8))
    query_started = time.process_time()
    fingerprints = {
        q.number: fingerprint(pcm, config) for q, pcm in zip(queries, degraded, strict=True)
    }
    query_extraction_s = (time.process_time() - query_started) / max(1, len(queries))
    negatives = [fingerprint(pcm, config) for pcm in negative_clips]

    index = _index(works)
    matcher = LandmarkMatcher(index, config, MatchConfig())
    report: dict[str, Any] = {
        "tracks": args.tracks,
        "audio_hours": audio_s / 3600,
        "build_s": build_s,
        "index_entries": len(index),
        "hashes_per_second_of_audio": len(index) / audio_s,
        "index_bytes_per_hour": index.nbytes / (audio_s / 3600),
        "extraction_x_realtime_per_core": extraction_speed,
        "query_fingerprint_ms": 1000 * query_extraction_s,
        "conditions": _evaluate(matcher, queries, fingerprints),
        "negatives": len(negatives),
        "false_positives": _false_positives(matcher, negatives),
    }
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    storage = _store_catalog(url, works)
    storage["database_bytes_per_hour"] = storage["database_bytes"] / (audio_s / 3600)
    report["database"] = {"url": url.split("@")[-1], **storage}
    if args.compare_tracks:
        report["speed_approaches"] = _compare_speed_approaches(works, queries, fingerprints, args)
    if args.filler_hours:
        report["filler"] = _evaluate_filler(works, queries, fingerprints, negatives, args)
    _print_report(report)
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))


def _compare_speed_approaches(
    works: list[TrackWork],
    queries: list[Query],
    fingerprints: dict[int, Fingerprint],
    args: argparse.Namespace,
) -> dict[str, object]:
    """A (resampled reference copies, one query) vs B (one reference, re-hashed query speeds),
    on the queries whose track is among the first `compare_tracks` (both indexes hold those)."""
    subset = [work for work in works if work.copies]
    chosen = [q for q in queries if q.track_id <= args.compare_tracks]
    config = FingerprintConfig()
    copies = _copies_index(subset)
    single = _index(subset)
    approach_a = LandmarkMatcher(
        copies, config, MatchConfig(reference_speeds=SPEED_COPIES, query_speeds=(1.0,))
    )
    approach_b = LandmarkMatcher(single, config, MatchConfig())
    baseline = LandmarkMatcher(single, config, MatchConfig(query_speeds=(1.0,)))
    audio_h = sum(work.seconds for work in subset) / 3600
    return {
        "tracks": len(subset),
        "queries": len(chosen),
        "none": {
            "entries_per_hour": len(single) / audio_h,
            "conditions": _evaluate(baseline, chosen, fingerprints),
        },
        "A_reference_copies": {
            "entries_per_hour": len(copies) / audio_h,
            "conditions": _evaluate(approach_a, chosen, fingerprints),
        },
        "B_query_speed_hypotheses": {
            "entries_per_hour": len(single) / audio_h,
            "conditions": _evaluate(approach_b, chosen, fingerprints),
        },
    }


def _print_report(report: dict[str, Any]) -> None:
    """The headline figures as Markdown (the JSON report has everything)."""
    print(
        f"catalog: {report['tracks']} tracks, {report['audio_hours']:.2f} h, "
        f"{report['hashes_per_second_of_audio']:.1f} hashes/s of audio"
    )
    print(
        f"extraction: {report['extraction_x_realtime_per_core']:.0f}x real time per core; "
        f"query fingerprint {report['query_fingerprint_ms']:.1f} ms per 10 s clip"
    )
    print(f"index in memory: {report['index_bytes_per_hour'] / 1e6:.2f} MB per hour")
    database = report["database"]
    print(
        f"database ({database['url']}): {database['database_bytes_per_hour'] / 1e6:.2f} MB "
        f"per hour; index load {database['load_index_s']:.2f} s"
    )
    print(f"false positives: {report['false_positives']} / {report['negatives']}")
    header = "| condition | top-1 | p50 ms | p95 ms |"
    print("\n" + header + "\n" + "|---" * (header.count("|") - 1) + "|")
    for label, row in report["conditions"].items():
        print(f"| {label} | {row['accuracy']:.1%} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} |")
    filler = report.get("filler")
    if filler:
        print(
            f"\npadded to {filler['hours']:.0f} h ({filler['entries']:,} entries, "
            f"{filler['index_bytes'] / 1e9:.2f} GB in memory)"
        )
        print("| cap | condition | top-1 | p50 ms | p95 ms |\n|---|---|---|---|---|")
        for key, block in filler.items():
            if not key.startswith("cap"):
                continue
            for label, row in block["conditions"].items():
                print(
                    f"| {key} | {label} | {row['accuracy']:.1%} | {row['p50_ms']:.1f} "
                    f"| {row['p95_ms']:.1f} |"
                )
            print(
                f"| {key} | false positives | {block['false_positives']} / "
                f"{block['negatives']} | | |"
            )
    approaches = report.get("speed_approaches")
    if approaches:
        names = ("none", "A_reference_copies", "B_query_speed_hypotheses")
        print(
            f"\nspeed approaches ({approaches['tracks']} tracks, {approaches['queries']} queries)"
        )
        print("| condition | " + " | ".join(names) + " |\n|---|---|---|---|")
        for label in approaches["none"]["conditions"]:
            cells = []
            for name in names:
                row = approaches[name]["conditions"][label]
                cells.append(f"{row['accuracy']:.0%} ({row['p50_ms']:.0f} ms)")
            print(f"| {label} | " + " | ".join(cells) + " |")
        sizes = [f"{approaches[name]['entries_per_hour'] / 1000:.0f}k" for name in names]
        print("| entries per hour | " + " | ".join(sizes) + " |")


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=100)
    parser.add_argument("--track-seconds", type=float, default=60.0)
    parser.add_argument("--queries", type=int, default=50, help="per condition")
    parser.add_argument("--negatives", type=int, default=300)
    parser.add_argument("--compare-tracks", type=int, default=50, help="0 to skip A vs B")
    parser.add_argument("--filler-hours", type=float, default=0.0)
    parser.add_argument(
        "--filler-caps",
        type=lambda text: [int(value) for value in text.split(",")],
        default=[1000, 300],
        help="max postings per hash to compare on the padded catalog",
    )
    parser.add_argument("--filler-negatives", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default=None, help="write the JSON report here")
    return parser.parse_args()


if __name__ == "__main__":
    main()
