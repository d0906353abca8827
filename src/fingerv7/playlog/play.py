"""A play: one song heard on one stream, as it will become a music_log row."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

STREAM_METADATA_COLUMNS = ("cidade", "estado", "regiao", "segmento")


@dataclass(frozen=True, slots=True)
class Play:
    """What music_log records about a play; `heard_at` is an aware UTC time."""

    stream_id: int
    stream_name: str
    artist: str
    song_title: str
    heard_at: datetime
    identified_by: str
    isrc: str | None = None
    label: str | None = None
    genre: str | None = None
    cidade: str | None = None
    estado: str | None = None
    regiao: str | None = None
    segmento: str | None = None
    recognizer: str = "catalog"

    def __post_init__(self) -> None:
        if self.heard_at.tzinfo is None:
            raise ValueError("heard_at must be timezone-aware")

    def local_date_time(self, zone: ZoneInfo) -> tuple[date, time]:
        """The row's `date` and `time`: local wall-clock time in `zone`, whole seconds."""
        local = self.heard_at.astimezone(zone).replace(microsecond=0, tzinfo=None)
        return local.date(), local.time()

    def to_json(self) -> str:
        fields = asdict(self)
        fields["heard_at"] = self.heard_at.astimezone(UTC).isoformat()
        return json.dumps(fields, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Play:
        fields: dict[str, Any] = json.loads(text)
        fields["heard_at"] = datetime.fromisoformat(fields["heard_at"])
        return cls(**fields)


def stream_metadata_fields(metadata: dict[str, Any]) -> dict[str, str | None]:
    """cidade/estado/regiao/segmento from a stream's metadata (missing or blank: None)."""
    fields: dict[str, str | None] = {}
    for column in STREAM_METADATA_COLUMNS:
        value = metadata.get(column)
        text = None if value is None else str(value).strip()
        fields[column] = text or None
    return fields
