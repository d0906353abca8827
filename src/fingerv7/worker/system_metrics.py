"""CPU and memory figures for heartbeats, presence and `/metrics`: the whole host, and this
worker process's own share (a busy neighbour must not look like a busy worker)."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class SystemSample:
    cpu_percent: float  # whole host
    memory_percent: float  # whole host
    process_cpu_percent: float = 0.0  # this process, 100 = one core
    process_memory_percent: float = 0.0  # this process's resident memory / host memory


class SystemSampler:
    """CPU is measured between two calls, so the first sample is primed at construction."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)
        self._process.cpu_percent(interval=None)

    def sample(self) -> SystemSample:
        return SystemSample(
            cpu_percent=float(psutil.cpu_percent(interval=None)),
            memory_percent=float(psutil.virtual_memory().percent),
            process_cpu_percent=float(self._process.cpu_percent(interval=None)),
            process_memory_percent=round(float(self._process.memory_percent()), 2),
        )
