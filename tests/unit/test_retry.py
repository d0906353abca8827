"""Backoff with jitter, the circuit breaker and the Retry-After parser."""

from __future__ import annotations

import random

import httpx
import pytest

from fingerv7.retry import CircuitBreaker, CircuitState, ExponentialBackoff, retry_after_s


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = ExponentialBackoff(0.5, 4.0, jitter=False)
    assert [backoff.next_delay_s() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay_s() == 0.5


def test_jittered_delays_stay_between_half_and_the_ceiling() -> None:
    backoff = ExponentialBackoff(1.0, 8.0, rng=random.Random(7))
    delays = [backoff.next_delay_s() for _ in range(200)]
    ceilings = [min(8.0, 2.0**i) for i in range(200)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays[10:]}) > 100  # really jittered


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ExponentialBackoff(0, 1)
    with pytest.raises(ValueError):
        ExponentialBackoff(2, 1)


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_the_threshold_and_half_opens_later() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, open_s=5.0, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow() and breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    clock.now += 5.0
    assert breaker.state is CircuitState.HALF_OPEN and breaker.allow()
    breaker.record_failure()  # the trial failed: open again for another period
    assert breaker.state is CircuitState.OPEN
    assert breaker.times_opened == 2
    clock.now += 5.0
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED and breaker.consecutive_failures == 0


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, open_s=1.0, clock=ManualClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        (" 12 ", 12.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", 0.0),  # nonsense, but harmless: no extra wait
        ("inf", None),
        ("nan", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # HTTP dates: our own backoff applies
    ],
)
def test_retry_after_is_read_as_seconds(header: str | None, expected: float | None) -> None:
    headers = httpx.Headers({} if header is None else {"Retry-After": header})
    assert retry_after_s(headers) == expected
