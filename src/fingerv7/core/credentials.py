"""Per-instance keys and credential redaction: pure functions, no I/O.

The key of instance X is `X.` followed by HMAC-SHA256(ORCHESTRATOR_INSTANCE_SECRET, X) in URL-safe
base64 without padding: the orchestrator stores nothing per instance, every replica checks a key
with the secret alone, and a restarted worker needs no state. The key names its instance so it is
checked without a lookup; it proves that one id, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re

_KEY_CONTEXT = b"fingerv7/instance-key/v1\x00"
INSTANCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# `scheme://user:password@` and `scheme://token@` in any text, e.g. a stream URL in an error.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")
# Query parameters whose value may be a credential (`?token=...`, `&stream_key=...`, `;pass=...`):
# a name that merely looks like one (`?design=`) is hidden too, which costs nothing.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;][\w.-]*(?:token|secret|pass|pwd|sig|credential|session|key|auth)[\w.-]*)"
    r"=(?P<value>[^&;#\s'\"]*)",
    re.IGNORECASE,
)
REDACTED = "***"


def _mac(secret: str, instance_id: str) -> str:
    digest = hmac.new(secret.encode(), _KEY_CONTEXT + instance_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def instance_key(secret: str, instance_id: str) -> str:
    """The bearer key of `instance_id`, derived from the orchestrator's instance secret."""
    if not secret:
        raise ValueError("the instance secret is empty")
    if not INSTANCE_ID_PATTERN.fullmatch(instance_id):
        raise ValueError(
            f"instance id {instance_id!r} is invalid: use 1-64 characters of [A-Za-z0-9._-]"
        )
    return f"{instance_id}.{_mac(secret, instance_id)}"


def instance_of_key(secret: str, presented: str) -> str | None:
    """The instance id a presented key proves, or None (checked in constant time)."""
    claimed, dot, _ = presented.rpartition(".")
    if not dot or not INSTANCE_ID_PATTERN.fullmatch(claimed):
        return None
    return claimed if key_matches(presented, instance_key(secret, claimed)) else None


def key_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison (the time does not tell how much of the key was right)."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_urls(text: str) -> str:
    """`text` with URL credentials replaced by `***`: user:password@ and secret query values."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _SECRET_PARAMETER.sub(lambda m: f"{m.group('name')}={REDACTED}", text)


class RedactsLastError:
    """Dataclass mixin: a `last_error` assigned to it is kept with URL credentials redacted,
    so no status page, heartbeat or log that shows it can leak a stream's user:password@."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        if name == "last_error" and isinstance(value, str):
            value = redact_urls(value)
        object.__setattr__(self, name, value)
