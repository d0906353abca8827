"""REGISTRATION_RATE's default: never in the way of a fleet restarting, a bound on invented ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerv7.api.admission import TokenBucket
from fingerv7.orchestrator.settings import OrchestratorSettings

FLEET = 2000  # instances; a stopped worker deregisters, so a restart registers them all anew


@pytest.fixture
def default_rate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> float:
    monkeypatch.delenv("REGISTRATION_RATE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    return OrchestratorSettings().registration_rate


def _admitted(bucket: TokenBucket, attempts: int, at_s: float) -> int:
    return sum(bucket.take(at_s) == 0 for _ in range(attempts))


def test_the_default_limits_registrations(default_rate: float) -> None:
    assert default_rate == 3000


def test_a_fleet_restarting_at_once_is_never_refused(default_rate: float) -> None:
    bucket = TokenBucket(default_rate, clock=0.0)

    assert _admitted(bucket, FLEET, at_s=0.0) == FLEET
    # and again 30 s later (a second restart, or the orchestrator's database restored empty)
    assert _admitted(bucket, FLEET, at_s=30.0) == FLEET


def test_a_fleet_restarting_over_a_minute_is_never_refused(default_rate: float) -> None:
    bucket = TokenBucket(default_rate, clock=0.0)
    times = [i * 60.0 / FLEET for i in range(FLEET)]

    assert all(bucket.take(at_s) == 0 for at_s in times)


def test_invented_ids_are_bounded(default_rate: float) -> None:
    bucket = TokenBucket(default_rate, clock=0.0)
    minutes = 10

    # A client trying 1,000 new ids a second for ten minutes.
    admitted = sum(_admitted(bucket, 1000, at_s=float(second)) for second in range(minutes * 60))

    assert admitted <= default_rate * (minutes + 1)  # the burst, then the rate: 33,000 of 600,000
    refused_wait_s = bucket.take(minutes * 60.0 - 1)  # still within the last second
    assert 0 < refused_wait_s <= 60 / default_rate  # Retry-After: the next token's due time


def test_a_registration_that_failed_gives_its_token_back() -> None:
    """A fleet retrying through a database outage must not be rate-limited when it returns."""
    bucket = TokenBucket(2, clock=0.0)
    assert _admitted(bucket, 2, at_s=0.0) == 2
    assert bucket.take(0.0) > 0  # empty

    bucket.give_back()  # one of the two failed after admission (503)

    assert bucket.take(0.0) == 0
    bucket.give_back()
    bucket.give_back()
    bucket.give_back()
    assert _admitted(bucket, 5, at_s=0.0) == 2  # never above the burst
