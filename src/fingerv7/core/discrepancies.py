"""When a stream an instance runs without holding it counts as a discrepancy: once per episode.

An episode of (instance, stream) lasts from the first heartbeat that reports the stream while
another instance holds it (or nobody does) to the first one that no longer reports it. A worker
that keeps reporting the same foreign stream on every beat is one discrepancy, not one per beat,
so a client cannot inflate the counter by repeating itself.

Memory is bounded: only instances with an open episode are remembered, each with at most the
streams one heartbeat may list, and at most `max_instances` of them (the least recently seen are
forgotten first; one forgotten too early is counted again, never lost).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable

DEFAULT_MAX_INSTANCES = 4096


class DiscrepancyEpisodes:
    """The foreign streams each instance reported on its last heartbeat."""

    def __init__(self, max_instances: int = DEFAULT_MAX_INSTANCES) -> None:
        if max_instances < 1:
            raise ValueError("max_instances must be at least 1")
        self.max_instances = max_instances
        self._open: OrderedDict[str, frozenset[int]] = OrderedDict()

    def observe(self, instance_id: str, strays: Iterable[int]) -> list[int]:
        """Record what the instance reports now; return the strays that open a new episode."""
        current = frozenset(strays)
        previous = self._open.pop(instance_id, frozenset())
        if not current:
            return []
        self._open[instance_id] = current
        if len(self._open) > self.max_instances:
            self._open.popitem(last=False)
        return sorted(current - previous)

    def has_open(self, instance_id: str) -> bool:
        """Whether the instance reported a foreign stream on its last heartbeat."""
        return instance_id in self._open

    def forget(self, instance_id: str) -> None:
        """End the instance's episodes (it stopped, or is gone)."""
        self._open.pop(instance_id, None)

    def retain(self, live: Collection[str]) -> None:
        """Forget every instance not in `live` (removed ones)."""
        for instance_id in [i for i in self._open if i not in live]:
            del self._open[instance_id]

    def __len__(self) -> int:
        return len(self._open)
