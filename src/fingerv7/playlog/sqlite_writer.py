"""music_log in a SQLite file: the embedded default for one machine (`fingerv7 demo`).

Same contract as :class:`~fingerv7.playlog.writer.MusicLogWriter`: one row per play, the
duplicate window checked and the row inserted in one `BEGIN IMMEDIATE` transaction, which
SQLite serialises across processes as PostgreSQL's advisory lock does across instances. The
table has the original's columns, so the orchestrator's `/identifications/recent` reads it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fingerv7.playlog.play import Play
from fingerv7.playlog.table import REQUIRED_COLUMNS, TableShape
from fingerv7.playlog.writer import PlayLogUnavailable, PlayRejected, WriteOutcome

BUSY_TIMEOUT_S = 10.0
_CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT, time TEXT, name TEXT, artist TEXT,
    song_title TEXT, isrc TEXT, cidade TEXT, estado TEXT, regiao TEXT, segmento TEXT,
    label TEXT, genre TEXT, identified_by TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (name, artist, song_title, date, time)
)
"""
_NEARBY = """
SELECT 1 FROM {table}
WHERE name = ? AND artist = ? AND song_title = ?
  AND datetime(date || ' ' || time) > datetime(?) AND datetime(date || ' ' || time) < datetime(?)
LIMIT 1
"""


class SqliteMusicLogWriter:
    """Writes plays to `table_name` in the SQLite file at `path` (created if missing)."""

    def __init__(self, path: Path, table_name: str, *, window_s: float, zone: ZoneInfo) -> None:
        if not table_name.isidentifier():
            raise ValueError(f"music_log table name {table_name!r} is not a plain SQL name")
        self.path = path
        self.table_name = table_name
        self.window_s = window_s
        self.zone = zone
        self._shape: TableShape | None = None

    async def write(self, play: Play) -> WriteOutcome:
        try:
            return await asyncio.to_thread(self._write, play)
        except sqlite3.IntegrityError as error:
            raise PlayRejected(f"IntegrityError: {error}") from error
        except sqlite3.Error as error:
            raise PlayLogUnavailable(f"{type(error).__name__}: {error}") from error

    def _write(self, play: Play) -> WriteOutcome:
        with sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None) as db:
            shape = self._shape or self._ensure_table(db)
            values = shape.row(play, self.zone)
            row = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}
            db.execute("BEGIN IMMEDIATE")
            try:
                if self.window_s > 0 and self._logged_nearby(db, row, values):
                    db.execute("COMMIT")
                    return WriteOutcome.DUPLICATE
                columns = shape.written_columns
                cursor = db.execute(
                    f"INSERT OR IGNORE INTO {self.table_name} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})",
                    [row[c] for c in columns],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return WriteOutcome.INSERTED if cursor.rowcount == 1 else WriteOutcome.DUPLICATE

    def _logged_nearby(
        self, db: sqlite3.Connection, row: dict[str, object], values: dict[str, object]
    ) -> bool:
        heard = datetime.combine(values["date"], values["time"])  # type: ignore[arg-type]
        window = timedelta(seconds=self.window_s)
        found = db.execute(
            _NEARBY.format(table=self.table_name),
            [
                row["name"],
                row["artist"],
                row["song_title"],
                str(heard - window),
                str(heard + window),
            ],
        ).fetchone()
        return found is not None

    def _ensure_table(self, db: sqlite3.Connection) -> TableShape:
        db.execute(_CREATE.format(table=self.table_name))
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({self.table_name})")]
        self._shape = TableShape({str(c): None for c in columns})
        return self._shape

    async def aclose(self) -> None:
        """Nothing held open between writes."""


__all__ = ["REQUIRED_COLUMNS", "SqliteMusicLogWriter"]
