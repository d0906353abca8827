"""A simulated radio day: does the catalog learn, and does the fallback stay under its limit?

Several stations play songs from one library in rotation (with presenters talking between some
songs). One worker's recognizer chain (catalog first, then the generic HTTP recognizer, budget,
learning catalog in a SQLite file) identifies every station's windows; the fake recognition
service runs in a separate process, knows every song, and enforces a rate limit in simulated
time (each request carries it in X-Simulated-Time). Time is simulated, so hours run in minutes;
the audio is synthesized, fingerprinted and matched for real (no codec between them).

    .venv/bin/python benchmarks/bench_radio_day.py [--hours 3] [--stations 3] [--songs 40]

Reports external calls per simulated hour, plays logged / missed, plays named first by the
catalog after a song's first identified play (target ≥ 95 %), wrong rows, and the fake's 429s
(target 0). Not a test: figures go in docs/identification.md with the command that made them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.audio_factory import resample, speech_like_noise, synthesize_song, white_noise

from fingerv7.audio.fallback import (
    FallbackPolicy,
    FallbackService,
    LearningCatalogRecognizer,
)
from fingerv7.audio.recognition import CatalogRecognizer
from fingerv7.audio.remote import HttpRecognizer, HttpRecognizerConfig, parse_field_mapping
from fingerv7.audio.stream_identification import StreamIdentification
from fingerv7.catalog.learning import LearningCatalog
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig

RATE_HZ = FingerprintConfig().sample_rate_hz
FIELDS = "title=result.title,artist=result.artist,isrc=result.isrc,offset_s=result.offset_s,"
FIELDS += "duration_s=result.duration_s"


@dataclass(frozen=True, slots=True)
class Slot:
    start_s: float
    end_s: float
    song: int | None  # None: a presenter talking


def library(songs: int, song_s: float) -> list[np.ndarray]:
    return [
        resample(synthesize_song(1000 + i, song_s), 22050, RATE_HZ).astype(np.float32)
        for i in range(songs)
    ]


def programme(station: int, songs: int, song_s: float, hours: float) -> list[Slot]:
    """A rotation: each station plays its own share of the library, talk after some songs."""
    rng = np.random.default_rng(station)
    playlist = [i for i in range(songs) if (i + station) % 4 != 0]  # 3/4 of the library each
    slots, now = [], 0.0
    while now < hours * 3600:
        for song in rng.permutation(playlist):
            slots.append(Slot(now, now + song_s, int(song)))
            now += song_s
            if rng.random() < 0.2:
                slots.append(Slot(now, now + 8.0, None))
                now += 8.0
    return slots


class Station:
    def __init__(self, slots: list[Slot], songs: list[np.ndarray], seed: int) -> None:
        self.slots = slots
        self.songs = songs
        self.speech = resample(speech_like_noise(seed, 8.0), 22050, RATE_HZ)
        self.noise = white_noise(seed, RATE_HZ * 30) * 0.05

    def audio(self, start_s: float, end_s: float) -> np.ndarray:
        pieces = []
        for slot in self.slots_between(start_s, end_s):
            source = self.speech if slot.song is None else self.songs[slot.song]
            a = int((max(start_s, slot.start_s) - slot.start_s) * RATE_HZ)
            b = int((min(end_s, slot.end_s) - slot.start_s) * RATE_HZ)
            pieces.append(source[a:b])
        pcm = np.concatenate(pieces)
        return (pcm + self.noise[: pcm.size]).astype(np.float32)  # a little hiss

    def slots_between(self, start_s: float, end_s: float) -> list[Slot]:
        return [s for s in self.slots if s.end_s > start_s and s.start_s < end_s]


class SimulatedClock:
    now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


class SimulatedHttpRecognizer(HttpRecognizer):
    """Sends the simulated time with each request (the fake's rate limit runs on it)."""

    def __init__(self, config: HttpRecognizerConfig, clock: SimulatedClock) -> None:
        super().__init__(config)
        self.clock = clock

    def recognize_clip(self, samples, sample_rate_hz):  # type: ignore[no-untyped-def]
        self._client.headers["X-Simulated-Time"] = f"{self.clock():.3f}"
        return super().recognize_clip(samples, sample_rate_hz)


def serve_fake(port_file: Path, songs: int, song_s: float, limit: int, folder: Path) -> None:
    """The fake service's process: knows every song, answers until killed."""
    from fingerv7.testing.fake_recognition import FakeRecognitionService, KnownSong
    from fingerv7.testing.radio import RadioSong

    known = [
        KnownSong(RadioSong(f"Artist {i}", f"Song {i}", pcm, RATE_HZ), isrc=f"BRSIM26{i:05d}")
        for i, pcm in enumerate(library(songs, song_s))
    ]
    service = FakeRecognitionService(known, folder, limit=limit, per_s=60.0, time_header=True)
    service.start()
    port_file.write_text(service.url)
    while True:
        time.sleep(1)
        (folder / "fake-stats.json").write_text(
            json.dumps(
                {"requests": service.requests, "refused": service.refused, "named": service.named}
            )
        )


def main() -> None:  # noqa: C901 (one scenario, read top to bottom)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--stations", type=int, default=3)
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--song-seconds", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--fake-limit", type=int, default=6, help="requests a minute")
    parser.add_argument("--budget", type=float, default=5.0, help="worker's requests a minute")
    parser.add_argument("--serve-fake", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake, args.songs, args.song_seconds, args.fake_limit, args.folder)
        return

    folder = Path(tempfile.mkdtemp(prefix="radio-day-"))
    port_file = folder / "url"
    fake = subprocess.Popen(
        [
            *(sys.executable, __file__, "--serve-fake", str(port_file), "--folder", str(folder)),
            *(f"--songs={args.songs}", f"--song-seconds={args.song_seconds}"),
            f"--fake-limit={args.fake_limit}",
        ]
    )
    try:
        songs = library(args.songs, args.song_seconds)
        while not port_file.exists():
            time.sleep(0.2)
        url = port_file.read_text()
        clock = SimulatedClock()
        catalog = CatalogRecognizer.open(
            f"sqlite:///{folder / 'catalog.db'}", FingerprintConfig(), MatchConfig()
        )
        learning = LearningCatalog(catalog.identifier.store, FingerprintConfig())
        learning.create_schema()
        chain = LearningCatalogRecognizer(catalog, learning)
        remote = SimulatedHttpRecognizer(
            HttpRecognizerConfig(url=url, fields=parse_field_mapping(FIELDS)), clock
        )
        policy = FallbackPolicy(
            window_s=args.window,
            sample_rate_hz=RATE_HZ,
            hold_s=60.0,
            requests_per_minute=args.budget,
        )
        service = FallbackService(["http"], [remote], policy, learner=chain, clock=clock)
        stations = [
            Station(programme(i, args.songs, args.song_seconds, args.hours), songs, i)
            for i in range(args.stations)
        ]
        streams = [StreamIdentification(i, chain, service) for i in range(args.stations)]
        # Per station and play (slot index): how it was first named, and what was named wrongly.
        first_named: list[dict[int, str]] = [{} for _ in stations]
        wrong_rows, calls_by_hour = 0, defaultdict(int)
        last_key: list[str | None] = [None] * len(stations)
        started = time.perf_counter()
        identify_s: list[float] = []
        t = args.window
        while t <= args.hours * 3600:
            clock.now_s = t
            for index, (station, stream) in enumerate(zip(stations, streams, strict=True)):
                calls_before = service.metrics()["http"]["calls"]
                tick = time.perf_counter()
                found = stream.identify(station.audio(t - args.window, t))
                identify_s.append(time.perf_counter() - tick)
                calls_by_hour[int(t // 3600)] += service.metrics()["http"]["calls"] - calls_before
                if found is None:
                    continue
                on_air = {
                    slot_index: slot
                    for slot_index, slot in enumerate(station.slots)
                    if slot.song is not None and slot.end_s > t - args.window and slot.start_s < t
                }
                matching = [i for i, s in on_air.items() if f"Song {s.song}" == found.title]
                if not matching:
                    if found.track_key != last_key[index]:
                        wrong_rows += 1
                else:
                    first_named[index].setdefault(matching[-1], found.recognizer)
                last_key[index] = found.track_key
            if int(t) % 10 == 0:
                chain.refresh_if_changed()  # LEARNED_REFRESH_SECONDS=10, in simulated time
            t += args.interval
        elapsed_s = time.perf_counter() - started
        # Plays that were on air for a whole window at least (shorter ones cannot be named).
        plays, logged, later, later_by_catalog = 0, 0, 0, 0
        identified_songs: dict[int, float] = {}
        events = []
        for index, station in enumerate(stations):
            for slot_index, slot in enumerate(station.slots):
                if slot.song is None or slot.end_s > args.hours * 3600:
                    continue
                events.append((slot.start_s, index, slot_index, slot))
        for start_s, index, slot_index, slot in sorted(events):
            plays += 1
            how = first_named[index].get(slot_index)
            if how is None:
                continue
            logged += 1
            if slot.song in identified_songs and identified_songs[slot.song] < start_s:
                later += 1
                later_by_catalog += how == "catalog"
            identified_songs.setdefault(slot.song, slot.end_s)
        time.sleep(1.5)  # the fake writes its counters every second
        fake_stats = json.loads((folder / "fake-stats.json").read_text())
    finally:
        fake.terminate()
        fake.wait()
    metrics = service.metrics()
    ordered = sorted(identify_s)
    print(f"simulated {args.hours} h, {args.stations} stations, {args.songs} songs of")
    print(f"  {args.song_seconds:.0f} s, window {args.window:.0f} s every {args.interval:.0f} s")
    print(f"  ran in {elapsed_s:.0f} s wall time ({len(identify_s)} identifications)")
    print(
        f"  identify p50 {1000 * ordered[len(ordered) // 2]:.1f} ms, "
        f"p95 {1000 * ordered[int(len(ordered) * 0.95)]:.1f} ms"
    )
    print(f"external calls per hour: {[calls_by_hour[h] for h in sorted(calls_by_hour)]}")
    print(f"  calls {metrics['http']['calls']:.0f}, named {metrics['http']['named']:.0f}")
    print(f"  429s seen by the worker {metrics['http']['rate_limited']:.0f}")
    print(f"  fake: requests {fake_stats['requests']}, refused (429) {fake_stats['refused']}")
    print(f"  windows skipped: {metrics['fallback']}")
    print(f"plays {plays}, logged {logged}, missed {plays - logged}")
    share = later_by_catalog / later if later else 0.0
    print(f"later plays (after a song's first identified play): {later}, named by the")
    print(f"  catalog first {later_by_catalog} ({100 * share:.1f} %)")
    print(f"wrong rows {wrong_rows}")


if __name__ == "__main__":
    main()
