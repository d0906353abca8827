"""`collector_paused`: the cyclic garbage collector off for a burst of allocations.

A tick that plans a cold start lists up to a million `Change` tuples (and as many handoffs). Each
allocation burst would trigger full collections that walk every live object of the process (the
million `StreamSpec`s of the fleet included) although none of the new objects can be garbage:
measured, pausing the collector halves the time of materialising a million changes.

Process-wide by nature: while the monitor's worker thread holds it, the event loop's thread
allocates without cyclic collection too (reference counting still frees everything acyclic).
That is why it lives here, with the caller that decides to pay it, and not in the pure core.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it after only if it was enabled."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
