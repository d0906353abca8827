"""Guarantees 4 and 5 under a move cap: they hold eventually, after a known number of rounds.

With `max_voluntary_moves` set, one forced round moves at most that many streams, so the fleet
reaches its fair shares in steps. These tests play a random history, then keep forcing rounds
and check how many it takes and that the steps add up to no more than one uncapped round.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings

from fingerv7.core.planning import ChangeReason
from tests.unit.planning.support import (
    History,
    Round,
    at_targets,
    histories,
    moved_streams,
    movement_lower_bound,
    planned,
    reference_shares,
    rounds,
)


def _last_round(history: History) -> Round:
    last = None
    for r, plan in rounds(history):
        last = replace(r, current=plan.assignment, seconds=0.0, force=True)
    assert last is not None
    return last


@settings(max_examples=150, deadline=None)
@given(histories())
def test_guarantees_4_and_5_hold_after_ceil_excess_over_cap_forced_rounds(
    history: History,
) -> None:
    start = r = _last_round(history)
    cap = r.policy.max_voluntary_moves
    uncapped = replace(r, policy=replace(r.policy, max_voluntary_moves=None)).plan()
    needed = movement_lower_bound(r, uncapped)
    # Forced placements (dead, draining, over capacity) are never capped: round one does them.
    rounds_needed = 1 + (math.ceil(needed / cap) if cap else 0)
    total_moves = 0
    for _ in range(rounds_needed):
        plan = r.plan()
        total_moves += len(moved_streams(r, plan))
        voluntary = sum(c.reason is ChangeReason.REBALANCE for c in plan.changes)
        assert cap is None or voluntary <= cap
        r = replace(r, current=plan.assignment)
    final = r.plan()
    if cap == 0:
        assert not final.rebalanced
        return
    assert final.changes == []
    assert at_targets(r, final)
    shares, ends = reference_shares(r), planned(final)
    assert all(abs(ends[i] - share) < 1 for i, share in shares.items())
    # The steps together move no more streams than the one uncapped round would have.
    assert total_moves <= len(moved_streams(start, uncapped)) == needed
