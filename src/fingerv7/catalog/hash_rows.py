"""Moving hash rows in and out of the database in bulk.

PostgreSQL gets binary COPY both ways (one round trip, no per-row Python objects); SQLite gets
`executemany` in batches. Rows are fixed-size (three NOT NULL int4 columns), so the binary COPY
stream is read straight into a NumPy record array.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, insert, select

from fingerv7.catalog.schema import catalog_hashes

IntArray = npt.NDArray[np.int64]

_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("hash_length", ">i4"),
        ("hash", ">i4"),
        ("track_length", ">i4"),
        ("track_id", ">i4"),
        ("frame_length", ">i4"),
        ("frame", ">i4"),
    ]
)
_SQLITE_BATCH_ROWS = 50_000


def insert_hash_rows(
    connection: Connection, track_id: int, hashes: IntArray, frames: IntArray
) -> None:
    """Store one track's hashes inside the caller's transaction."""
    if hashes.size == 0:
        return
    if connection.dialect.name == "postgresql":
        rows = np.zeros(hashes.size, dtype=_COPY_ROW)
        rows["fields"] = 3
        rows["hash_length"] = rows["track_length"] = rows["frame_length"] = 4
        rows["hash"], rows["track_id"], rows["frame"] = hashes, track_id, frames
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            statement = "COPY catalog_hashes (hash, track_id, frame) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                copy.write(_COPY_SIGNATURE + rows.tobytes() + _COPY_TRAILER)
        return
    for start in range(0, hashes.size, _SQLITE_BATCH_ROWS):
        stop = start + _SQLITE_BATCH_ROWS
        connection.execute(
            insert(catalog_hashes),
            [
                {"hash": int(value), "track_id": track_id, "frame": int(frame)}
                for value, frame in zip(hashes[start:stop], frames[start:stop], strict=True)
            ],
        )


def read_all_hash_rows(connection: Connection) -> tuple[IntArray, IntArray, IntArray]:
    """Every (hash, track_id, frame) in the catalog, as three arrays."""
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            statement = "COPY catalog_hashes (hash, track_id, frame) TO STDOUT (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                payload = b"".join(bytes(chunk) for chunk in copy)
        body = payload[len(_COPY_SIGNATURE) : len(payload) - len(_COPY_TRAILER)]
        rows = np.frombuffer(body, dtype=_COPY_ROW)
        return (
            rows["hash"].astype(np.int64),
            rows["track_id"].astype(np.int64),
            rows["frame"].astype(np.int64),
        )
    parts = list(_sqlite_chunks(connection))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    table = np.concatenate(parts)
    return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()


def _sqlite_chunks(connection: Connection) -> Iterator[IntArray]:
    query = select(catalog_hashes.c.hash, catalog_hashes.c.track_id, catalog_hashes.c.frame)
    result = connection.execution_options(yield_per=_SQLITE_BATCH_ROWS).execute(query)
    for partition in result.partitions():
        yield np.asarray(partition, dtype=np.int64).reshape(-1, 3)


def select_hash_rows(
    connection: Connection, wanted: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Rows whose hash is in `wanted`: the per-query database lookup (measured, not the default)."""
    values = sorted({int(value) for value in wanted})
    found: list[tuple[int, int, int]] = []
    for start in range(0, len(values), 5000):
        chunk = values[start : start + 5000]
        query = select(
            catalog_hashes.c.hash, catalog_hashes.c.track_id, catalog_hashes.c.frame
        ).where(catalog_hashes.c.hash.in_(chunk))
        found.extend((int(h), int(t), int(f)) for h, t, f in connection.execute(query))
    table = np.asarray(found, dtype=np.int64).reshape(-1, 3)
    return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()
