"""Reading a CSV or JSON file of streams for `fingerv7 streams import`.

CSV comes from spreadsheets: a header row, `,` `;` or tab as delimiter (Brazilian Excel writes
`;`), UTF-8 with or without BOM, or Windows-1252. JSON is a list of objects, or an object with
a `streams` list. Every row keeps its position ("line 12", "record 3") so validation errors
point at the place in the file a person has to fix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CSV_DELIMITERS = (",", ";", "\t")
_JSON_SUFFIXES = frozenset({".json"})
_CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
_REQUIRED_CSV_COLUMNS = ("url", "name")


class StreamFileError(ValueError):
    """The file cannot be read as a list of streams (format, encoding, header)."""


@dataclass(frozen=True)
class StreamFileRow:
    """One stream as written in the file, with where it was written."""

    position: str
    values: dict[str, Any]
    problems: tuple[str, ...] = ()


def parse_stream_file(path: str | Path) -> list[StreamFileRow]:
    """The rows of a CSV or JSON streams file (format by suffix, else by first character)."""
    file_path = Path(path)
    try:
        raw = file_path.read_bytes()
    except OSError as error:
        raise StreamFileError(f"cannot read {file_path}: {error.strerror or error}") from None
    content = _decode(raw, file_path)
    suffix = file_path.suffix.lower()
    if suffix in _JSON_SUFFIXES or (
        suffix not in _CSV_SUFFIXES and content.lstrip().startswith(("[", "{"))
    ):
        return _parse_json(content, file_path)
    return _parse_csv(content, file_path)


def _decode(raw: bytes, file_path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        raise StreamFileError(f"{file_path} is neither UTF-8 nor Windows-1252 text") from None


def _parse_json(content: str, file_path: Path) -> list[StreamFileRow]:
    try:
        document = json.loads(content)
    except json.JSONDecodeError as error:
        raise StreamFileError(
            f"{file_path} is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from None
    if isinstance(document, dict) and isinstance(document.get("streams"), list):
        document = document["streams"]
    if not isinstance(document, list):
        raise StreamFileError(
            f'{file_path}: expected a JSON list of streams (or {{"streams": [...]}}), '
            f"found {type(document).__name__}"
        )
    rows: list[StreamFileRow] = []
    for number, record in enumerate(document, start=1):
        if not isinstance(record, dict):
            raise StreamFileError(
                f"{file_path}: record {number} is a {type(record).__name__}, not an object "
                'like {"url": "https://...", "name": "..."}'
            )
        rows.append(StreamFileRow(position=f"record {number}", values=dict(record)))
    return rows


def _parse_csv(content: str, file_path: Path) -> list[StreamFileRow]:
    first_line = content.lstrip("\r\n").split("\n", 1)[0]
    if not first_line.strip():
        raise StreamFileError(f"{file_path} is empty: expected a header row with url and name")
    delimiter = max(_CSV_DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[StreamFileRow] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = _checked_header(record, file_path)
                continue
            rows.append(_csv_row(header, record, reader.line_num))
    except csv.Error as error:
        raise StreamFileError(f"{file_path} line {reader.line_num}: {error}") from None
    return rows


def _checked_header(record: list[str], file_path: Path) -> list[str]:
    header = [cell.strip() for cell in record]
    lowered = {cell.lower() for cell in header}
    missing = [column for column in _REQUIRED_CSV_COLUMNS if column not in lowered]
    if missing:
        raise StreamFileError(
            f"{file_path}: the header row has no {' or '.join(repr(c) for c in missing)} "
            f"column (found: {', '.join(repr(cell) for cell in header)})"
        )
    return header


def _csv_row(header: list[str], record: list[str], line_number: int) -> StreamFileRow:
    values: dict[str, Any] = {}
    for column, cell in zip(header, record, strict=False):
        if column and cell.strip():
            values[column] = cell.strip()
    problems: tuple[str, ...] = ()
    if any(cell.strip() for cell in record[len(header) :]):
        problems = (f"{len(record)} values but the header has {len(header)} columns",)
    return StreamFileRow(position=f"line {line_number}", values=values, problems=problems)
