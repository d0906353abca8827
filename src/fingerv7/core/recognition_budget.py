"""How a worker spends a scarce external recognizer: a rate, a fair share, backoff after refusals.

Pure: every decision takes `now_s` (a monotonic clock reading) so tests replay time exactly.

- **Rate.** Calls are paced at least `60 / requests_per_minute` seconds apart (a token bucket
  that holds one token), so no 60-second span sees more than the rate, plus the one call at
  its very edge.
- **Fair share.** A stream that asked recently counts as *wanting*; each wanting stream may call
  at most once per `pacing · wanting streams`, so a stream that never matches the catalog cannot
  starve the others, and the share of streams that need nothing goes to those that do.
- **Backoff.** After an HTTP 429 the recognizer is left alone for the server's Retry-After (or
  the backoff, whichever is longer); after an error, for an exponentially growing delay. A
  success resets the backoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WANTING_FOR_S = 120.0  # a stream that asked within this long shares the budget


@dataclass(slots=True)
class BudgetCounters:
    """What the budget let through and what the service answered; exported as metrics."""

    calls: int = 0
    rate_limited: int = 0  # HTTP 429 answers
    errors: int = 0
    named: int = 0  # calls that named a song
    refused_by_budget: int = 0  # asks turned down here (rate, share or backoff)
    refused_by_egress: int = 0  # granted here, but the egress's shared limit was reached


@dataclass(slots=True)
class RecognizerBudget:
    """The calls one worker may make to one external recognizer (per egress address)."""

    requests_per_minute: float
    backoff_base_s: float = 5.0
    backoff_max_s: float = 600.0
    counters: BudgetCounters = field(default_factory=BudgetCounters)
    _next_call_s: float = float("-inf")
    _blocked_until_s: float = 0.0
    _failures_in_a_row: int = 0
    _last_call_s: dict[int, float] = field(default_factory=dict)
    _last_ask_s: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")

    @property
    def pacing_s(self) -> float:
        return 60.0 / self.requests_per_minute

    def wanting_streams(self, now_s: float) -> int:
        return sum(1 for asked in self._last_ask_s.values() if now_s - asked <= WANTING_FOR_S)

    def try_acquire(self, stream_id: int, now_s: float) -> bool:
        """Ask for one call for `stream_id`; True means call now (and report the outcome)."""
        self._last_ask_s[stream_id] = now_s
        fair_gap_s = self.wanting_streams(now_s) * self.pacing_s
        last = self._last_call_s.get(stream_id)
        if (
            now_s < self._blocked_until_s
            or now_s < self._next_call_s
            or (last is not None and now_s - last < fair_gap_s)
        ):
            self.counters.refused_by_budget += 1
            return False
        self._next_call_s = now_s + self.pacing_s
        self._last_call_s[stream_id] = now_s
        self.counters.calls += 1
        return True

    def withdrawn(self) -> None:
        """The call just granted was not made (the egress's shared limit said no)."""
        self.counters.calls -= 1
        self.counters.refused_by_egress += 1

    def succeeded(self, *, named: bool) -> None:
        self._failures_in_a_row = 0
        if named:
            self.counters.named += 1

    def rate_limited(self, now_s: float, retry_after_s: float | None) -> None:
        """HTTP 429: wait for the server's Retry-After, at least the current backoff."""
        self.counters.rate_limited += 1
        self._block(now_s, minimum_s=retry_after_s or 0.0)

    def failed(self, now_s: float) -> None:
        self.counters.errors += 1
        self._block(now_s, minimum_s=0.0)

    def blocked_for_s(self, now_s: float) -> float:
        return max(0.0, self._blocked_until_s - now_s)

    def forget(self, stream_id: int) -> None:
        """The stream is gone from this worker."""
        self._last_call_s.pop(stream_id, None)
        self._last_ask_s.pop(stream_id, None)

    def _block(self, now_s: float, *, minimum_s: float) -> None:
        delay_s = min(self.backoff_max_s, self.backoff_base_s * 2.0**self._failures_in_a_row)
        self._failures_in_a_row = min(self._failures_in_a_row + 1, 32)
        self._blocked_until_s = max(self._blocked_until_s, now_s + max(delay_s, minimum_s))
