"""`STREAM_QUARANTINE_SECONDS` at the orchestrator: health facts in, move requests out.

The rule (which streams, once per episode) is :func:`fingerv7.core.stream_health.decide_quarantine`;
the move itself is the planner's (`move_away`, reason `quarantine`). This component only carries
facts between them on the leader: each stream-health pass asks the rule and hands its answer to
the monitor; each tick that wrote a quarantine move adds the stream to the streams already moved,
so it is not moved again, nor sent back, until it has run again. A new leader starts from the
audit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from fingerv7.core.planning.model import ChangeReason
from fingerv7.core.stream_health import StreamHealth, decide_quarantine
from fingerv7.orchestrator.tick_observers import TickFacts

log = logging.getLogger("fingerv7.orchestrator")


class StreamQuarantine:
    """Moves a stream that stays down on its instance to another one, once per episode."""

    def __init__(
        self,
        after_s: float,
        request: Callable[[Mapping[int, str]], None],
        load_moved: Callable[[], Awaitable[dict[int, str]]],
        epoch: Callable[[], int | None],
    ) -> None:
        self.after_s = after_s
        self.request = request  # FleetController.request_move_away
        self.load_moved = load_moved  # FleetStore.quarantined_streams
        self.epoch = epoch
        self.moved: dict[int, str] = {}  # stream → the instance it was moved away from
        self.reviews = 0  # stream-health passes seen (a test waits on it, not on the clock)
        self._term: int | None = None

    @property
    def enabled(self) -> bool:
        return self.after_s > 0

    async def review(self, healths: Sequence[StreamHealth], now: datetime) -> None:
        """One stream-health pass on the leader: ask the rule, hand its answer to the monitor."""
        self.reviews += 1
        if not self.enabled:
            return
        term = self.epoch()
        if term != self._term:  # a new leadership term: what was moved is in the audit
            self.moved = await self.load_moved()
            self._term = term
        decision = decide_quarantine(healths, now, self.after_s, dict(self.moved))
        for stream_id in decision.ended:
            self.moved.pop(stream_id, None)
        self.request(decision.move_away)

    async def __call__(self, facts: TickFacts) -> None:
        """Tick observer: remember the streams a committed tick moved for quarantine."""
        if facts.write is None or not self.enabled:
            return  # a cold start writes a million changes: do not walk them for nothing
        for change in facts.write.changes:
            if change.reason is ChangeReason.QUARANTINE and change.from_instance is not None:
                self.moved[change.stream_id] = change.from_instance
                log.warning(
                    "[STREAM] stream %s was down on %s for over %gs: moved to %s (quarantine)",
                    change.stream_id,
                    change.from_instance,
                    self.after_s,
                    change.to_instance,
                )
