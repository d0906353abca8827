"""`.env.example` and `deploy/worker.env.example`: placeholders only, every variable documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fingerv7.cli.env import WORKER_ENV_TEMPLATE, parse_env_file

from .contract import DEPLOY, DOCS, ORCHESTRATOR_VARIABLES, REPO_ROOT

EXAMPLES = {
    "orchestrator": REPO_ROOT / ".env.example",
    "worker": DEPLOY / "worker.env.example",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|ADMIN_KEY|WEBHOOK_URL")
PLACEHOLDER = re.compile(r"<[a-z0-9-]+>")
# Something a real credential looks like: a long run of key-ish characters.
TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")


def _values(path: Path) -> dict[str, str]:
    return parse_env_file(path.read_text(encoding="utf-8"))


def looks_like_a_real_secret(key: str, value: str) -> bool:
    """True when a value is not an empty string or a `<placeholder>` where a secret belongs."""
    without_placeholders = PLACEHOLDER.sub("", value)
    if TOKEN_LIKE.search(without_placeholders):
        return True
    if SECRET_NAME.search(key) and value and not PLACEHOLDER.fullmatch(value):
        return True
    credentials = re.search(r"://([^/@]*)@", value)
    if credentials and ":" in credentials.group(1):
        return not PLACEHOLDER.fullmatch(credentials.group(1).split(":", 1)[1])
    return False


@pytest.mark.parametrize(
    ("key", "value", "secret"),
    [
        ("ORCHESTRATOR_API_KEY", "<orchestrator-api-key>", False),
        ("ORCHESTRATOR_API_KEY", "s3cr3t", True),
        ("ALERT_SLACK_WEBHOOK_URL", "", False),
        ("ALERT_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/abc", True),
        ("REDIS_URL", "redis://default:<redis-password>@<redis-host>:6379/0", False),
        ("REDIS_URL", "redis://default:hunter2@cache:6379/0", True),
        ("LOG_LEVEL", "QWxhZGRpbjpvcGVuIHNlc2FtZQ9a8s7d6f", True),
        ("LOG_ROTATION", "100MB,7", False),
    ],
)
def test_the_secret_detector_itself(key: str, value: str, secret: bool) -> None:
    assert looks_like_a_real_secret(key, value) is secret


@pytest.mark.parametrize("role", EXAMPLES)
def test_holds_placeholders_only(role: str) -> None:
    values = _values(EXAMPLES[role])

    assert values
    leaks = [key for key, value in values.items() if looks_like_a_real_secret(key, value)]
    assert leaks == []


@pytest.mark.parametrize("role", EXAMPLES)
def test_every_variable_is_described_in_the_docs(role: str) -> None:
    docs = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)

    undocumented = [key for key in _values(EXAMPLES[role]) if not re.search(rf"\b{key}\b", docs)]

    assert undocumented == []


def test_orchestrator_example_has_every_orchestrator_variable() -> None:
    assert ORCHESTRATOR_VARIABLES - set(_values(EXAMPLES["orchestrator"])) == set()


def test_worker_example_is_what_fingerv7_env_writes() -> None:
    template = {key: value for _, variables in WORKER_ENV_TEMPLATE for key, value in variables}

    assert _values(EXAMPLES["worker"]) == template
