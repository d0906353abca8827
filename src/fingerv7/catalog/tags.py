"""Track metadata from container tags, falling back to "Artist - Title" file names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from fingerv7.catalog.store import TrackInfo

# Tag spellings differ by container: ID3 (via FFmpeg) vs Vorbis comments vs MP4 atoms.
_ARTIST_KEYS = ("artist", "album_artist", "albumartist", "performer")
_ISRC_KEYS = ("isrc", "tsrc")
_LABEL_KEYS = ("label", "publisher", "organization", "tpub")
_GENRE_KEYS = ("genre",)
_LEADING_TRACK_NUMBER = re.compile(r"^\s*\d{1,3}\s*[-._)]\s*")
_UNKNOWN_ARTIST = "Unknown artist"


def track_info_from_tags(tags: Mapping[str, str], path: Path) -> TrackInfo:
    """Title and artist from tags when both are present, else from the file name."""
    lowered = {key.lower(): value.strip() for key, value in tags.items() if value and value.strip()}
    name_artist, name_title = parse_file_name(path)
    title = lowered.get("title") or name_title
    artist = _first(lowered, _ARTIST_KEYS) or name_artist or _UNKNOWN_ARTIST
    return TrackInfo(
        title=title,
        artist=artist,
        isrc=_normalise_isrc(_first(lowered, _ISRC_KEYS)),
        label=_first(lowered, _LABEL_KEYS),
        genre=_first(lowered, _GENRE_KEYS),
    )


def parse_file_name(path: Path) -> tuple[str | None, str]:
    """("Artist", "Title") from "Artist - Title.mp3"; (None, stem) when there is no separator.

    A leading track number ("03 - ", "03. ") is dropped; underscores count as spaces.
    """
    stem = _LEADING_TRACK_NUMBER.sub("", path.stem.replace("_", " ")).strip() or path.stem
    if " - " in stem:
        artist, title = stem.split(" - ", 1)
        if artist.strip() and title.strip():
            return artist.strip(), title.strip()
    return None, stem


def _first(tags: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if tags.get(key):
            return tags[key]
    return None


def _normalise_isrc(value: str | None) -> str | None:
    if value is None:
        return None
    compact = value.replace("-", "").replace(" ", "").upper()
    return compact[:32] or None
