"""Per-instance keys and URL redaction: pure functions, checked by example and by property."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.credentials import instance_key, instance_of_key, is_loopback, redact_urls

ids = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=64)
secrets = st.text(min_size=1, max_size=40)


@settings(max_examples=50)
@given(secret=secrets, instance_id=ids)
def test_a_key_proves_its_own_instance_and_no_other(secret: str, instance_id: str) -> None:
    key = instance_key(secret, instance_id)
    assert instance_of_key(secret, key) == instance_id
    assert key.startswith(f"{instance_id}.")
    assert instance_of_key(secret + "x", key) is None
    other = instance_id + "x" if len(instance_id) < 64 else instance_id[:-1]
    forged = f"{other}.{key.rpartition('.')[2]}"  # another id with this id's MAC
    assert instance_of_key(secret, forged) is None


def test_keys_are_stable_and_header_safe() -> None:
    key = instance_key("s3cret", "fingerv7-001")
    assert key == instance_key("s3cret", "fingerv7-001")
    assert key != instance_key("s3cret", "fingerv7-002")
    assert all(c in string.ascii_letters + string.digits + "._-" for c in key)
    for junk in ("", ".", "fingerv7-001.", "fingerv7-001", "a b.xyz", key[:-1]):
        assert instance_of_key("s3cret", junk) is None
    with pytest.raises(ValueError, match="invalid"):
        instance_key("s3cret", "bad id")
    with pytest.raises(ValueError, match="empty"):
        instance_key("", "fingerv7-001")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET http://bob:hunter2@radio.example/live failed",
            "GET http://***@radio.example/live failed",
        ),
        ("https://radio.example/a.mp3?token=abc&x=1", "https://radio.example/a.mp3?token=***&x=1"),
        ("icy://k@h:8000/s?sig=1;api_key=2", "icy://***@h:8000/s?sig=***;api_key=***"),
        ("postgresql://u:p@db:5432/music_log", "postgresql://***@db:5432/music_log"),
        (
            "ConnectError for http://user:s3cret@radio.example/live?token=abc&x=1;api_key=zz",
            "ConnectError for http://***@radio.example/live?token=***&x=1;api_key=***",
        ),
        (
            "rtmp://h/app?stream_key=k1&pass=p2&x_sig=s3",
            "rtmp://h/app?stream_key=***&pass=***&x_sig=***",
        ),
        ("plain text, no URL", "plain text, no URL"),
        ("https://radio.example/live?bitrate=128", "https://radio.example/live?bitrate=128"),
    ],
)
def test_redaction_removes_credentials_only(text: str, expected: str) -> None:
    assert redact_urls(text) == expected


@given(
    user=st.text(alphabet=string.ascii_letters, min_size=1),
    pw=st.text(alphabet=string.ascii_letters + string.digits + "!$%", min_size=6),
)
def test_no_password_survives_redaction(user: str, pw: str) -> None:
    assert pw not in redact_urls(f"error reading http://{user}:{pw}@host/path?password={pw}")


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""))
