"""Generated songs for the capture tests: a radio playlist and a catalog that knows it."""

from __future__ import annotations

from fingerv7.testing.stations import add_to_catalog, demo_songs

radio_songs = demo_songs  # one song per seed, named `Artist <seed>` / `Song <seed>`

__all__ = ["add_to_catalog", "radio_songs"]
