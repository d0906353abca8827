"""CPU per stream at catalog scale: a radio programme's windows identified the way a worker does.

Builds the programme `bench_radio_hour.py` plays (same corpus split, seed and broadcast chain),
as a stream delivers it (128 kbit/s MP3, decoded at the fingerprint rate), cuts it into the
windows a worker identifies (`--window-s` long, one every `--interval-s`) and identifies them in
order, each with the song on air (`SongOnAir`: the last track named, held through a few
windows that name nothing) as `on_air`, as `StreamIdentification` does. It does so against the
catalog `bench_real_corpus.py` ingested and against the same padded to `--hours`
(benchmarks/decoys.py). Every `--whole-every`-th window is also identified with no
track on air, so the whole catalog is searched: what every window cost before the on-air check,
measured in the same run on the same windows.

    .venv/bin/python benchmarks/bench_stream_cost.py --minutes 30 --hours 1000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/fv7_bench_real

Reports per catalog the CPU seconds per window (`identify_clip`: fingerprint, match, and the
second look when the first names nothing; decoding excluded), the share of windows the on-air
check settled, what the sampled windows cost with the whole search, and the answers, so the two
runs can be compared window by window. Per play too: the windows' answers become rows as a
worker logs them (`PlayTracker`: a recording heard again within the duplicate window continues
its play), scored against the timetable with `fingerv7.testing.airplay` (no database, no
real-time stream: `bench_radio_hour.py` runs those). `--configs` compares matcher settings on
the one padded catalog, for example the search budget:

    --configs '{}' '{"max_search_postings": null}'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))

from bench_catalog_scale import compile_voting_loops, percentiles_ms, real_catalog_padded
from bench_radio_hour import build_programme
from make_queries import RATE
from tests.audio_factory import mp3_round_trip

from fingerv7.core.fingerprint import FingerprintConfig, LandmarkMatcher, MatchConfig, identify_clip
from fingerv7.core.song_on_air import SongOnAir
from fingerv7.playlog.dedupe import PlayTracker
from fingerv7.testing.airplay import Airing, LoggedRow, score_airplay
from fingerv7.worker.settings import WorkerSettings

DUPLICATE_WINDOW_S = float(
    WorkerSettings.model_fields["duplicate_prevention_window_seconds"].default
)


def identify_in_order(
    matchers: tuple[LandmarkMatcher, LandmarkMatcher | None],
    audio: np.ndarray,
    window_s: float,
    interval_s: float,
    whole_every: int,
) -> list[dict[str, Any]]:
    """Every window in order, `on_air` carried from one to the next; the timed part is
    `identify_clip` (fingerprint, match, and the second looks and the low band when the first
    names nothing)."""
    matcher, low_band = matchers
    config = matcher.fingerprint_config
    window = int(window_s * config.sample_rate_hz)
    step = int(interval_s * config.sample_rate_hz)
    on_air: SongOnAir[int] = SongOnAir()
    windows = []
    for number, end in enumerate(range(window, audio.size + 1, step)):
        samples = audio[end - window : end]
        started = time.perf_counter()
        match = identify_clip(matcher, samples, on_air.track, low_band)
        seconds = time.perf_counter() - started
        entry: dict[str, Any] = {
            "end_s": end / config.sample_rate_hz,
            "on_air": on_air.track,
            "track_id": None if match is None else match.track_id,
            "seconds": seconds,
        }
        if number % whole_every == 0:
            started = time.perf_counter()
            whole = identify_clip(matcher, samples, None, low_band)
            entry["whole_seconds"] = time.perf_counter() - started
            entry["whole_track_id"] = None if whole is None else whole.track_id
        windows.append(entry)
        on_air.heard(entry["track_id"])
    return windows


def summarise(windows: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [w["seconds"] for w in windows]
    settled = [w for w in windows if w["on_air"] is not None and w["track_id"] == w["on_air"]]
    sampled = [w for w in windows if "whole_seconds" in w]
    return {
        "windows": len(windows),
        "named": sum(w["track_id"] is not None for w in windows),
        "settled_by_the_track_on_air": len(settled) / len(windows),
        "per_window_ms": percentiles_ms(seconds) | {"mean": 1000 * float(np.mean(seconds))},
        "sampled_windows": len(sampled),
        "sampled_per_window_ms": percentiles_ms([w["seconds"] for w in sampled])
        | {"mean": 1000 * float(np.mean([w["seconds"] for w in sampled]))},
        "sampled_whole_search_ms": percentiles_ms([w["whole_seconds"] for w in sampled])
        | {"mean": 1000 * float(np.mean([w["whole_seconds"] for w in sampled]))},
        "sampled_answers_differing": sum(w["track_id"] != w["whole_track_id"] for w in sampled),
    }


def per_play(
    windows: list[dict[str, Any]], airings: list[Airing], source_of_track: dict[int, str]
) -> dict[str, object]:
    """The windows' answers logged as a worker logs them, scored against the timetable."""
    tracker = PlayTracker(DUPLICATE_WINDOW_S)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for window in windows:
        if window["track_id"] is None:
            continue
        source = source_of_track[window["track_id"]]
        if tracker.observe(source, start + timedelta(seconds=window["end_s"])).is_new_play:
            rows.append(LoggedRow(window["end_s"], frozenset({source}), Path(source).name))
    score = score_airplay(airings, rows)
    wrong = [
        {"at_s": row.at_s, "named": row.label, "on_air": _on_air_at(airings, row.at_s)}
        for row in score.wrong
    ]
    return score.summary() | {"wrong rows, which": wrong}


def _on_air_at(airings: list[Airing], at_s: float) -> list[str]:
    return [a.label for a in airings if a.start_s <= at_s <= a.end_s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a catalog bench_real_corpus made")
    parser.add_argument("--hours", type=float, default=1000.0)
    parser.add_argument("--minutes", type=float, default=30.0, help="of programme")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--window-s", type=float, default=6.0)
    parser.add_argument("--interval-s", type=float, default=3.0)
    parser.add_argument("--whole-every", type=int, default=5)
    parser.add_argument(
        "--configs",
        type=json.loads,
        nargs="*",
        default=[{}],
        help="MatchConfig overrides as JSON, one padded-catalog run each; default: the defaults",
    )
    parser.add_argument(
        "--padding-source",
        default=None,
        help="a catalog of other recordings to draw the decoys' hashes from (bench_catalog_scale)",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    config = FingerprintConfig()
    padded = real_catalog_padded(args.database_url, args.hours, args.padding_source)
    tracks, build_s = padded.tracks, padded.build_s
    in_catalog = {str(Path(track.source_path).resolve()) for track in tracks}
    programme, airings = build_programme(args.minutes, args.seed, in_catalog)
    audio = mp3_round_trip(programme, RATE, config.sample_rate_hz)
    audio_h = sum(track.duration_s for track in tracks) / 3600
    source_of_track = {track.id: str(Path(track.source_path).resolve()) for track in tracks}
    runs = [(f"{audio_h:.2f} h, defaults", False, MatchConfig())] + [
        (
            f"{args.hours:g} h, {json.dumps(overrides) if overrides else 'defaults'}",
            True,
            MatchConfig(**overrides),
        )
        for overrides in args.configs
    ]
    results = {}
    details = {}
    compile_voting_loops()
    for name, at_scale, match_config in runs:
        windows = identify_in_order(
            padded.matchers(at_scale, config, match_config),
            audio,
            args.window_s,
            args.interval_s,
            args.whole_every,
        )
        results[name] = summarise(windows) | {
            "per_play": per_play(windows, airings, source_of_track)
        }
        details[name] = windows
        print(name, json.dumps(results[name]), flush=True)
    report = {
        "programme_min": audio.size / config.sample_rate_hz / 60,
        "items": len(airings),
        "window_s": args.window_s,
        "interval_s": args.interval_s,
        "padding_build_s": build_s,
        "results": results,
    }
    print(json.dumps(report, indent=1))
    if args.output:
        args.output.write_text(json.dumps(report))
        args.output.with_suffix(".windows.json").write_text(json.dumps(details))


if __name__ == "__main__":
    main()
