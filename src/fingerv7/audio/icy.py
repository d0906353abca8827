"""ICY (Shoutcast/Icecast) in-stream metadata: read `StreamTitle` without corrupting the audio.

A client that sends `Icy-MetaData: 1` gets, from servers that support it, an `icy-metaint: N`
header and then, after every N audio bytes, one length byte L and 16·L bytes of metadata
(`StreamTitle='Artist - Title';StreamUrl='...';`, NUL-padded). The metadata must be taken out
before the bytes reach the decoder: left in, it is heard as corrupt frames. :class:`IcyDemuxer`
does that across arbitrary chunk boundaries; :class:`IcyCapture` is a
:class:`~fingerv7.audio.capture.StreamCapture` that runs its response through one and keeps the
latest title (a low-trust source: see :func:`fingerv7.audio.fallback.recognition_from_icy`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import cast

import httpx

from fingerv7.audio.capture import StreamCapture
from fingerv7.audio.decoding import ByteFeed
from fingerv7.processing import StreamStats

_TITLE = re.compile(rb"StreamTitle='(.*?)';", re.DOTALL)


def stream_title(metadata: bytes) -> str | None:
    """The StreamTitle in a metadata block (UTF-8, else Latin-1 as old servers send), or None."""
    found = _TITLE.search(metadata.rstrip(b"\0"))
    if found is None:
        return None
    raw = found.group(1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip() or None


class IcyDemuxer:
    """Splits an ICY byte stream into audio bytes and metadata blocks, chunk by chunk."""

    def __init__(self, metaint: int, on_title: Callable[[str], None] | None = None) -> None:
        if metaint <= 0:
            raise ValueError("icy-metaint must be positive")
        self.metaint = metaint
        self._on_title = on_title
        self.title: str | None = None
        self.titles_seen = 0
        self._audio_left = metaint  # audio bytes before the next length byte
        self._meta_left: int | None = None  # metadata bytes still to read, when inside a block
        self._meta = bytearray()

    def feed(self, chunk: bytes) -> bytes:
        """The audio bytes in `chunk`; metadata found on the way updates :attr:`title`."""
        audio = bytearray()
        position = 0
        while position < len(chunk):
            if self._meta_left is None and self._audio_left > 0:
                take = min(self._audio_left, len(chunk) - position)
                audio += chunk[position : position + take]
                position += take
                self._audio_left -= take
            elif self._meta_left is None:
                self._meta_left = chunk[position] * 16
                position += 1
                self._meta.clear()
                self._end_block_if_done()
            else:
                take = min(self._meta_left, len(chunk) - position)
                self._meta += chunk[position : position + take]
                position += take
                self._meta_left -= take
                self._end_block_if_done()
        return bytes(audio)

    def _end_block_if_done(self) -> None:
        if self._meta_left != 0:
            return
        if self._meta:
            title = stream_title(bytes(self._meta))
            if title is not None:
                self.title = title
                self.titles_seen += 1
                if self._on_title is not None:
                    self._on_title(title)
        self._meta_left = None
        self._audio_left = self.metaint


class _DemuxedResponse:
    """The part of an httpx response the capture reads, with the metadata taken out."""

    def __init__(self, response: httpx.Response, demuxer: IcyDemuxer) -> None:
        self._response = response
        self._demuxer = demuxer

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_raw():
            audio = self._demuxer.feed(chunk)
            if audio:
                yield audio


class IcyCapture(StreamCapture):
    """A stream capture that also reads ICY titles (when the server sends `icy-metaint`)."""

    icy_title: str | None = None

    async def _pump(
        self,
        response: httpx.Response,
        feed: ByteFeed,
        decoding: asyncio.Future[None],
        stats: StreamStats,
    ) -> None:
        metaint = response.headers.get("icy-metaint", "")
        if metaint.isdigit() and int(metaint) > 0:
            demuxer = IcyDemuxer(int(metaint), on_title=self._new_title)
            response = cast(httpx.Response, _DemuxedResponse(response, demuxer))
        await super()._pump(response, feed, decoding, stats)

    def _new_title(self, title: str) -> None:
        self.icy_title = title
