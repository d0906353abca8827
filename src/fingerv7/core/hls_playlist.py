"""HLS playlists (RFC 8216) as data, and which segments a live listener fetches next.

Pure: text in, decisions out. The capture (:mod:`fingerv7.audio.hls`) does the HTTP. Only what
an audio monitor needs is read: variants (to pick one), segments with their sequence numbers and
durations, discontinuities and the end of a finished playlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

# A live listener starts this many segments before the live edge (RFC 8216 §6.3.3 says at
# least three target durations from the end).
LIVE_START_SEGMENTS = 3


class PlaylistError(ValueError):
    """The text is not an HLS playlist we can follow."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment: absolute URL, media sequence number, duration, and whether the
    encoding may change before it (EXT-X-DISCONTINUITY)."""

    url: str
    sequence: int
    duration_s: float
    discontinuity: bool = False


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    target_duration_s: float
    segments: tuple[Segment, ...]
    ended: bool  # EXT-X-ENDLIST: nothing will be added

    @property
    def last_sequence(self) -> int | None:
        return self.segments[-1].sequence if self.segments else None


@dataclass(frozen=True, slots=True)
class Variant:
    url: str
    bandwidth: int


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    """A multivariant playlist; audio renditions (EXT-X-MEDIA TYPE=AUDIO) come first if any."""

    variants: tuple[Variant, ...]
    audio_renditions: tuple[str, ...] = ()

    def choose(self) -> str:
        """The media playlist to follow: an audio rendition, else the lowest-bandwidth variant
        (a monitor needs the audio, not the picture)."""
        if self.audio_renditions:
            return self.audio_renditions[0]
        if not self.variants:
            raise PlaylistError("the multivariant playlist lists no variant")
        return min(self.variants, key=lambda variant: variant.bandwidth).url


def parse_playlist(text: str, base_url: str) -> MediaPlaylist | MasterPlaylist:
    """Parse a playlist fetched from `base_url` (relative URIs are resolved against it)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#EXTM3U"):
        raise PlaylistError("not an HLS playlist (no #EXTM3U)")
    if any(line.startswith("#EXT-X-STREAM-INF") for line in lines):
        return _parse_master(lines, base_url)
    return _parse_media(lines, base_url)


def _parse_master(lines: list[str], base_url: str) -> MasterPlaylist:
    variants: list[Variant] = []
    renditions: list[str] = []
    pending_bandwidth: int | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            bandwidth = _attributes(line).get("BANDWIDTH", "0")
            pending_bandwidth = int(bandwidth) if bandwidth.isdigit() else 0
        elif line.startswith("#EXT-X-MEDIA:"):
            attributes = _attributes(line)
            if attributes.get("TYPE") == "AUDIO" and "URI" in attributes:
                renditions.append(urljoin(base_url, attributes["URI"]))
        elif not line.startswith("#") and pending_bandwidth is not None:
            variants.append(Variant(urljoin(base_url, line), pending_bandwidth))
            pending_bandwidth = None
    return MasterPlaylist(tuple(variants), tuple(renditions))


def _parse_media(lines: list[str], base_url: str) -> MediaPlaylist:
    target_s: float | None = None
    sequence = 0
    segments: list[Segment] = []
    duration_s: float | None = None
    discontinuity = False
    ended = False
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-TARGETDURATION":
            target_s = _number(value, tag)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            sequence = int(_number(value, tag))
        elif tag == "#EXTINF":
            duration_s = _number(value.split(",", 1)[0], tag)
        elif tag == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif tag == "#EXT-X-ENDLIST":
            ended = True
        elif not line.startswith("#"):
            if duration_s is None:
                raise PlaylistError(f"segment {line!r} has no #EXTINF")
            segments.append(Segment(urljoin(base_url, line), sequence, duration_s, discontinuity))
            sequence += 1
            duration_s, discontinuity = None, False
    if target_s is None:
        raise PlaylistError("the media playlist has no #EXT-X-TARGETDURATION")
    return MediaPlaylist(target_s, tuple(segments), ended)


def _number(text: str, tag: str) -> float:
    try:
        return float(text.strip())
    except ValueError as error:
        raise PlaylistError(f"{tag} is not a number: {text!r}") from error


def _attributes(line: str) -> dict[str, str]:
    """`#TAG:A=1,B="x,y"` → {"A": "1", "B": "x,y"} (commas inside quotes kept)."""
    body = line.partition(":")[2]
    attributes: dict[str, str] = {}
    key, value, quoted, reading_key = "", "", False, True
    for char in body + ",":
        if reading_key:
            if char == "=":
                reading_key = False
            else:
                key += char
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            attributes[key.strip()] = value
            key, value, reading_key = "", "", True
        else:
            value += char
    return attributes


@dataclass(frozen=True, slots=True)
class FetchStep:
    """A segment to fetch, and whether the decoder must start afresh before it: the encoding
    may change (discontinuity) or segments were missed (gap), so the bytes do not follow on."""

    segment: Segment
    restart: bool


class SegmentCursor:
    """Remembers the last segment fetched; says which segments of a refreshed playlist are new."""

    def __init__(self) -> None:
        self.last_sequence: int | None = None
        self.missed = 0  # segments that fell off the playlist (or vanished) before we got them

    def next_steps(self, playlist: MediaPlaylist) -> list[FetchStep]:
        segments = playlist.segments
        if self.last_sequence is None:
            start = 0 if playlist.ended else max(0, len(segments) - LIVE_START_SEGMENTS)
            fresh = segments[start:]
            return [FetchStep(s, restart=i == 0) for i, s in enumerate(fresh)]
        steps: list[FetchStep] = []
        expected = self.last_sequence + 1
        for segment in segments:
            if segment.sequence < expected:
                continue
            gap = segment.sequence > expected
            self.missed += segment.sequence - expected
            steps.append(FetchStep(segment, restart=gap or segment.discontinuity))
            expected = segment.sequence + 1
        return steps

    def fetched(self, segment: Segment) -> None:
        self.last_sequence = segment.sequence

    def skipped(self, segment: Segment) -> None:
        """A segment could not be fetched (gone already): move past it, counted as missed."""
        self.last_sequence = segment.sequence
        self.missed += 1
