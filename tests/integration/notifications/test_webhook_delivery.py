"""WebhookNotifier against a real HTTP server: payload shapes, retries, and no leaked URLs."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from fingerv7.core.alerting import AlertEvent, AlertSeverity, AlertStatus
from fingerv7.orchestrator.notifications import (
    WebhookFormat,
    WebhookNotifier,
    WebhookTarget,
    webhook_targets,
)

from .webhook_server import WebhookServer, running_server

pytestmark = pytest.mark.integration

SLACK_PATH = "/services/T0SECRET/B0SECRET/slacksecrettoken123"
DISCORD_PATH = "/api/webhooks/123456/discordsecrettoken456"
GENERIC_PATH = "/hooks/generic-secret-789"

FIRING = AlertEvent(
    rule="NoActiveInstance",
    subject="",
    status=AlertStatus.FIRING,
    severity=AlertSeverity.CRITICAL,
    summary="No active FingerV7 instance",
    description="No instance is ACTIVE: no stream is being monitored.",
    active_since_s=1_756_245_000,
    at_s=1_756_245_600,
)
RESOLVED = replace(FIRING, status=AlertStatus.RESOLVED, at_s=1_756_246_200)
FLAPPING = AlertEvent(
    rule="InstanceFlapping",
    subject="fingerv7-002",
    status=AlertStatus.FIRING,
    severity=AlertSeverity.WARNING,
    summary="Instance flapping",
    description="Instance fingerv7-002 changed state 6 times in 30 minutes.",
    active_since_s=1_756_245_000,
    at_s=1_756_245_000,
)


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    yield from running_server()


def _notifier(targets: list[WebhookTarget], **options: Any) -> WebhookNotifier:
    return WebhookNotifier(targets, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5, **options)


async def test_slack_payload(server: WebhookServer) -> None:
    async with _notifier([WebhookTarget(WebhookFormat.SLACK, server.base_url + SLACK_PATH)]) as n:
        results = await n.notify([FIRING, RESOLVED])

    assert [r.delivered for r in results] == [True, True]
    posts = server.posts_to(SLACK_PATH)
    assert [p.content_type for p in posts] == ["application/json"] * 2
    firing, resolved = (p.body for p in posts)
    assert firing["text"] == "[FIRING] NoActiveInstance: No active FingerV7 instance"
    attachment = firing["attachments"][0]
    assert attachment["color"] == "#d62728"
    assert attachment["text"] == FIRING.description
    assert {"title": "Severity", "value": "critical", "short": True} in attachment["fields"]
    assert {"title": "Since", "value": "2025-08-26T21:50:00Z", "short": True} in attachment[
        "fields"
    ]
    assert attachment["ts"] == 1_756_245_600
    assert resolved["text"].startswith("[RESOLVED] NoActiveInstance")
    assert resolved["attachments"][0]["color"] == "#2ca02c"
    assert resolved["attachments"][0]["text"].startswith("Resolved after 1200s.")


async def test_discord_payload(server: WebhookServer) -> None:
    target = WebhookTarget(WebhookFormat.DISCORD, server.base_url + DISCORD_PATH)
    async with _notifier([target]) as notifier:
        results = await notifier.notify([FLAPPING])

    assert results[0].delivered
    body = server.posts_to(DISCORD_PATH)[0].body
    assert body["allowed_mentions"] == {"parse": []}
    assert body["username"] == "FingerV7"
    embed = body["embeds"][0]
    assert embed["title"] == "[FIRING] InstanceFlapping (fingerv7-002): Instance flapping"
    assert embed["color"] == 0xFF9F1C
    assert embed["timestamp"] == "2025-08-26T21:50:00Z"
    assert embed["description"] == FLAPPING.description
    assert {"name": "Severity", "value": "warning", "inline": True} in embed["fields"]
    assert body["content"] == embed["title"]


async def test_generic_payload(server: WebhookServer) -> None:
    target = WebhookTarget(WebhookFormat.GENERIC, server.base_url + GENERIC_PATH)
    async with _notifier([target]) as notifier:
        await notifier.notify([FLAPPING])

    assert server.posts_to(GENERIC_PATH)[0].body == {
        "version": 1,
        "source": "FingerV7",
        "key": "InstanceFlapping/fingerv7-002",
        "alert": "InstanceFlapping",
        "subject": "fingerv7-002",
        "status": "firing",
        "severity": "warning",
        "summary": "Instance flapping",
        "description": FLAPPING.description,
        "active_since": "2025-08-26T21:50:00Z",
        "at": "2025-08-26T21:50:00Z",
    }


async def test_every_target_gets_every_event_in_order(server: WebhookServer) -> None:
    targets = webhook_targets(
        slack_urls=server.base_url + SLACK_PATH,
        discord_urls=f"{server.base_url}{DISCORD_PATH}, {server.base_url}/second-discord",
        generic_urls=server.base_url + GENERIC_PATH,
    )
    async with _notifier(targets) as notifier:
        results = await notifier.notify([FIRING, RESOLVED])

    assert len(results) == 8 and all(r.delivered for r in results)
    for path in (SLACK_PATH, DISCORD_PATH, "/second-discord", GENERIC_PATH):
        assert len(server.posts_to(path)) == 2
    generic_statuses = [p.body["status"] for p in server.posts_to(GENERIC_PATH)]
    assert generic_statuses == ["firing", "resolved"]


async def test_transient_failures_are_retried(server: WebhookServer) -> None:
    server.script(GENERIC_PATH, (503, {}), (429, {"Retry-After": "0"}))
    target = WebhookTarget(WebhookFormat.GENERIC, server.base_url + GENERIC_PATH)
    async with _notifier([target]) as notifier:
        results = await notifier.notify([FIRING])

    assert results[0].delivered and results[0].attempts == 3
    assert len(server.posts_to(GENERIC_PATH)) == 3


async def test_gives_up_after_max_attempts(server: WebhookServer) -> None:
    server.script(GENERIC_PATH, *[(500, {})] * 5)
    target = WebhookTarget(WebhookFormat.GENERIC, server.base_url + GENERIC_PATH)
    async with _notifier([target], max_attempts=2) as notifier:
        results = await notifier.notify([FIRING])

    assert not results[0].delivered
    assert results[0].attempts == 2 and results[0].error == "HTTP 500"
    assert len(server.posts_to(GENERIC_PATH)) == 2


async def test_a_rejected_payload_is_not_retried(server: WebhookServer) -> None:
    server.script(SLACK_PATH, (400, {}))
    target = WebhookTarget(WebhookFormat.SLACK, server.base_url + SLACK_PATH)
    async with _notifier([target]) as notifier:
        results = await notifier.notify([FIRING])

    assert not results[0].delivered and results[0].attempts == 1
    assert results[0].error == "HTTP 400"
    assert len(server.posts_to(SLACK_PATH)) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_webhook_urls_never_appear_in_logs_or_results(
    server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(DISCORD_PATH, (500, {}), (500, {}), (500, {}))
    unreachable = f"http://127.0.0.1:{_closed_port()}/hooks/unreachable-secret-000"
    targets = [
        WebhookTarget(WebhookFormat.SLACK, server.base_url + SLACK_PATH),
        WebhookTarget(WebhookFormat.DISCORD, server.base_url + DISCORD_PATH),
        WebhookTarget(WebhookFormat.GENERIC, unreachable),
    ]
    caplog.set_level(logging.DEBUG)
    async with _notifier(targets) as notifier:
        results = await notifier.notify([FIRING])

    assert [r.delivered for r in results] == [True, False, False]
    assert results[2].error == "ConnectError"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP Request: POST" in logged  # httpx did log its requests...
    shown = logged + repr(results) + repr(targets) + str(targets[0])
    for secret in ("slacksecrettoken123", "discordsecrettoken456", "unreachable-secret-000"):
        assert secret not in shown  # ...but with the URLs redacted
    assert "slack:http://127.0.0.1/…" in logged


def test_target_parsing_rejects_non_http_entries_without_echoing_them() -> None:
    with pytest.raises(ValueError, match=r"ALERT_DISCORD_WEBHOOK_URL: entry 2 ") as caught:
        webhook_targets(discord_urls="https://discord.example/api/webhooks/1/x, ftp://secret")

    assert "secret" not in str(caught.value)
    assert webhook_targets(slack_urls="", discord_urls=None, generic_urls="  ") == []
