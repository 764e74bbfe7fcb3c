"""Interpreter settings the ingest relaxes while it runs.

An ingest allocates tens of thousands of short-lived, acyclic objects per batch (inputs, prepared orders and
lines, Decimals, tuples), freed by reference counting as soon as the batch is written. With CPython's default
thresholds (700, 10, 10) the cyclic garbage collector still runs ~100 times per batch and, every few batches,
walks every object of the process (the SKU, identity and phone caches included): measured, a quarter of the
CPU of a file import. :func:`gc_relaxed` raises the thresholds for the duration of an ingest and restores them
after; collections still happen (less often), so cyclic garbage is still freed.

Process-wide and re-entrant: nested or concurrent users (threads) share one relaxed period, the last one out
restores the thresholds it found.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

INGEST_GC_THRESHOLD = (50_000, 20, 20)

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] | None = None


@contextmanager
def gc_relaxed() -> Iterator[None]:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*INGEST_GC_THRESHOLD)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
