"""Workers behind one egress share the service's limit through Redis (real Redis)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fingerv7.audio.egress_budget import EgressBudget
from fingerv7.audio.fallback import FallbackPolicy, FallbackService
from fingerv7.audio.recognition import Recognition

pytestmark = pytest.mark.integration


class CountingService:
    name = "http"

    def __init__(self) -> None:
        self.calls = 0

    def recognize_clip(self, samples: np.ndarray, sample_rate_hz: int) -> Recognition | None:
        self.calls += 1
        return None

    def close(self) -> None:
        pass


def worker(redis_url: str, prefix: str, egress: str) -> tuple[FallbackService, CountingService]:
    service = CountingService()
    policy = FallbackPolicy(window_s=5, sample_rate_hz=8000, requests_per_minute=6000)
    budget = EgressBudget(redis_url, egress=egress, requests_per_minute=3, key_prefix=prefix)
    return FallbackService(["http"], [service], policy, egress=budget), service


def test_three_workers_behind_one_exit_make_three_calls_a_minute(
    redis_url: str, redis_prefix: str
) -> None:
    workers = [worker(redis_url, redis_prefix, "vpn-nl-1") for _ in range(3)]
    other_exit, other_service = worker(redis_url, redis_prefix, "vpn-br-2")
    clip = np.zeros(8000, dtype=np.float32)
    try:
        for second in range(20):  # each worker's own budget would allow 100 calls a second
            for index, (fallback, _) in enumerate(workers):
                fallback.clock = functools.partial(float, second)
                fallback.ask(index, clip, None)
            other_exit.clock = functools.partial(float, second)
            other_exit.ask(9, clip, None)
    finally:
        for fallback, _ in [*workers, (other_exit, other_service)]:
            assert fallback.egress is not None
            fallback.egress.close()
    assert sum(service.calls for _, service in workers) == 3  # the exit's limit, shared
    assert other_service.calls == 3  # another exit has its own
    refused = sum(f.metrics()["http"]["refused_by_egress"] for f, _ in workers)
    assert refused == 3 * 20 - 3
    assert sum(f.metrics()["http"]["calls"] for f, _ in workers) == 3


def test_without_redis_the_local_budget_alone_applies() -> None:
    budget = EgressBudget(
        "redis://127.0.0.1:1/0", egress="vpn", requests_per_minute=1, key_prefix="x"
    )
    try:
        assert budget.try_take("http") and budget.try_take("http")
    finally:
        budget.close()
    assert budget.redis_failures == 2
