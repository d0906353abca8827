"""Recognition on real recordings: the Debian music corpus through `catalog add` and `identify`.

Set-up (once): benchmarks/corpus/setup.sh, then benchmarks/corpus/make_queries.py --out DIR.
Then

    .venv/bin/python benchmarks/bench_real_corpus.py --corpus DIR \
        --database-url postgresql://postgres@127.0.0.1:5432/fv7_bench_real

creates the database afresh, runs `fingerv7 catalog add DIR/catalog` as a child process (ingest
speed per CPU-second and peak memory come from that process), measures the catalog's size, then
identifies every snippet with `CatalogIdentifier.identify_file` (what `fingerv7 identify` runs)
and prints top-1 per condition, wrong answers and false identifications of the negatives.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fingerv7.catalog import (
    CatalogIdentifier,
    CatalogStore,
    create_catalog_engine,
    decode_audio,
)
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig

# Held-out recordings that contain catalogued audio verbatim (found by this benchmark: clean
# snippets line up 30-65 hashes at offsets that advance with the snippet). Naming the catalogued
# recording is right, so their snippets are reported apart, not as false identifications.
SHARED_AUDIO = {"/usr/share/games/colobot/music/Infinite.ogg": "contains music008.ogg"}


def recreate_database(url: str) -> None:
    """Drop and create the benchmark database (PostgreSQL), or delete the SQLite file."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    base, name = url.rsplit("/", 1)
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def ingest(url: str, folder: Path) -> dict[str, float]:
    """`fingerv7 catalog add` in a child process: wall time, CPU time, peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # Exit code 1 = some file failed; those tracks are simply not catalogued (see main()).
    subprocess.run(
        [str(Path(sys.executable).parent / "fingerv7"), "catalog", "add", str(folder)],
        env={**os.environ, "DATABASE_URL": url},
        check=False,
        stdout=subprocess.DEVNULL,
    )
    wall_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall_s, "cpu_s": cpu_s, "peak_rss_mb": after.ru_maxrss / 1024}


def catalog_bytes(url: str) -> int:
    engine = create_catalog_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # Every catalog table with its indexes and TOAST, whichever schema revision it is.
            size = connection.execute(
                text(
                    "SELECT sum(pg_total_relation_size(oid)) FROM pg_class"
                    " WHERE relkind = 'r' AND relname LIKE 'catalog\\_%'"
                )
            ).scalar_one()
        else:
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
    engine.dispose()
    return int(size)


def identify_all(
    url: str,
    corpus: Path,
    manifest: list[dict[str, Any]],
    match_config: MatchConfig,
    fingerprint_config: FingerprintConfig,
) -> dict[str, Any]:
    """Every snippet through the identify code path; per-snippet outcome and latency."""
    engine = create_catalog_engine(url)
    started = time.perf_counter()
    identifier = CatalogIdentifier(CatalogStore(engine), fingerprint_config, match_config)
    load_s = time.perf_counter() - started
    outcomes = []
    for entry in manifest:
        started = time.perf_counter()
        found = identifier.identify_file(corpus / "queries" / entry["file"])
        elapsed = time.perf_counter() - started
        answer = None if found is None else str(Path(found.track.source_path).resolve())
        match = None if found is None else found.match
        # getattr: the same script measures the starting commit, whose Match had fewer fields.
        outcomes.append(
            {
                **entry,
                "answer": answer,
                "aligned": getattr(match, "aligned_hashes", None),
                "score": getattr(match, "score", None),
                "distinct": getattr(match, "distinct_hashes", None),
                "peak_score": getattr(match, "peak_score", None),
                "runner_up": getattr(match, "runner_up_aligned", None),
                "latency_s": elapsed,
            }
        )
    engine.dispose()
    return {"index_load_s": load_s, "outcomes": outcomes}


def drop_silent_snippets(manifest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Positives cut from digital silence (some game tracks end in 20 s of it) cannot be
    identified by anyone: left out and counted. Each source is decoded once."""
    rate = FingerprintConfig().sample_rate_hz
    kept, sources = [], {}
    for entry in manifest:
        if entry["expected"] is None:
            kept.append(entry)
            continue
        if entry["source"] not in sources:
            sources[entry["source"]] = decode_audio(Path(entry["source"]), rate).samples
        first = int(entry["start_s"] * rate)
        if np.abs(sources[entry["source"]][first : first + 10 * rate]).max(initial=0.0) > 1e-4:
            kept.append(entry)
    return kept


def summarise(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    conditions: dict[str, dict[str, float]] = {}
    for condition in dict.fromkeys(entry["condition"] for entry in outcomes):
        positives = [e for e in outcomes if e["condition"] == condition and e["expected"]]
        if not positives:
            continue
        correct = sum(e["answer"] == e["expected"] for e in positives)
        wrong = sum(e["answer"] not in (None, e["expected"]) for e in positives)
        conditions[condition] = {
            "snippets": len(positives),
            "top1": correct / len(positives),
            "wrong": wrong,
        }
    negatives = [e for e in outcomes if e["expected"] is None and e["source"] not in SHARED_AUDIO]
    shared = [e for e in outcomes if e["expected"] is None and e["source"] in SHARED_AUDIO]
    latencies_ms = np.array([e["latency_s"] for e in outcomes]) * 1000
    return {
        "conditions": conditions,
        "negatives": len(negatives),
        "false_identifications": sum(e["answer"] is not None for e in negatives),
        "shared_audio_snippets": len(shared),
        "shared_audio_identified": sum(e["answer"] is not None for e in shared),
        "wrong_answers": sum(row["wrong"] for row in conditions.values()),
        "identify_ms_p50_p95": [float(v) for v in np.percentile(latencies_ms, [50, 95])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--skip-ingest", action="store_true", help="reuse the catalog as it is")
    parser.add_argument("--every", type=int, default=1, help="use every n-th snippet only")
    parser.add_argument(
        "--match-config", type=json.loads, default={}, help="MatchConfig overrides as JSON"
    )
    parser.add_argument(
        "--query-config",
        type=json.loads,
        default={},
        help="FingerprintConfig overrides as JSON (query side only, e.g. peaks_per_second)",
    )
    parser.add_argument("--output", type=Path, default=None, help="write outcomes as JSON")
    args = parser.parse_args()
    manifest = json.loads((args.corpus / "manifest.json").read_text())[:: args.every]
    for entry in manifest:
        entry["expected"] = entry["expected"] and str(Path(entry["expected"]).resolve())
    report: dict[str, Any] = {}
    if not args.skip_ingest:
        recreate_database(args.database_url)
        report["ingest"] = ingest(args.database_url, args.corpus / "catalog")
    store = CatalogStore(create_catalog_engine(args.database_url))
    tracks = store.list_tracks()
    store.engine.dispose()
    audio_h = sum(track.duration_s for track in tracks) / 3600
    # A recording `catalog add` could not read is not in the catalog: its snippets are negatives.
    catalogued = {str(Path(track.source_path).resolve()) for track in tracks}
    for entry in manifest:
        if entry["expected"] and entry["expected"] not in catalogued:
            entry["expected"] = None
    snippets = len(manifest)
    manifest = drop_silent_snippets(manifest)
    report["silent_snippets_left_out"] = snippets - len(manifest)
    report["catalog"] = {
        "tracks": len(tracks),
        "hours": audio_h,
        "hashes_per_second": sum(t.hash_count for t in tracks) / (audio_h * 3600),
        "mb_per_hour": catalog_bytes(args.database_url) / 1e6 / audio_h,
    }
    if "ingest" in report:
        report["ingest"]["x_realtime_per_cpu_s"] = audio_h * 3600 / report["ingest"]["cpu_s"]
    identified = identify_all(
        args.database_url,
        args.corpus,
        manifest,
        MatchConfig(**args.match_config),
        FingerprintConfig(**args.query_config),
    )
    report["index_load_s"] = identified["index_load_s"]
    report["summary"] = summarise(identified["outcomes"])
    print(json.dumps({key: value for key, value in report.items()}, indent=1))
    if args.output:
        args.output.write_text(json.dumps({**report, "outcomes": identified["outcomes"]}))


if __name__ == "__main__":
    main()
