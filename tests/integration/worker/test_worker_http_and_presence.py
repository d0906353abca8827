"""The worker's own /health and /metrics over real HTTP, and its presence in real Redis."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest
import redis.asyncio as redis_async

from fingerv7.processing import AssignedStream
from fingerv7.worker.http_server import WorkerHttpServer
from fingerv7.worker.journal import OwnershipJournal
from fingerv7.worker.presence import PresenceSnapshot, RedisPresence
from fingerv7.worker.processors.probe import ProbeProcessor
from fingerv7.worker.reconciler import Reconciler
from fingerv7.worker.sample_streams import LocalStreamServer
from fingerv7.worker.status import AgentCounters, StatusReporter
from fingerv7.worker.supervisor import StreamSupervisor
from fingerv7.worker.system_metrics import SystemSampler
from tests.support.orchestrator import eventually

MANUAL_METRIC_FIELDS = {
    "instance_id", "uptime", "streams_assigned", "streams_processed", "success_rate",
    "error_count", "cpu_usage", "memory_usage", "vpn_status", "vpn_ip", "last_db_write",
}  # fmt: skip


async def test_health_and_metrics_describe_the_running_worker(
    stream_server: LocalStreamServer,
) -> None:
    probe = ProbeProcessor()
    supervisor = StreamSupervisor(probe, OwnershipJournal(None, "fingerv7-001"))
    reconciler = Reconciler(supervisor, max_streams=5)
    counters = AgentCounters(registered=True, orchestrator_reachable=True)
    reporter = StatusReporter(
        instance_id="fingerv7-001",
        mode="orchestrator",
        processor_name=probe.name,
        supervisor=supervisor,
        reconciler=reconciler,
        counters=counters,
        sampler=SystemSampler(),
    )
    server = WorkerHttpServer(reporter, "127.0.0.1", 0)
    port = await server.start()
    assert port > 0
    stream_list = [AssignedStream(id=n, url=stream_server.url(n), name=f"R{n}") for n in (1, 2)]
    await reconciler.apply(stream_list, 3, epoch=0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        await eventually(lambda: supervisor.totals().processed > 4, what="streams processed")
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        assert health.json()["streams_running"] == 2 and health.json()["generation"] == 3
        metrics = (await client.get("/metrics")).json()
        assert MANUAL_METRIC_FIELDS <= set(metrics)
        assert metrics["instance_id"] == "fingerv7-001"
        assert metrics["streams_assigned"] == 2
        assert metrics["streams_processed"] > 4 and metrics["bytes_read"] > 0
        assert metrics["success_rate"] == 1.0
        assert 0 <= metrics["memory_usage"] <= 100
        assert [s["id"] for s in metrics["streams"]] == [1, 2]
        assert metrics["uptime"].endswith("s")
        exposition = (await client.get("/metrics/prometheus")).text
        labels = '{instance_id="fingerv7-001"}'
        assert f"fingerv7_worker_up{labels} 1.0" in exposition
        assert f"fingerv7_worker_streams_running{labels} 2.0" in exposition
        processed = next(
            float(line.rsplit(" ", 1)[1])
            for line in exposition.splitlines()
            if line.startswith(f"fingerv7_worker_processed_total{labels}")
        )
        assert processed >= metrics["streams_processed"]
        counters.orchestrator_reachable = False
        assert (await client.get("/health")).json()["status"] == "degraded"
        counters.stopping = True
        assert (await client.get("/health")).status_code == 503
    await reconciler.reset(reason="test")
    await server.stop()
    await probe.aclose()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/health")


async def test_a_port_in_use_is_reported_with_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        supervisor = StreamSupervisor(ProbeProcessor(), OwnershipJournal(None, "w"))
        reporter = StatusReporter(
            instance_id="w",
            mode="static",
            processor_name="probe",
            supervisor=supervisor,
            reconciler=Reconciler(supervisor, max_streams=1),
            counters=AgentCounters(),
            sampler=SystemSampler(),
        )
        with pytest.raises(OSError, match="WORKER_HTTP_PORT"):
            await WorkerHttpServer(reporter, "127.0.0.1", port).start()
        await supervisor.processor.aclose()


@pytest.mark.integration
async def test_presence_key_ttl_json_and_message(redis_url: str, redis_prefix: str) -> None:
    channel = f"{redis_prefix}:heartbeats"
    presence = RedisPresence(
        redis_url,
        instance_id="fingerv7-002",
        key_prefix=f"{redis_prefix}:server",
        channel=channel,
        ttl_s=120,
    )
    reader = redis_async.Redis.from_url(redis_url)
    pubsub = reader.pubsub()
    await pubsub.subscribe(channel)
    await eventually(lambda: pubsub.get_message(timeout=0.1), what="subscription confirmed")
    assert await presence.publish(PresenceSnapshot(["Radio 1", "Radio 2"], 12.5, 40.0))

    key = f"{redis_prefix}:server:fingerv7-002"
    raw = await reader.get(key)
    assert raw is not None
    stored = json.loads(raw)
    assert set(stored) == {
        "server_id", "last_ts", "ip_address", "processing_streams", "processing_stream_names"
    }  # fmt: skip
    assert stored["server_id"] == "fingerv7-002"
    assert stored["processing_streams"] == 2
    assert stored["processing_stream_names"] == ["Radio 1", "Radio 2"]
    assert abs(stored["last_ts"] - time.time()) < 5
    assert 0 < await reader.ttl(key) <= 120

    message = await eventually(
        lambda: pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1),
        what="heartbeat message",
    )
    body = json.loads(message["data"])
    assert body["type"] == "heartbeat" and body["server_id"] == "fingerv7-002"
    assert body["processing_stream_names"] == ["Radio 1", "Radio 2"]
    assert body["cpu_percent"] == 12.5 and body["memory_percent"] == 40.0
    assert {"ts", "ip_address", "processing_streams"} <= set(body)

    await presence.withdraw()
    assert await reader.exists(key) == 0
    await presence.aclose()
    await pubsub.aclose()
    await reader.aclose()


@pytest.mark.integration
async def test_redis_down_is_counted_not_fatal() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    presence = RedisPresence(
        f"redis://127.0.0.1:{port}/0", instance_id="w", key_prefix="p", channel="c", ttl_s=5
    )
    assert not await presence.publish(PresenceSnapshot([], 0.0, 0.0))
    assert presence.failures == 1
    await asyncio.wait_for(presence.aclose(), 5)
