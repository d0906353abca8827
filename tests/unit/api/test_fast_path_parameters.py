"""Which long-polls and heartbeats the fast path serves itself (the rest go to FastAPI)."""

from __future__ import annotations

import pytest

from fingerv7.api.fast_path import _is_json, _long_poll_parameters


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", (0, 25.0)),
        (b"after_generation=7", (7, 25.0)),
        (b"after_generation=7&wait=0", (7, 0.0)),
        (b"wait=12.5&after_generation=3", (3, 12.5)),
        (b"after_generation=9223372036854775807&wait=60", (9223372036854775807, 60.0)),
        (b"after_generation=1&after_generation=2", (2, 25.0)),  # the last wins, as in Starlette
        (b"after_generation=1&other=x", (1, 25.0)),  # unknown parameters are ignored, as there
    ],
)
def test_plain_long_polls_are_served_here(query: bytes, expected: tuple[int, float]) -> None:
    assert _long_poll_parameters(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"after_generation=-1",
        b"after_generation=x",
        b"after_generation=",
        b"after_generation=9223372036854775808",
        b"after_generation=%2B5",
        b"wait=60.5",
        b"wait=1e3",
        b"wait=",
        b"wait=nan",
        b"after_generation=\xff",
    ],
)
def test_anything_else_goes_to_fastapi(query: bytes) -> None:
    assert _long_poll_parameters(query) is None


@pytest.mark.parametrize(
    ("content_type", "served"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/vnd.fingerv7+json", True),
        ("text/plain", False),
        (None, False),
        ("application/jsonp", False),
    ],
)
def test_only_bodies_declared_json_are_parsed_here(content_type: str | None, served: bool) -> None:
    assert _is_json(content_type) is served
