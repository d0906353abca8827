"""Try a fingerprint configuration on the real corpus in memory, without a database.

The corpus `make_queries.py` made is fingerprinted with the given `FingerprintConfig` overrides
(both sides), indexed in memory, and the snippets of the chosen conditions are identified with
the default `MatchConfig`: top-1 per condition, wrong answers, false identifications of the
negatives of those conditions, and the negatives' best chance score (bar off). For quick
comparisons before a change that needs a new catalog version; the product's figures come from
`bench_real_corpus.py` (through the database and `fingerv7 identify`'s code path).

    .venv/bin/python benchmarks/tune_fingerprint.py --corpus /work/corpus-issue12 \\
        --config '{"reference_peaks_per_second": 12}' --conditions "presenter +0 dB" "pink +10 dB"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_catalog_scale import load_snippets  # noqa: I001
from benchmarks.bench_real_corpus import SHARED_AUDIO
from fingerv7.catalog import decode_audio
from fingerv7.core.fingerprint import (
    FingerprintConfig,
    HashIndex,
    LandmarkMatcher,
    MatchConfig,
    fingerprint_reference,
    identify_clip,
)


def catalog_index(
    folder: Path, config: FingerprintConfig
) -> tuple[HashIndex, dict[int, str], float]:
    """Every recording PyAV can open in `folder`, indexed; the source path of each track id and
    the seconds of audio."""
    hashes, tracks, frames, sources = [], [], [], {}
    seconds = 0.0
    for number, path in enumerate(sorted(folder.iterdir())):
        try:
            audio = decode_audio(path, config.sample_rate_hz)
        except Exception:  # the same recordings `catalog add` cannot open (docs/fingerprint.md)
            continue
        reference = fingerprint_reference(audio.samples, config)
        seconds += audio.samples.size / config.sample_rate_hz
        sources[number] = str(path.resolve())
        hashes.append(reference.hashes)
        tracks.append(np.full(len(reference), number))
        frames.append(reference.anchor_frames)
    index = HashIndex(np.concatenate(hashes), np.concatenate(tracks), np.concatenate(frames))
    return index, sources, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--config", default="{}", help="FingerprintConfig overrides as JSON")
    parser.add_argument("--conditions", nargs="+", required=True)
    args = parser.parse_args()
    overrides: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in json.loads(args.config).items()
    }
    config = FingerprintConfig(**overrides)
    started = time.perf_counter()
    index, sources, seconds = catalog_index(args.corpus / "catalog", config)
    matcher = LandmarkMatcher(index, config, MatchConfig())
    unbarred = LandmarkMatcher(index, config, MatchConfig(min_score=0.0, verified_candidates=0))
    snippets = load_snippets(
        args.corpus, 1, set(args.conditions), set(sources.values()), config.sample_rate_hz
    )
    tally: dict[str, list[int]] = {}  # snippets, right answers, wrong (or false) answers
    negative_scores = []
    for entry in snippets:
        match = identify_clip(matcher, entry["samples"])
        answer = None if match is None else sources[match.track_id]
        if entry["expected"]:
            counts = tally.setdefault(entry["condition"], [0, 0, 0])
            counts[1] += answer == entry["expected"]
            counts[2] += answer not in (None, entry["expected"])
        elif entry["source"] in SHARED_AUDIO:  # naming music008 there is right
            continue
        else:
            counts = tally.setdefault("negatives", [0, 0, 0])
            counts[2] += answer is not None
            best = identify_clip(unbarred, entry["samples"])
            negative_scores.append(0.0 if best is None else best.score)
        counts[0] += 1
    report = {
        "config": args.config,
        "catalog": {
            "tracks": len(sources),
            "hours": seconds / 3600,
            "hashes_per_second": len(index) / seconds,
        },
        "top1": {k: c[1] / c[0] for k, c in tally.items() if k != "negatives"},
        "wrong": {k: c[2] for k, c in tally.items() if k != "negatives"},
        "negatives": tally.get("negatives", [0, 0, 0])[0],
        "false_identifications": tally.get("negatives", [0, 0, 0])[2],
        "best_negative_score": max(negative_scores, default=0.0),
        "seconds": time.perf_counter() - started,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
