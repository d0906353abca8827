"""Static sharding and rotation (core/sharding.py): the original rule, and rotation that rotates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerv7.core.sharding import (
    SECONDS_PER_HOUR,
    ShardSpec,
    belongs_to,
    current_offset,
    next_rotation_s,
    owner_of,
    rotation_offset,
    rotation_period,
    select_shard,
    server_number_from_id,
)

totals = st.integers(min_value=1, max_value=40)
stream_numbers = st.integers(min_value=0, max_value=10_000)
periods = st.integers(min_value=0, max_value=10**7)


def test_unrotated_rule_is_the_originals() -> None:
    # int(index) % TOTAL_SERVERS == SERVER_ID - 1, with 1-based SERVER_ID.
    shard = ShardSpec(server_number=2, total_servers=3)
    assert select_shard(range(10), shard) == [1, 4, 7]
    assert select_shard(range(10), ShardSpec(1, 3)) == [0, 3, 6, 9]


@given(totals, stream_numbers, st.integers(min_value=0, max_value=100))
def test_every_stream_has_exactly_one_owner(total: int, number: int, offset: int) -> None:
    owners = [s for s in range(1, total + 1) if belongs_to(number, ShardSpec(s, total), offset)]
    assert owners == [owner_of(number, total, offset)]


@given(totals, periods, st.data())
def test_rotation_visits_every_shard_once_per_cycle(
    total: int, first: int, data: st.DataObject
) -> None:
    server = data.draw(st.integers(min_value=1, max_value=total))
    shard = ShardSpec(server, total)
    # A shard is a residue class of stream numbers; which one does `server` run each period?
    seen = [
        next(r for r in range(total) if belongs_to(r, shard, rotation_offset(p, total)))
        for p in range(first, first + total)
    ]
    assert sorted(seen) == list(range(total))


@given(st.integers(min_value=2, max_value=40), periods)
def test_rotation_changes_the_shard_every_period(total: int, period: int) -> None:
    shard = ShardSpec(1, total)
    now = select_shard(range(total), shard, rotation_offset(period, total))
    after = select_shard(range(total), shard, rotation_offset(period + 1, total))
    assert now != after


@given(st.floats(min_value=0, max_value=4e9), st.floats(min_value=0.01, max_value=1000))
def test_next_rotation_is_the_start_of_the_next_period(now_s: float, hours: float) -> None:
    boundary = next_rotation_s(now_s, hours)
    assert boundary > now_s
    assert rotation_period(boundary + 1e-3, hours) == rotation_period(now_s, hours) + 1


def test_offset_is_zero_without_rotation() -> None:
    assert current_offset(1e9, 8, rotation_enabled=False, rotation_hours=24) == 0
    day = 24 * SECONDS_PER_HOUR
    assert current_offset(3 * day + 5, 8, rotation_enabled=True, rotation_hours=24) == 3
    assert current_offset(11 * day + 5, 8, rotation_enabled=True, rotation_hours=24) == 3


@pytest.mark.parametrize(
    ("server_id", "number"), [("3", 3), ("fingerv7-003", 3), ("w12", 12), (" 7 ", 7)]
)
def test_server_number_from_id(server_id: str, number: int) -> None:
    assert server_number_from_id(server_id) == number


@pytest.mark.parametrize("server_id", ["fingerv-x", "0", "srv-000", ""])
def test_server_number_needs_a_positive_trailing_number(server_id: str) -> None:
    with pytest.raises(ValueError, match="SERVER_ID"):
        server_number_from_id(server_id)


def test_shard_spec_rejects_impossible_servers() -> None:
    with pytest.raises(ValueError, match="between 1 and 3"):
        ShardSpec(4, 3)
    with pytest.raises(ValueError, match="at least 1"):
        ShardSpec(1, 0)
    with pytest.raises(ValueError, match="positive"):
        rotation_period(10, 0)
