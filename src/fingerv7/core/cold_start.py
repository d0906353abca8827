"""Cold start: the first plan waits until the fleet has finished registering.

When a fleet that runs nothing starts (a first deployment, or every worker coming back after an
outage), 2,000 instances register within a few seconds. A plan made after the first few hundred
fills them to capacity; the ones that register next start empty, and balancing then takes
streams back from the first ones: handoffs that stop each moved stream for a beat or two, so
full coverage waits for a second round. Kafka's group coordinator delays its first rebalance
(`group.initial.rebalance.delay.ms`) for the same reason.

The rule: while no stream is assigned, placing streams waits until no new instance has joined
for `quiet_s`, and never longer than `max_s` after the first one joined. Once anything is
assigned, the hold never applies: failover, drains and new streams are not delayed.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ColdStartPolicy:
    """INITIAL_PLACEMENT_DELAY (`quiet_s`; 0 turns the hold off) and its cap (`max_s`)."""

    quiet_s: float = 3.0
    max_s: float = 15.0


@dataclass(slots=True)
class JoinWatch:
    """When instances joined a fleet that runs nothing, as seen tick by tick (times in s)."""

    policy: ColdStartPolicy
    _known: Set[str] = field(default_factory=frozenset)
    _first_join_s: float | None = None
    _last_join_s: float | None = None

    def hold_until(self, live: Set[str], runs_nothing: bool, now_s: float) -> float | None:
        """Observe the live instances at `now_s`; the moment placing may start when it must
        wait (None: place now)."""
        joined = bool(live - self._known)
        self._known = frozenset(live)
        if not runs_nothing or self.policy.quiet_s <= 0:
            self._first_join_s = self._last_join_s = None
            return None
        if joined:
            self._last_join_s = now_s
            if self._first_join_s is None:
                self._first_join_s = now_s
        if self._first_join_s is None or self._last_join_s is None:
            return None
        until = min(self._last_join_s + self.policy.quiet_s, self._first_join_s + self.policy.max_s)
        return until if until > now_s else None
