"""One external service's limit shared by every worker behind the same egress (VPN exit).

Services limit requests per source address, and the manual runs several workers behind one VPN
exit. Each worker's own budget (:mod:`fingerv7.core.recognition_budget`) paces its calls; this
adds a sliding 60-second log per (egress, service) in Redis that all those workers consult:
a call is allowed only while fewer than RECOGNIZER_EGRESS_REQUESTS_PER_MINUTE calls were made
through that exit in the last minute. The check and the record are one Lua script on Redis's
own clock, so two workers can never both take the last slot. When Redis cannot be reached the
worker's own budget alone applies (logged): identification does not stop for a cache outage.
"""

from __future__ import annotations

import logging
import uuid

import redis
from redis.exceptions import RedisError

logger = logging.getLogger("fingerv7.audio.egress_budget")

_TAKE_SLOT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""
REDIS_TIMEOUT_S = 1.0


class EgressBudget:
    """Slots per minute for calls leaving through one egress, shared through Redis."""

    def __init__(
        self, redis_url: str, *, egress: str, requests_per_minute: int, key_prefix: str
    ) -> None:
        self.egress = egress
        self.requests_per_minute = requests_per_minute
        self.key_prefix = key_prefix
        self.redis_failures = 0
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._take = self._redis.register_script(_TAKE_SLOT)

    def try_take(self, service: str) -> bool:
        """Record a call through this egress if the shared limit allows one now."""
        key = f"{self.key_prefix}:egress:{self.egress}:{service}"
        try:
            return bool(self._take(keys=[key], args=[self.requests_per_minute, uuid.uuid4().hex]))
        except RedisError as error:
            self.redis_failures += 1
            logger.warning("[RECOGNIZER] egress budget unavailable (%s); local budget only", error)
            return True

    def close(self) -> None:
        self._redis.close()
