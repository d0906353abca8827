"""A digest of a set of rows, computed by PostgreSQL: a change detector, not a security measure.

`count(*)` and the sum of a 64-bit hash of each row's text (`hashtextextended`, PostgreSQL 11
and later). Order does not matter, so no sort is needed; two equal digests mean, but for a
hash collision, the same rows. The monitor uses it to skip reading tables that did not change
(the streams source, the instances).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func


def row_digest(row: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The two columns of a digest of `row` (a whole-row reference or a ROW(...) of columns)."""
    return func.count(), func.sum(func.hashtextextended(cast(row, Text), 0))
