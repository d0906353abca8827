"""Static sharding for workers that run without an orchestrator (`USE_ORCHESTRATOR=false`).

The original rule, kept for compatibility: stream number `n` belongs to server `s` (1-based) of
`T` servers when `n % T == s - 1`. Rotation shifts that rule by one server every period, so over
`T` consecutive periods every server runs every shard exactly once. (The original added the same
offset to both sides of the comparison, which cancels out: it never rotated.)

Periods are counted from the Unix epoch, so servers agree on the current period without talking
to each other, as long as their clocks agree. Pure functions, no clock: callers pass `now_s`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0

_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """Which slice of the streams one server runs: `server_number` of `total_servers` (1-based)."""

    server_number: int
    total_servers: int

    def __post_init__(self) -> None:
        if self.total_servers < 1:
            raise ValueError(f"total_servers must be at least 1, got {self.total_servers}")
        if not 1 <= self.server_number <= self.total_servers:
            raise ValueError(
                f"server_number must be between 1 and {self.total_servers}, "
                f"got {self.server_number}"
            )


def server_number_from_id(server_id: str) -> int:
    """The 1-based server number in an id: `"3"` → 3, `"fingerv7-003"` → 3.

    The manual names servers `fingerv7-001`…; the original used plain numbers. Raises ValueError
    with a sentence an operator can act on when the id has no trailing number or it is 0.
    """
    match = _TRAILING_NUMBER.search(server_id.strip())
    if match is None or int(match.group(1)) < 1:
        raise ValueError(
            f"SERVER_ID {server_id!r} does not end in a server number of 1 or more; "
            "use e.g. SERVER_ID=3 or SERVER_ID=fingerv7-003"
        )
    return int(match.group(1))


def rotation_period(now_s: float, rotation_hours: float) -> int:
    """Index of the rotation period containing `now_s` (seconds since the Unix epoch)."""
    if rotation_hours <= 0:
        raise ValueError(f"rotation_hours must be positive, got {rotation_hours}")
    return math.floor(now_s / (rotation_hours * SECONDS_PER_HOUR))


def next_rotation_s(now_s: float, rotation_hours: float) -> float:
    """Epoch seconds at which the period after the one containing `now_s` begins."""
    period_s = rotation_hours * SECONDS_PER_HOUR
    return (rotation_period(now_s, rotation_hours) + 1) * period_s


def rotation_offset(period: int, total_servers: int) -> int:
    """How many servers the shards have shifted by in `period` (0 when rotation is off)."""
    return period % total_servers


def owner_of(stream_number: int, total_servers: int, offset: int = 0) -> int:
    """The 1-based server that runs `stream_number` when shards are shifted by `offset`."""
    return (stream_number + offset) % total_servers + 1


def belongs_to(stream_number: int, shard: ShardSpec, offset: int = 0) -> bool:
    """True when `stream_number` is in `shard` for the given rotation offset."""
    return owner_of(stream_number, shard.total_servers, offset) == shard.server_number


def select_shard(stream_numbers: Iterable[int], shard: ShardSpec, offset: int = 0) -> list[int]:
    """The stream numbers of `shard`, in ascending order."""
    return sorted(n for n in stream_numbers if belongs_to(n, shard, offset))


def current_offset(
    now_s: float, total_servers: int, *, rotation_enabled: bool, rotation_hours: float
) -> int:
    """The rotation offset in force at `now_s`; 0 when rotation is disabled."""
    if not rotation_enabled:
        return 0
    return rotation_offset(rotation_period(now_s, rotation_hours), total_servers)
