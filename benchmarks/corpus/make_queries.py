"""Real-music query set: 10 s snippets of the Debian corpus degraded the way radio degrades audio.

Run benchmarks/corpus/setup.sh once (installs the music packages, sox and espeak-ng), then

    .venv/bin/python benchmarks/corpus/make_queries.py --out /tmp/fv7-corpus

writes `catalog/` (symlinks to the recordings to catalogue), `queries/*.mp3` and `manifest.json`
(one entry per snippet: file, condition, expected source path or null for negatives). Every eighth
recording is held out of the catalog: its snippets are the negatives, with the short game sounds
(jingle-like, 5-30 s) that are never catalogued either. Snippets end as 128 kbit/s MP3 (AAC for the
`aac` condition), like the issue's measurements.

A larger negative set, to judge the decision's bar on recordings it was not set on: with
`--negatives-only`, every recording of the folders given (default: the Wesnoth soundtrack, which
setup.sh installs) is a negative, and no positives or catalog links are written. Identify them
against the catalog made from the main set (`bench_real_corpus.py --skip-ingest`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.audio_factory import encode_audio, mix_at_snr

RATE = 22050
SNIPPET_S = 10.0
MUSIC_FOLDERS = (
    "/usr/share/scummvm/drascula/audio",
    "/usr/share/games/colobot/music",
    "/usr/share/hyperrogue/music",
    "/usr/share/games/asc/music",
    "/usr/share/games/fretsonfire/data/songs/muldjord",
)
SOUND_FOLDERS = ("/usr/share/hyperrogue/sounds", "/usr/share/games/colobot/sounds")
EXTRA_NEGATIVE_FOLDERS = ("/usr/share/games/wesnoth/1.16/data/core/music",)
MIN_TRACK_S = 30.0
HOLD_OUT_EVERY = 8
CONDITIONS = (
    "clean",
    "aac",
    "pink +10 dB",
    "pink +5 dB",
    "pink +0 dB",
    "pink -6 dB",
    "presenter +0 dB",
    "broadcast chain",
    "speed -3%",
    "speed -1%",
    "speed +1%",
    "speed +3%",
)
# An FM/AM-style processing chain: band-limit, four-band compression, make-up gain, limiter.
BROADCAST_CHAIN = [
    "highpass", "120", "lowpass", "5000",
    "mcompand",
    "0.005,0.1 -47,-40,-34,-34,-17,-33,0,0", "250",
    "0.003,0.05 -47,-40,-34,-34,-15,-33,0,0", "1200",
    "0.001,0.02 -47,-40,-34,-34,-15,-33,0,0", "4000",
    "0.0006,0.0125 -47,-40,-34,-34,-15,-33,0,0",
    "gain", "8",
    "compand", "0.0005,0.05", "-6,-6,0,-2", "0", "-90", "0.001",
]  # fmt: skip
PRESENTER_LINES = (
    "Good morning, you are listening to FingerV7 radio, the best music all day long.",
    "That was a great one. Coming up after the news, the weather and the traffic.",
    "Call us now on the listener line and tell us what you want to hear tonight.",
    "It is twenty past eight, and we have another hour of non stop hits for you.",
)


@dataclass(frozen=True)
class Snippet:
    number: int
    source: str
    condition: str
    start_s: float
    expected: str | None  # catalogued source path, None for a negative


def corpus_recordings(folders: tuple[str, ...] = MUSIC_FOLDERS) -> list[tuple[Path, float]]:
    """Every recording of at least MIN_TRACK_S in the folders, sorted, with its length.
    Fret's on Fire songs ship as stems: the `song.ogg` mix is taken, not the guitar stem."""
    found = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() not in {".ogg", ".mp3"} or path.is_symlink():
                continue
            if "fretsonfire" in folder and path.name != "song.ogg":
                continue
            seconds = _duration_s(path)
            if seconds >= MIN_TRACK_S:
                found.append((path, seconds))
    return found


def short_sounds() -> list[tuple[Path, float]]:
    found = []
    for folder in SOUND_FOLDERS:
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() not in {".ogg", ".wav"}:
                continue
            seconds = _duration_s(path)
            if 5.0 <= seconds < MIN_TRACK_S:
                found.append((path, seconds))
    return found


def _duration_s(path: Path) -> float:
    output = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True)
    return float(output.stdout.strip() or 0.0)


def _read(path: Path, start_s: float, seconds: float) -> np.ndarray:
    raw = subprocess.run(
        ["sox", str(path), "-t", "raw", "-e", "float", "-b", "32", "-c", "1", "-r", str(RATE),
         "-", "trim", f"{start_s:.3f}", f"{seconds:.3f}"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32).copy()


def _sox_effect(samples: np.ndarray, effects: list[str]) -> np.ndarray:
    raw_format = ["-t", "raw", "-e", "float", "-b", "32", "-c", "1", "-r", str(RATE)]
    result = subprocess.run(
        ["sox", *raw_format, "-", *raw_format, "-", *effects],
        input=samples.astype(np.float32).tobytes(), capture_output=True, check=True,
    )  # fmt: skip
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def pink_noise(seed: int, size: int) -> np.ndarray:
    """White noise shaped to 1/f power (-3 dB per octave)."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(size))
    frequencies = np.maximum(np.fft.rfftfreq(size), 1.0 / size)
    return np.fft.irfft(spectrum / np.sqrt(frequencies), n=size).astype(np.float32)


def presenter(seed: int, size: int) -> np.ndarray:
    """A synthetic presenter (espeak-ng), voice and line chosen by seed, looped to `size`."""
    rng = np.random.default_rng(seed)
    voice = str(rng.choice(["en", "en-us", "en+m3", "en+f2", "en-gb-x-rp", "pt-br"]))
    line = str(rng.choice(PRESENTER_LINES))
    words_per_minute = str(int(rng.integers(150, 190)))
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", words_per_minute, "-w", wav.name, line],
            check=True, capture_output=True,
        )  # fmt: skip
        speech = _read(Path(wav.name), 0.0, 60.0)
    return np.resize(speech, size)


def degrade(snippet: Snippet, out_folder: str) -> str:
    """Cut, degrade and encode one snippet; returns its file name."""
    condition = snippet.condition
    speed = 1.0 + float(condition.split()[1].rstrip("%")) / 100 if "speed" in condition else 1.0
    audio = _read(Path(snippet.source), snippet.start_s, SNIPPET_S * speed + 0.1)
    if speed != 1.0:
        audio = _sox_effect(audio, ["speed", f"{speed:.4f}", "rate", str(RATE)])
    audio = audio[: int(SNIPPET_S * RATE)]
    if condition.startswith("pink"):
        snr_db = float(condition.split()[1])
        audio = mix_at_snr(audio, pink_noise(snippet.number, audio.size), snr_db)
    elif condition.startswith("presenter"):
        audio = mix_at_snr(audio, presenter(snippet.number, audio.size), 0.0)
    elif condition == "broadcast chain":
        audio = _sox_effect(audio, BROADCAST_CHAIN)
    audio = np.clip(audio, -1.0, 1.0)
    name = f"{snippet.number:05d}.{'m4a' if condition == 'aac' else 'mp3'}"
    target = Path(out_folder) / "queries" / name
    if condition == "aac":
        _encode_aac(target, audio)
    else:
        encode_audio(target, audio, RATE)
    return name


def _encode_aac(target: Path, samples: np.ndarray) -> None:
    wav = target.with_suffix(".wav")
    encode_audio(wav, samples, RATE)
    import av  # only this condition needs the AAC encoder

    with av.open(str(wav)) as source, av.open(str(target), "w", format="mp4") as sink:
        stream = sink.add_stream("aac", rate=RATE, layout="mono")
        stream.bit_rate = 48_000
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)
    wav.unlink()


def plan(args: argparse.Namespace) -> tuple[list[Path], list[Snippet]]:
    rng = np.random.default_rng(args.seed)
    if args.negatives_only:
        catalogued, held_out = [], corpus_recordings(tuple(args.negatives_only))
    else:
        recordings = corpus_recordings()
        catalogued = [rec for number, rec in enumerate(recordings) if number % HOLD_OUT_EVERY != 7]
        held_out = [rec for number, rec in enumerate(recordings) if number % HOLD_OUT_EVERY == 7]
    snippets: list[Snippet] = []

    def add(path: Path, seconds: float, condition: str, expected: str | None) -> None:
        start = float(rng.uniform(0, max(0.0, seconds - SNIPPET_S * 1.04 - 0.5)))
        snippets.append(Snippet(len(snippets), str(path), condition, start, expected))

    for condition in args.conditions:
        for path, seconds in catalogued:
            for _ in range(args.per_track):
                add(path, seconds, condition, str(path))
        for path, seconds in held_out:
            for _ in range(args.negatives_per_track):
                add(path, seconds, condition, None)
    if not args.negatives_only and "clean" in args.conditions:
        for path, seconds in short_sounds():
            add(path, seconds, "clean", None)
    return [path for path, _ in catalogued], snippets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-track", type=int, default=2, help="snippets per track and condition")
    parser.add_argument("--negatives-per-track", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--conditions",
        nargs="+",
        default=list(CONDITIONS),
        metavar="CONDITION",
        help="default: all of "
        + ", ".join(CONDITIONS).replace("%", "%%")
        + '; any "speed +X%%" works (off the 1%% grid: "speed +1.5%%")',
    )
    parser.add_argument(
        "--negatives-only",
        nargs="*",
        metavar="FOLDER",
        help="only negatives, from every recording of these folders (none given: "
        + ", ".join(EXTRA_NEGATIVE_FOLDERS)
        + ")",
    )
    args = parser.parse_args()
    if args.negatives_only == []:
        args.negatives_only = list(EXTRA_NEGATIVE_FOLDERS)
    catalogued, snippets = plan(args)
    (args.out / "queries").mkdir(parents=True, exist_ok=True)
    (args.out / "catalog").mkdir(exist_ok=True)
    for number, path in enumerate(catalogued):
        link = args.out / "catalog" / f"{number:03d}-{path.parent.name}-{path.name}"
        if not link.exists():
            link.symlink_to(path)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        names = list(pool.map(degrade, snippets, [str(args.out)] * len(snippets), chunksize=8))
    manifest = [
        {**asdict(snippet), "file": name} for snippet, name in zip(snippets, names, strict=True)
    ]
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    hours = sum(_duration_s(path) for path in catalogued) / 3600
    negatives = sum(entry["expected"] is None for entry in manifest)
    print(f"{len(catalogued)} recordings ({hours:.2f} h) to catalogue; {len(manifest)} snippets")
    print(f"{len(manifest) - negatives} positives, {negatives} negatives")


if __name__ == "__main__":
    main()
