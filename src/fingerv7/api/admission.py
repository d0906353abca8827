"""What one instance may claim: its own id only, at most MAX_STREAMS_PER_INSTANCE streams, and
new ids no faster than REGISTRATION_RATE, so a leaked key cannot flood or grab the fleet.

Checked before the registration reaches the store; nothing is written for a refused call.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from fingerv7.api.deps import InstanceCaller, settings_of
from fingerv7.api.schemas import RegisterRequest

log = logging.getLogger("fingerv7.orchestrator")


@dataclass
class TokenBucket:
    """`rate_per_minute` tokens a minute, up to a burst of the same size (at least one)."""

    rate_per_minute: float
    clock: float = field(default_factory=time.monotonic)
    tokens: float = -1.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate_per_minute)

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is due."""
        refill = (now - self.clock) * self.rate_per_minute / 60
        self.tokens, self.clock = min(self.capacity, self.tokens + refill), now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * 60 / self.rate_per_minute

    def give_back(self) -> None:
        """Return a token taken for a call that then failed."""
        self.tokens = min(self.capacity, self.tokens + 1)


def _bucket(request: Request, rate_per_minute: float) -> TokenBucket:
    bucket: TokenBucket | None = getattr(request.app.state, "registration_bucket", None)
    if bucket is None or bucket.rate_per_minute != rate_per_minute:
        bucket = TokenBucket(rate_per_minute)
        request.app.state.registration_bucket = bucket
    return bucket


async def admit_registration(
    body: RegisterRequest, request: Request, caller: InstanceCaller
) -> AsyncIterator[RegisterRequest]:
    """The registration as it may be stored: own id, new ids rate-limited, capacity capped.

    A registration that then fails (the database busy or away) gives its token back: a fleet
    retrying through an outage must not find itself rate-limited when the database returns.
    """
    caller.admit(body.instance_id)
    settings = settings_of(request)
    bucket = None
    # A new id is one this process has no answer for (it caches every registered instance):
    # no database read, so a fleet restart's registrations cost one round trip each. An id
    # registered through another process in the last few seconds counts as new once.
    if (
        settings.registration_rate > 0
        and request.app.state.runtime.cache.peek(body.instance_id) is None
    ):
        bucket = _bucket(request, settings.registration_rate)
        wait_s = bucket.take(time.monotonic())
        if wait_s > 0:
            log.warning(
                "[INSTANCE] registration of new instance %s refused: over REGISTRATION_RATE",
                body.instance_id,
            )
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many new instances (REGISTRATION_RATE={settings.registration_rate:g} "
                "a minute); retry later",
                headers={"Retry-After": str(math.ceil(wait_s))},
            )
    try:
        yield _capped(body, settings.max_streams_per_instance)
    except Exception:
        if bucket is not None:
            bucket.give_back()
        raise


def _capped(body: RegisterRequest, cap: int) -> RegisterRequest:
    if body.max_streams > cap:
        log.warning(
            "[INSTANCE] %s asked for max_streams=%d; capped at MAX_STREAMS_PER_INSTANCE=%d",
            body.instance_id,
            body.max_streams,
            cap,
        )
        return body.model_copy(update={"max_streams": cap})
    return body


AdmittedRegistration = Annotated[RegisterRequest, Depends(admit_registration)]
