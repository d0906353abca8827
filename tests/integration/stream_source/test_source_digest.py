"""The source's digest: equal while the table is unchanged, different after any change.

The monitor skips reading 100,000 rows when two digests are equal, so a change the digest
missed would be a change the orchestrator never applies."""

from __future__ import annotations

import pytest

from fingerv7.storage.stream_source import SqlStreamSource

from .conftest import SourceDatabase
from .test_table_shapes import fill_manual_shape


async def test_digest_is_stable_while_the_table_is_unchanged(
    source_database: SourceDatabase,
) -> None:
    await fill_manual_shape(source_database)
    source = SqlStreamSource(source_database.engine)

    first, second = await source.digest(), await source.digest()

    if source_database.dialect == "sqlite":
        assert first is None  # no hash function: every sync reads the table
    else:
        assert first is not None and first == second
        assert first[0] == 5  # rows, inactive and unusable ones included


@pytest.mark.parametrize("source_database", ["postgresql"], indirect=True)
async def test_digest_changes_with_every_kind_of_change(source_database: SourceDatabase) -> None:
    await fill_manual_shape(source_database)
    source = SqlStreamSource(source_database.engine)
    seen = [await source.digest()]
    for statement in (
        "UPDATE streams SET url = 'https://r1.example/other' WHERE id = 1",
        'UPDATE streams SET metadata = \'{"region": "Sul"}\' WHERE id = 1',
        "UPDATE streams SET active = false WHERE id = 3",
        "INSERT INTO streams (id, url, name) VALUES (9, 'https://r9.example/live', 'Radio 9')",
        "DELETE FROM streams WHERE id = 9",
        # Two rows trading their urls: same multiset of values, other streams.
        "UPDATE streams SET url = CASE id WHEN 1 THEN 'https://r3.example/live' "
        "ELSE 'https://r1.example/other' END WHERE id IN (1, 3)",
    ):
        await source_database.run(statement)
        seen.append(await source.digest())

    assert None not in seen
    # Deleting row 9 restores the digest from before it was inserted: a digest of content,
    # not a change counter. Every other step is new.
    assert seen[5] == seen[3]
    assert len(set(seen)) == len(seen) - 1


async def test_digest_of_a_missing_table_is_unknown(
    source_database: SourceDatabase,
) -> None:
    source = SqlStreamSource(source_database.engine, "no_such_table")

    assert await source.digest() is None
