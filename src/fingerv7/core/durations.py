"""Durations as people read them: one format for the orchestrator's and the workers' uptime."""

from __future__ import annotations


def format_uptime(seconds: float) -> str:
    """`2h 15m 30s`, as the manual prints it (whole seconds, hours unbounded)."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s"
