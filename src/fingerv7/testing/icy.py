"""A local Icecast-style station that sends ICY metadata (StreamTitle) inside the audio stream.

`LocalIcyRadio` is a :class:`~fingerv7.testing.radio.LocalRadio` whose listeners that ask with
`Icy-MetaData: 1` get `icy-metaint: N` and, after every N audio bytes, a metadata block naming
the song on air (`StreamTitle='Artist - Title';`), as Shoutcast and Icecast servers do. Other
listeners get the plain stream. `titles` overrides what is announced (None: announce nothing).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler

from fingerv7.testing.radio import LocalRadio, RadioSong


def metadata_block(title: str | None) -> bytes:
    """One ICY metadata block: a length byte, then the text padded to a multiple of 16."""
    if title is None:
        return b"\0"
    text = f"StreamTitle='{title}';StreamUrl='';".encode()
    blocks = -(-len(text) // 16)
    return bytes([blocks]) + text.ljust(blocks * 16, b"\0")


class _IcyWriter:
    """Wraps a listener's socket file: interleaves a metadata block after every `metaint` bytes."""

    def __init__(
        self, inner: io.BufferedIOBase, metaint: int, title: Callable[[], str | None]
    ) -> None:
        self._inner = inner
        self._metaint = metaint
        self._title = title
        self._until_metadata = metaint
        self._last_title: str | None = None

    def write(self, data: bytes) -> int:
        position = 0
        while position < len(data):
            take = min(self._until_metadata, len(data) - position)
            self._inner.write(data[position : position + take])
            position += take
            self._until_metadata -= take
            if self._until_metadata == 0:
                title = self._title()
                # Like real servers: the title is sent when it changes, empty blocks otherwise.
                self._inner.write(metadata_block(title if title != self._last_title else None))
                self._last_title = title
                self._until_metadata = self._metaint
        return len(data)

    def flush(self) -> None:
        self._inner.flush()

    @property
    def closed(self) -> bool:
        return self._inner.closed

    def close(self) -> None:
        self._inner.close()


class LocalIcyRadio(LocalRadio):
    """A station with in-band ICY titles; `metaint` is the audio bytes between blocks."""

    thread_name = "local-icy-radio"

    def __init__(
        self,
        songs: Sequence[RadioSong],
        *,
        metaint: int = 2000,
        titles: Sequence[str | None] | None = None,
        **options: object,
    ) -> None:
        self.metaint = metaint
        self.titles = list(titles) if titles is not None else None
        super().__init__(songs, **options)  # type: ignore[arg-type]

    def title_on_air(self) -> str | None:
        position_s = (self.seconds_on_air() or 0.0) % self.duration_s
        for index, slot in enumerate(self.schedule):
            if slot.start_s <= position_s < slot.end_s:
                if self.titles is not None:
                    return self.titles[index]
                return f"{slot.song.artist} - {slot.song.title}"
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Icy-MetaData") != "1":
            super()._serve(handler)
            return
        end_headers = handler.end_headers

        def end_headers_with_metaint() -> None:
            handler.send_header("icy-metaint", str(self.metaint))
            end_headers()
            handler.wfile = _IcyWriter(handler.wfile, self.metaint, self.title_on_air)  # type: ignore[assignment]

        handler.end_headers = end_headers_with_metaint  # type: ignore[method-assign]
        super()._serve(handler)
