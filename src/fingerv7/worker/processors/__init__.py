"""The processor registry: `PROCESSOR` names → factories that take the worker's settings.

To add a processor, write a module with a class following
:class:`fingerv7.processing.StreamProcessor` and add one entry to :data:`PROCESSORS`.
Factories import their module lazily so a worker only loads the processor it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from fingerv7.processing import StreamProcessor
from fingerv7.worker.settings import WorkerSettings

ProcessorFactory = Callable[[WorkerSettings], StreamProcessor]


class ProcessorUnavailable(Exception):
    """The configured PROCESSOR is unknown or cannot be loaded."""


def _probe(settings: WorkerSettings) -> StreamProcessor:
    from fingerv7.worker.processors.probe import ProbeProcessor

    return ProbeProcessor()


def _fingerprint(settings: WorkerSettings) -> StreamProcessor:
    from fingerv7.worker.processors.fingerprint import create_processor

    return create_processor(settings)


PROCESSORS: dict[str, ProcessorFactory] = {
    "probe": _probe,
    "fingerprint": _fingerprint,
}


def build_processor(settings: WorkerSettings) -> StreamProcessor:
    """The processor named by `settings.processor`, or ProcessorUnavailable with the choices."""
    factory = PROCESSORS.get(settings.processor)
    if factory is None:
        choices = ", ".join(sorted(PROCESSORS))
        raise ProcessorUnavailable(
            f"PROCESSOR={settings.processor!r} is unknown; choose one of {choices}"
        )
    return factory(settings)
