"""Moved to :mod:`fingerv7.processing`; this re-export is kept for one release."""

from fingerv7.processing import AssignedStream, StreamProcessor, StreamStats

__all__ = ["AssignedStream", "StreamProcessor", "StreamStats"]
