"""The padding source: game soundtracks none of the query sets come from, as links in one folder.

`bench_catalog_scale.py --padding-source` draws its decoys' hashes from a catalog of these
recordings, and `--check-padding` tests that padding against a real catalog of the corpus plus
all of them. setup.sh installs the packages; then

    .venv/bin/python benchmarks/corpus/padding_source.py --out /work/padsrc
    .venv/bin/fingerv7 catalog add /work/padsrc/music \\
        --database-url postgresql://postgres@127.0.0.1:5432/fv7_bench_pad

Every audio file of the packages that lasts at least a minute (shorter ones are sound effects)
is linked as `<package>__<file name>`; Nexuiz ships its music in a zip archive (`music.pk3`),
which is unpacked first. On the sixteenth session's machine: 244 recordings, 14.3 hours.
"""

from __future__ import annotations

import argparse
import subprocess
import zipfile
from pathlib import Path

import av

PACKAGES = (
    "naev-data",
    "widelands-data",
    "megaglest-data",
    "hedgewars-data",
    "supertuxkart-data",
    "warzone2100-music",
    "frozen-bubble-data",
    "xmoto-data",
    "openclonk-data",
    "fillets-ng-data",
    "flare-game",
    "extremetuxracer-data",
    "endless-sky-data",
)
NEXUIZ_ARCHIVE = Path("/usr/share/games/nexuiz/data/music.pk3")
AUDIO_SUFFIXES = {".ogg", ".mp3", ".flac", ".wav", ".opus"}
MIN_TRACK_S = 60.0


def package_files(package: str) -> list[Path]:
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True)
    return [
        Path(line) for line in listed.stdout.splitlines() if Path(line).suffix in AUDIO_SUFFIXES
    ]


def duration_s(path: Path) -> float:
    """0 for a file FFmpeg cannot open or that states no duration."""
    try:
        with av.open(str(path)) as container:
            return (container.duration or 0) / 1_000_000
    except av.FFmpegError:
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sources = [(package, path) for package in PACKAGES for path in package_files(package)]
    unpacked = args.out / "nexuiz"
    with zipfile.ZipFile(NEXUIZ_ARCHIVE) as archive:
        archive.extractall(unpacked)
    sources += [("nexuiz", path) for path in sorted(unpacked.rglob("*.ogg"))]
    music = args.out / "music"
    music.mkdir(parents=True, exist_ok=True)
    linked_s = 0.0
    linked = 0
    for package, path in sources:
        length = duration_s(path)
        link = music / f"{package}__{path.name}"
        if length < MIN_TRACK_S or link.exists():
            continue  # a sound effect, or a second file of the same name in the package
        link.symlink_to(path)
        linked_s += length
        linked += 1
    print(f"{linked} recordings ({linked_s / 3600:.2f} h) linked in {music}")


if __name__ == "__main__":
    main()
