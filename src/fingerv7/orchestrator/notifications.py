"""Alert notifications to webhooks: Slack, Discord, or any endpoint that takes generic JSON.

A webhook URL is a credential (whoever knows a Slack or Discord webhook URL can post to the
channel), so it never appears in a log line, an exception message or a `repr`: targets are shown
as `slack:https://hooks.slack.com/…`, and while a notifier is open a log filter rewrites httpx's
own request log lines, which would otherwise print the full URL at INFO level.

Configured by environment (read by the orchestrator's settings, passed to :func:`webhook_targets`):
`ALERT_SLACK_WEBHOOK_URL`, `ALERT_DISCORD_WEBHOOK_URL`, `ALERT_WEBHOOK_URL` (generic JSON), each
one URL or several separated by commas, and `ALERT_COOLDOWN_SECONDS` for the evaluator.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any

import httpx

from fingerv7.core.alerting import AlertEvent, AlertSeverity, AlertStatus
from fingerv7.retry import retry_after_s as read_retry_after_s

logger = logging.getLogger("fingerv7.alerts")

_COLOURS = {  # RGB: red for critical, amber for warning, green for resolved
    (AlertStatus.FIRING, AlertSeverity.CRITICAL): 0xD62728,
    (AlertStatus.FIRING, AlertSeverity.WARNING): 0xFF9F1C,
    (AlertStatus.RESOLVED, AlertSeverity.CRITICAL): 0x2CA02C,
    (AlertStatus.RESOLVED, AlertSeverity.WARNING): 0x2CA02C,
}
_MAX_DESCRIPTION_CHARS = 2000  # Discord embeds allow 4096, Slack attachments more: stay well below
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookFormat(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where to post, and in which shape. `str()` and `repr()` never show the secret URL."""

    format: WebhookFormat
    url: str = field(repr=False)

    @property
    def label(self) -> str:
        parsed = httpx.URL(self.url)
        return f"{self.format}:{parsed.scheme}://{parsed.host}/…"

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"WebhookTarget({self.label})"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Outcome of sending one event to one target, for logs, metrics and tests."""

    target: str  # the target's label, never its URL
    event_key: str
    status: AlertStatus
    delivered: bool
    attempts: int
    error: str | None = None  # an HTTP status or an exception class name, never a message


def webhook_targets(
    *,
    slack_urls: str | None = None,
    discord_urls: str | None = None,
    generic_urls: str | None = None,
) -> list[WebhookTarget]:
    """Parse the three `ALERT_*` variables into targets; empty or unset variables add none.

    Raises ValueError naming the variable and the entry's position (never its text) when an entry
    is not an absolute http(s) URL.
    """
    sources = (
        ("ALERT_SLACK_WEBHOOK_URL", WebhookFormat.SLACK, slack_urls),
        ("ALERT_DISCORD_WEBHOOK_URL", WebhookFormat.DISCORD, discord_urls),
        ("ALERT_WEBHOOK_URL", WebhookFormat.GENERIC, generic_urls),
    )
    targets = []
    for variable, webhook_format, text in sources:
        entries = [entry for entry in re.split(r"[,\s]+", text or "") if entry]
        for position, entry in enumerate(entries, start=1):
            try:
                parsed = httpx.URL(entry)
            except httpx.InvalidURL:
                parsed = None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
                raise ValueError(f"{variable}: entry {position} is not an http(s) URL")
            targets.append(WebhookTarget(webhook_format, entry))
    return targets


def _iso(timestamp_s: float) -> str:
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _title(event: AlertEvent) -> str:
    subject = f" ({event.subject})" if event.subject else ""
    return f"[{event.status.upper()}] {event.rule}{subject}: {event.summary}"


def _description(event: AlertEvent) -> str:
    text = event.description
    if event.status is AlertStatus.RESOLVED:
        text = f"Resolved after {event.at_s - event.active_since_s:.0f}s. {text}"
    return text[:_MAX_DESCRIPTION_CHARS]


def slack_payload(event: AlertEvent, source: str) -> dict[str, Any]:
    """An incoming-webhook message: a plain `text` (for notifications) and a coloured attachment."""
    return {
        "text": _title(event),
        "attachments": [
            {
                "color": f"#{_COLOURS[(event.status, event.severity)]:06x}",
                "title": _title(event),
                "text": _description(event),
                "fields": [
                    {"title": "Severity", "value": event.severity.value, "short": True},
                    {"title": "Since", "value": _iso(event.active_since_s), "short": True},
                ],
                "footer": source,
                "ts": int(event.at_s),
            }
        ],
    }


def discord_payload(event: AlertEvent, source: str) -> dict[str, Any]:
    """A webhook message with one embed; mentions are disabled so no text can ping @everyone."""
    return {
        "username": source,
        "content": _title(event)[:2000],
        "allowed_mentions": {"parse": []},
        "embeds": [
            {
                "title": _title(event)[:256],
                "description": _description(event),
                "color": _COLOURS[(event.status, event.severity)],
                "timestamp": _iso(event.at_s),
                "fields": [
                    {"name": "Severity", "value": event.severity.value, "inline": True},
                    {"name": "Since", "value": _iso(event.active_since_s), "inline": True},
                ],
                "footer": {"text": source},
            }
        ],
    }


def generic_payload(event: AlertEvent, source: str) -> dict[str, Any]:
    """A flat JSON document for any receiver (a script, n8n, a ticketing system)."""
    return {
        "version": 1,
        "source": source,
        "key": event.key,
        "alert": event.rule,
        "subject": event.subject,
        "status": event.status.value,
        "severity": event.severity.value,
        "summary": event.summary,
        "description": event.description,
        "active_since": _iso(event.active_since_s),
        "at": _iso(event.at_s),
    }


_BUILDERS = {
    WebhookFormat.SLACK: slack_payload,
    WebhookFormat.DISCORD: discord_payload,
    WebhookFormat.GENERIC: generic_payload,
}


class _RedactWebhookUrls(logging.Filter):
    """Rewrites log records that would print a webhook URL (httpx logs every request's URL)."""

    def __init__(self, targets: Sequence[WebhookTarget]) -> None:
        super().__init__()
        self._replacements: list[tuple[str, str]] = []
        for target in targets:
            forms = {target.url, str(httpx.URL(target.url))}
            path = httpx.URL(target.url).raw_path.decode("ascii", "replace")
            if len(path) > 1:
                forms.add(path)
            for form in sorted(forms, key=len, reverse=True):
                self._replacements.append((form, target.label))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret, label in self._replacements:
            redacted = redacted.replace(secret, label)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class WebhookNotifier:
    """Posts alert events to every target, retrying transient failures with backoff.

    `notify` never raises: a failed delivery is logged (with the target's label) and returned.
    Events go to each target in order (a FIRING before its RESOLVED); targets are served
    concurrently so one slow webhook does not hold up the others.
    """

    def __init__(
        self,
        targets: Sequence[WebhookTarget],
        *,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
        source: str = "FingerV7",
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._targets = tuple(targets)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._source = source
        self._log_filter = _RedactWebhookUrls(self._targets)
        logging.getLogger("httpx").addFilter(self._log_filter)

    @property
    def targets(self) -> tuple[WebhookTarget, ...]:
        return self._targets

    async def __aenter__(self) -> WebhookNotifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        logging.getLogger("httpx").removeFilter(self._log_filter)
        if self._owns_client:
            await self._client.aclose()

    async def notify(self, events: Sequence[AlertEvent]) -> list[DeliveryResult]:
        """Send `events` to every target; returns one result per (target, event)."""
        if not events or not self._targets:
            return []
        per_target = await asyncio.gather(
            *(self._send_all(target, events) for target in self._targets)
        )
        return [result for results in per_target for result in results]

    async def _send_all(
        self, target: WebhookTarget, events: Sequence[AlertEvent]
    ) -> list[DeliveryResult]:
        return [await self._send(target, event) for event in events]

    async def _send(self, target: WebhookTarget, event: AlertEvent) -> DeliveryResult:
        payload = _BUILDERS[target.format](event, self._source)
        error: str | None = None
        for attempt in range(1, self._max_attempts + 1):
            retry_after_s: float | None = None
            try:
                response = await self._client.post(target.url, json=payload)
            except httpx.TransportError as exc:
                error = type(exc).__name__
            else:
                if response.is_success:
                    logger.info("[ALERT] sent %s %s to %s", event.status, event.key, target)
                    return DeliveryResult(target.label, event.key, event.status, True, attempt)
                error = f"HTTP {response.status_code}"
                if response.status_code not in _RETRYABLE_STATUS:
                    break
                retry_after_s = read_retry_after_s(response.headers)
            if attempt < self._max_attempts:
                await asyncio.sleep(self._delay_s(attempt, retry_after_s))
        logger.warning(
            "[ALERT] could not send %s %s to %s after %d attempt(s): %s",
            event.status,
            event.key,
            target,
            attempt,
            error,
        )
        return DeliveryResult(target.label, event.key, event.status, False, attempt, error)

    def _delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        delay_s: float = self._backoff_s * 2.0 ** (attempt - 1)
        if retry_after_s is not None:
            delay_s = max(delay_s, retry_after_s)
        return min(delay_s, self._max_backoff_s)
