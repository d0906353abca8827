"""The per-track blob format: a lossless round trip, a few bytes per entry, a clear error for
bytes that are not a blob."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerv7.catalog.fingerprint_blobs import (
    FingerprintBlobError,
    decode_fingerprint,
    encode_fingerprint,
)
from fingerv7.core.fingerprint import HASH_BITS


@given(
    entries=st.lists(
        st.tuples(st.integers(0, (1 << HASH_BITS) - 1), st.integers(0, 200_000)), max_size=300
    )
)
def test_round_trip(entries: list[tuple[int, int]]) -> None:
    hashes = np.array([h for h, _ in entries], dtype=np.int64)
    frames = np.array([f for _, f in entries], dtype=np.int64)
    decoded_hashes, decoded_frames = decode_fingerprint(encode_fingerprint(hashes, frames))
    assert np.array_equal(decoded_hashes, hashes)
    assert np.array_equal(decoded_frames, frames)


def test_a_track_costs_a_few_bytes_per_entry() -> None:
    rng = np.random.default_rng(3)
    frames = np.sort(rng.integers(0, 11_250, 5_000))  # 3 minutes, 27 hashes per second
    hashes = rng.integers(0, 1 << HASH_BITS, frames.size)
    # Random 24-bit hashes are 3 bytes of entropy each, a frame delta about one more; the 4
    # stored bytes of a hash and 4 of a delta must mostly compress away.
    assert len(encode_fingerprint(hashes, frames)) < 4.5 * frames.size


@pytest.mark.parametrize(
    "blob", [b"", b"\x07abc", b"\x01not zlib", b"\x01" + zlib.compress(b"abc")]
)
def test_foreign_bytes_are_refused(blob: bytes) -> None:
    with pytest.raises(FingerprintBlobError):
        decode_fingerprint(blob)
