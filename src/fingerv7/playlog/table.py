"""The music_log table: its original shape, creating it, and fitting rows to an existing one.

Users already have this table, written by the original system; we must write rows they can read
and never fail an insert because a value is wider than a column. :class:`TableShape` is read
from `information_schema` once per connection: only columns that exist are written, and text is
cut to each column's width. `identified_by` (the instance id, `VARCHAR(10)` in the original)
keeps its *last* characters, where ids carry their number (`fingerv7-001` → `ngerv7-001`);
other text keeps its first characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import sql

from fingerv7.playlog.play import Play

# The original columns. New tables get them with one difference: identified_by is 64 wide (the
# longest INSTANCE_ID) instead of 10, which readers of the original table do not notice.
CREATE_TABLE_SQL = """
CREATE TABLE {table} (
    id SERIAL PRIMARY KEY,
    date DATE,
    time TIME,
    name VARCHAR(255),
    artist VARCHAR(255),
    song_title VARCHAR(255),
    isrc VARCHAR(50),
    cidade VARCHAR(100),
    estado VARCHAR(50),
    regiao VARCHAR(50),
    segmento VARCHAR(100),
    label VARCHAR(255),
    genre VARCHAR(100),
    identified_by VARCHAR(64),
    created_at TIMESTAMP DEFAULT now(),
    UNIQUE (name, artist, song_title, date, time)
)
"""

# Without these the duplicate check cannot work; every other column is optional.
REQUIRED_COLUMNS = ("date", "time", "name", "artist", "song_title")
OPTIONAL_COLUMNS = (
    "isrc",
    "cidade",
    "estado",
    "regiao",
    "segmento",
    "label",
    "genre",
    "identified_by",
)


class TableShapeError(Exception):
    """The existing table lacks a column the writer cannot do without."""


def table_identifier(table_name: str) -> sql.Identifier:
    """`music_log` or `schema.music_log` as a quoted SQL identifier."""
    return sql.Identifier(*table_name.split(".", 1))


def split_table_name(table_name: str) -> tuple[str | None, str]:
    schema, _, name = table_name.rpartition(".")
    return (schema or None), name


def fit_text(value: str | None, width: int | None, *, keep_end: bool = False) -> str | None:
    """`value` cut to `width` characters (None: unlimited); `keep_end` keeps the tail."""
    if value is None or width is None or len(value) <= width:
        return value
    if width <= 0:
        return ""
    return value[-width:] if keep_end else value[:width]


@dataclass(frozen=True, slots=True)
class TableShape:
    """The columns of the existing table: name → character width (None when unlimited)."""

    widths: dict[str, int | None]

    def __post_init__(self) -> None:
        missing = [column for column in REQUIRED_COLUMNS if column not in self.widths]
        if missing:
            raise TableShapeError(f"the music_log table has no column {', '.join(missing)}")

    @property
    def written_columns(self) -> tuple[str, ...]:
        return REQUIRED_COLUMNS + tuple(c for c in OPTIONAL_COLUMNS if c in self.widths)

    def row(self, play: Play, zone: ZoneInfo) -> dict[str, Any]:
        """The values to insert for `play`, fitted to the columns that exist."""
        heard_date, heard_time = play.local_date_time(zone)
        texts: dict[str, str | None] = {
            "name": play.stream_name,
            "artist": play.artist,
            "song_title": play.song_title,
            "isrc": play.isrc,
            "cidade": play.cidade,
            "estado": play.estado,
            "regiao": play.regiao,
            "segmento": play.segmento,
            "label": play.label,
            "genre": play.genre,
            "identified_by": play.identified_by,
        }
        values: dict[str, Any] = {"date": heard_date, "time": heard_time}
        for column, text in texts.items():
            if column in self.widths:
                values[column] = fit_text(
                    text, self.widths[column], keep_end=column == "identified_by"
                )
        return values


SHAPE_QUERY = """
SELECT column_name, character_maximum_length
FROM information_schema.columns
WHERE table_schema = COALESCE(%(schema)s, current_schema()) AND table_name = %(name)s
"""
