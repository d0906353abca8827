"""Rows of a streams table, in either shape found in the wild, turned into `SourceStream`s.

The two shapes (see docs/streams.md):
- the manual's: `id, url, name, status, assigned_to, last_check, created_at, updated_at,
  metadata, active`;
- the original system's: `url, name, sheet, cidade, estado, regiao, segmento, index`, where
  `index` is the stream number (often stored as text) and `id`/`active` may be missing.

The stream id is `int(index)` when the table has an `index` column (the number the original
workers and their sharding use), otherwise `id`. Column names are matched case-insensitively.
This module holds only the rules; reading the table is `stream_source`'s job.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# Columns that are either read into a SourceStream field or are the old orchestrators' own
# bookkeeping; every other column becomes metadata.
RESERVED_COLUMNS = frozenset(
    {
        "id",
        "index",
        "url",
        "name",
        "active",
        "metadata",
        "status",
        "assigned_to",
        "assigned_server",
        "last_check",
        "created_at",
        "updated_at",
    }
)
TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y", "sim", "s", "on", "active", "ativo"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "nao", "não", "off", "inactive", "inativo"})
_INTEGER_TEXT = re.compile(r"^\+?\d+(\.0*)?$")
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class SourceStream:
    """A stream to monitor, as read from the source table.

    `metadata` holds every column the orchestrator does not interpret (cidade, estado, regiao,
    segmento, sheet, ...) merged over the table's `metadata` JSON column; it is JSON-able.
    """

    id: int
    url: str
    name: str
    active: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        # The generated hash would fail on the metadata dict; equal streams share these fields.
        return hash((self.id, self.url, self.name, self.active))

    @property
    def region(self) -> str | None:
        """The region the location strategy groups by: `metadata["regiao"]` or `["region"]`."""
        for key in ("regiao", "region"):
            value = self.metadata.get(key)
            if value is not None and str(value).strip():
                return str(value).strip()
        return None


def parse_stream_id(value: object) -> int | None:
    """A non-negative integer id from an int, an integral float/Decimal or text like ' 12 '."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float | Decimal):
        if not math.isfinite(value) or value < 0 or value != int(value):
            return None
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        return int(value.strip().split(".")[0])
    return None


def parse_flag(value: object) -> bool | None:
    """True/False from a boolean, a number or words like 'sim'/'false'; None when unrecognised."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def to_json_value(value: object) -> Any:
    """A JSON-able equivalent of a database value (dates as ISO text, Decimals as numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(item) for item in value]
    return str(value)


def metadata_from_json_column(value: object) -> dict[str, Any]:
    """The table's `metadata` column as a dict: jsonb arrives as a dict, text as JSON text."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"metadata": value}
    if isinstance(value, Mapping):
        converted: dict[str, Any] = to_json_value(value)
        return converted
    return {"metadata": to_json_value(value)}


@dataclass(frozen=True)
class StreamColumns:
    """Which actual column plays which part, decided once from the table's column names."""

    id_column: str
    url_column: str
    name_column: str | None
    active_column: str | None
    metadata_column: str | None
    extra_columns: tuple[str, ...]

    @classmethod
    def from_names(cls, names: Sequence[str]) -> StreamColumns:
        """Raises ValueError naming the missing column when there is no url or no id/index."""
        by_lower: dict[str, str] = {}
        for name in names:
            by_lower.setdefault(name.strip().lower(), name)
        if "url" not in by_lower:
            raise ValueError("has no 'url' column")
        id_column = by_lower.get("index") or by_lower.get("id")
        if id_column is None:
            raise ValueError("has neither an 'index' nor an 'id' column to number the streams")
        return cls(
            id_column=id_column,
            url_column=by_lower["url"],
            name_column=by_lower.get("name"),
            active_column=by_lower.get("active"),
            metadata_column=by_lower.get("metadata"),
            extra_columns=tuple(
                actual for lower, actual in by_lower.items() if lower not in RESERVED_COLUMNS
            ),
        )


@dataclass
class ConversionReport:
    """What a load produced, plus what it had to leave out (for one warning line each)."""

    streams: list[SourceStream] = field(default_factory=list)
    skipped_count: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    duplicate_ids: list[int] = field(default_factory=list)
    inactive_count: int = 0

    def note_skipped(self, example: str) -> None:
        self.skipped_count += 1
        if len(self.skipped_examples) < _MAX_EXAMPLES:
            self.skipped_examples.append(example)

    def warnings(self, table_description: str) -> list[str]:
        """One log line per kind of problem (rows skipped, ids repeated), none when all is well."""
        lines: list[str] = []
        if self.skipped_count:
            lines.append(
                f"[STREAM] skipped {self.skipped_count} row(s) of {table_description} without "
                f"a usable id or url, e.g. {'; '.join(self.skipped_examples)}"
            )
        if self.duplicate_ids:
            shown = ", ".join(str(stream_id) for stream_id in self.duplicate_ids[:5])
            lines.append(
                f"[STREAM] {len(self.duplicate_ids)} row(s) of {table_description} repeat a "
                f"stream id already used by an earlier row and were ignored: ids {shown}"
            )
        return lines


def convert_rows(
    columns: StreamColumns, rows: Iterable[Mapping[Any, Any]], *, include_inactive: bool = False
) -> ConversionReport:
    """Well-formed streams sorted by id, active ones only unless `include_inactive`.

    Per id the first active row (in table order) wins, so a stream replaced by a new row with
    the same number while the old row was merely deactivated resolves to the new row.
    """
    report = ConversionReport()
    active: list[SourceStream] = []
    inactive: list[SourceStream] = []
    for position, row in enumerate(rows, start=1):
        stream = _convert_row(columns, row, position, report)
        if stream is not None:
            (active if stream.active else inactive).append(stream)
    report.inactive_count = len(inactive)
    seen: set[int] = set()
    for stream in active + inactive if include_inactive else active:
        if stream.id in seen:
            if stream.active:
                report.duplicate_ids.append(stream.id)
            continue
        seen.add(stream.id)
        report.streams.append(stream)
    report.streams.sort(key=lambda stream: stream.id)
    return report


def _convert_row(
    columns: StreamColumns, row: Mapping[Any, Any], position: int, report: ConversionReport
) -> SourceStream | None:
    raw_id = row.get(columns.id_column)
    stream_id = parse_stream_id(raw_id)
    if stream_id is None:
        report.note_skipped(f"row {position}: {columns.id_column} {raw_id!r} is not a number")
        return None
    url = str(row.get(columns.url_column) or "").strip()
    if not url:
        report.note_skipped(f"row {position} ({columns.id_column} {stream_id}): empty url")
        return None
    name = str(row.get(columns.name_column) or "").strip() if columns.name_column else ""
    active = True
    if columns.active_column is not None:
        active = parse_flag(row.get(columns.active_column)) is not False
    return SourceStream(
        id=stream_id,
        url=url,
        name=name or f"stream {stream_id}",
        active=active,
        metadata=_metadata_of(columns, row),
    )


def _metadata_of(columns: StreamColumns, row: Mapping[Any, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if columns.metadata_column is not None:
        metadata = metadata_from_json_column(row.get(columns.metadata_column))
    for column in columns.extra_columns:
        value = to_json_value(row.get(column))
        if value is not None or column not in metadata:
            metadata[column] = value
    return metadata
