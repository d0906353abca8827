"""CPU and memory figures for heartbeats, presence and `/metrics` (psutil, whole host)."""

from __future__ import annotations

from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class SystemSample:
    cpu_percent: float
    memory_percent: float


class SystemSampler:
    """CPU is measured between two calls, so the first sample is primed at construction."""

    def __init__(self) -> None:
        psutil.cpu_percent(interval=None)

    def sample(self) -> SystemSample:
        return SystemSample(
            cpu_percent=float(psutil.cpu_percent(interval=None)),
            memory_percent=float(psutil.virtual_memory().percent),
        )
