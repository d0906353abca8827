"""A stream source that is a list: the monitor's `StreamSource` without a table."""

from __future__ import annotations

from fingerv7.storage.stream_records import SourceStream


class ListedStreams:
    """Streams 1..count at radio.example (a `StreamSource`)."""

    description = "listed streams"

    def __init__(self, count: int) -> None:
        self.streams = [
            SourceStream(i, f"http://radio.example/{i}", f"Radio {i}") for i in range(1, count + 1)
        ]

    async def load(self) -> list[SourceStream]:
        return list(self.streams)

    async def digest(self) -> None:
        """No digest: every sync compares the list (it may have been edited in place)."""
        return None
