"""Presence in Redis, in the exact shape the original dashboard reads.

Key `{REDIS_KEY_PREFIX}:{instance_id}` holds JSON `{server_id, last_ts, ip_address,
processing_streams, processing_stream_names}` with a TTL of `REDIS_HEARTBEAT_TTL_SECS`, and a
`{type: "heartbeat", ...}` message goes to `REDIS_CHANNEL`. Redis being down never stops a worker:
failures are logged and counted, and the next beat tries again.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as redis_async
from redis.exceptions import RedisError

logger = logging.getLogger("fingerv7.worker.presence")

REDIS_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PresenceSnapshot:
    stream_names: Sequence[str]
    cpu_percent: float
    memory_percent: float


class RedisPresence:
    """Publishes this worker's presence; one instance per worker."""

    def __init__(
        self, redis_url: str, *, instance_id: str, key_prefix: str, channel: str, ttl_s: int
    ) -> None:
        self.instance_id = instance_id
        self.key = f"{key_prefix}:{instance_id}"
        self.channel = channel
        self.ttl_s = ttl_s
        self.failures = 0
        self.published = 0
        self._ip_address = local_ip_address()
        self._redis = redis_async.Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )

    async def publish(self, snapshot: PresenceSnapshot) -> bool:
        """Refresh the key and publish one message; False (logged) when Redis failed."""
        now = int(time.time())
        names = list(snapshot.stream_names)
        presence = {
            "server_id": self.instance_id,
            "last_ts": now,
            "ip_address": self._ip_address,
            "processing_streams": len(names),
            "processing_stream_names": names,
        }
        message = {
            "type": "heartbeat",
            "server_id": self.instance_id,
            "ts": now,
            "processing_streams": len(names),
            "processing_stream_names": names,
            "cpu_percent": snapshot.cpu_percent,
            "memory_percent": snapshot.memory_percent,
            "ip_address": self._ip_address,
        }
        try:
            await self._redis.set(self.key, json.dumps(presence), ex=self.ttl_s)
            await self._redis.publish(self.channel, json.dumps(message))
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning("[WORKER] Redis presence failed: %s", exc)
            return False
        self.published += 1
        return True

    async def withdraw(self) -> None:
        """Delete the key at shutdown so the dashboard shows the worker gone at once."""
        try:
            await self._redis.delete(self.key)
        except (RedisError, OSError) as exc:
            logger.warning("[WORKER] could not delete Redis presence key: %s", exc)

    async def aclose(self) -> None:
        await self._redis.aclose()


def local_ip_address() -> str | None:
    """The address this host uses for outbound traffic (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, connect() only picks a route
        address: str = probe.getsockname()[0]
        return address
    except OSError:
        return None
    finally:
        probe.close()
