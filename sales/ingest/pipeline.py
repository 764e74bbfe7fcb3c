"""File imports as a two-stage pipeline: a thread parses and prepares the next batch while the caller writes
this one.

The write half of an ingest mostly waits for PostgreSQL (psycopg releases the GIL while it waits), the other
half is pure Python (parsing, validation, normalisation, hashing): running them side by side overlaps the two.
Only the caller's thread touches the database (Django connections are per thread, and the import's transaction
lives on the caller's); the producer thread runs :func:`sales.ingest.service.orders_prepare`, which queries
nothing once ``context.stores`` is loaded (done here, in the caller's thread, before the thread starts).

At most ``depth`` batches wait in the queue, so memory stays flat whatever the file size. An exception in the
producer (a parser bug, a broken file object) is raised again in the caller; when the caller stops early
(an exception, or it simply stops iterating), the producer is told to stop and is joined.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .runtime import gc_relaxed
from .service import IngestContext, PreparedBatch, orders_prepare
from .types import OrderInput, RowError

QUEUE_DEPTH = 1  # one batch waiting is enough to overlap; each costs ~10 MB
# While the pipeline runs, the interpreter hands the GIL over every 0.2 ms instead of 5: the writing thread, the
# bottleneck, gets it back sooner after each statement (it waits for PostgreSQL ~30 times per batch); the
# producer, ahead anyway, loses little. Measured on a loaded machine only (benchmarks/README.md, round 2):
# single runs gave 5,084 lines/s with 1 ms and 6,047 with 0.2 ms, within the noise; not proven either way.
SWITCH_INTERVAL = 0.0002
_PUT_TIMEOUT = 0.2  # seconds between checks of the stop flag while the queue is full
_DONE = object()


@dataclass(slots=True)
class Batch:
    """Up to ``batch_size`` orders read in file order, the file's own errors met while reading them, the
    prepared batch (None when the caller asked not to prepare), and the reader's position after them."""

    orders: list[OrderInput] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    prepared: PreparedBatch | None = None
    bytes_read: int = 0
    rows_read: int = 0


class _ProducerFailed(Exception):
    pass


def batches_prepared(
    items: Iterable[OrderInput | RowError],
    *,
    merchant,
    context: IngestContext,
    store_mapping: dict[str, str] | None = None,
    batch_size: int,
    position: Callable[[], tuple[int, int]] | None = None,
    depth: int = QUEUE_DEPTH,
) -> Iterator[Batch]:
    """Group ``items`` (a parser run: ``OrderInput`` and ``RowError``) into batches of ``batch_size`` orders,
    each prepared with ``orders_prepare`` in a background thread. ``position()`` gives ``(bytes_read,
    rows_read)`` of the reader, recorded on each batch when it is cut (for progress reports)."""
    context.stores  # noqa: B018 (load the stores here: the producer thread must not query)
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=_PUT_TIMEOUT)
                return True
            except queue.Full:
                continue
        return False

    def finish(batch: Batch) -> Batch:
        if position is not None:
            batch.bytes_read, batch.rows_read = position()
        if batch.orders:
            batch.prepared = orders_prepare(
                merchant=merchant, orders=batch.orders, store_mapping=store_mapping, context=context
            )
        return batch

    def produce() -> None:
        try:
            batch = Batch()
            for item in items:
                if stop.is_set():
                    return
                if isinstance(item, RowError):
                    batch.errors.append(item)
                    continue
                batch.orders.append(item)
                if len(batch.orders) >= batch_size:
                    if not put(finish(batch)):
                        return
                    batch = Batch()
            if (batch.orders or batch.errors) and not put(finish(batch)):
                return
            put(_DONE)
        except BaseException as error:  # handed to the caller's thread, raised there
            put(_ProducerFailed(error))

    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(previous_interval, SWITCH_INTERVAL))
    with gc_relaxed():
        thread = threading.Thread(target=produce, name="ingest-prepare", daemon=True)
        thread.start()
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    return
                if isinstance(item, _ProducerFailed):
                    raise item.args[0]
                yield item
        finally:
            stop.set()
            thread.join()
            sys.setswitchinterval(previous_interval)
