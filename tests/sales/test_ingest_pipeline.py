"""The file-import pipeline (sales.ingest.pipeline), the prepare/write halves of orders_ingest, the relaxed
garbage collector (sales.ingest.runtime) and the non-durable commits of file imports."""

from __future__ import annotations

import gc
import sys
import threading

import pytest
from django.db import connection, transaction

from sales.ingest.pipeline import SWITCH_INTERVAL, batches_prepared
from sales.ingest.runtime import INGEST_GC_THRESHOLD, gc_relaxed
from sales.ingest.service import IngestContext, orders_ingest, orders_prepare, orders_write_prepared
from sales.ingest.types import RowError
from sales.models import Order, OrderLine

from ..factories import StoreFactory
from .ingest_builders import email, line, offline, order

pytestmark = pytest.mark.django_db


@pytest.fixture
def paris(merchant):
    return StoreFactory(merchant=merchant, code="PAR-01", name="Paris Marais", country="FR", timezone="Europe/Paris")


def parse_error(row: int) -> RowError:
    return RowError(ref=f"row {row}", column="Total", value="abc", reason="not a number", row=row)


def producer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ingest-prepare"]


def test_batches_are_cut_in_file_order_with_their_errors_and_the_reader_position(merchant, paris):
    # Given a parser run of 5 orders (one in a store known only by its name) and 2 file errors
    items = [
        order("A"), parse_error(3), offline("B", store="Paris Marais"), order("C"),
        order("D", currency="USD"), parse_error(9), order("E"),
    ]  # fmt: skip
    read = iter(range(1, 100))
    context = IngestContext(merchant)

    # When they are grouped by 2 orders
    position = lambda: (next(read), 0)  # noqa: E731
    batches = list(batches_prepared(iter(items), merchant=merchant, context=context, batch_size=2, position=position))

    # Then the batches keep the file order, each with the errors read before it was cut (row 9 comes after D)
    # and the reader's position then
    assert [[o.external_id for o in batch.orders] for batch in batches] == [["A", "B"], ["C", "D"], ["E"]]
    assert [[error.row for error in batch.errors] for batch in batches] == [[3], [], [9]]
    assert [batch.bytes_read for batch in batches] == [1, 2, 3]
    # and each is prepared (the store found by name, from the stores loaded before the thread started)
    assert [[o.external_id for o in batch.prepared.prepared] for batch in batches] == [["A", "B"], ["C"], ["E"]]
    assert [o.store_id for o in batches[0].prepared.prepared] == [None, paris.pk]
    assert [[error.reason for error in o.errors] for o in batches[1].prepared.outcomes] == [
        [],
        ["currency USD, this merchant sells in EUR"],
    ]
    assert producer_threads() == []


def test_writing_the_prepared_batches_stores_what_orders_ingest_stores(merchant, paris):
    # Given orders with customers, in a store, and one invalid
    items = [
        order("A", identifiers=[email("ann@example.com")]),
        offline("B", identifiers=[email("ANN@example.com ")], lines=[line("TEE-1", "2"), line("CAP-1")]),
        order("C", lines=[line("TEE-1", "-1")]),
        order("D"),
    ]
    context = IngestContext(merchant, durable=False)

    # When they go through the pipeline and the writing half
    outcomes = []
    for batch in batches_prepared(iter(items), merchant=merchant, context=context, batch_size=3):
        outcomes += orders_write_prepared(merchant=merchant, batch=batch.prepared, context=context)

    # Then the outcomes and the stored rows are those of orders_ingest
    assert [(o.external_id, o.result) for o in outcomes] == [
        ("A", "created"), ("B", "created"), ("C", "error"), ("D", "created"),
    ]  # fmt: skip
    stored = {o.external_id: o for o in Order.objects.for_merchant(merchant)}
    assert sorted(stored) == ["A", "B", "D"]
    assert stored["A"].customer_id == stored["B"].customer_id is not None
    assert stored["D"].customer_id is None
    assert OrderLine.objects.for_merchant(merchant).count() == 4
    # and sending them again through orders_ingest changes nothing
    again = orders_ingest(merchant=merchant, orders=[order("A", identifiers=[email("ann@example.com")]), order("D")])
    assert [(o.external_id, o.result) for o in again] == [("A", "unchanged"), ("D", "unchanged")]


def test_a_parser_failure_is_raised_in_the_caller(merchant):
    def items():
        yield order("A")
        yield order("B")
        raise OSError("the upload went away")

    batches = batches_prepared(items(), merchant=merchant, context=IngestContext(merchant), batch_size=1)

    first = next(batches)
    assert [o.external_id for o in first.orders] == ["A"]
    with pytest.raises(OSError, match="the upload went away"):
        list(batches)
    assert producer_threads() == []


def test_a_caller_stopping_early_stops_the_producer_and_restores_the_interpreter(merchant):
    # Given an endless parser run, and the interpreter's settings before
    def endless():
        number = 0
        while True:
            number += 1
            yield order(f"O-{number}")

    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    batches = batches_prepared(endless(), merchant=merchant, context=IngestContext(merchant), batch_size=10)

    # When the caller takes one batch
    first = next(batches)
    assert len(first.orders) == 10
    # Then while it runs, the collector and the GIL hand-over are relaxed
    assert gc.get_threshold() == INGEST_GC_THRESHOLD
    assert sys.getswitchinterval() == pytest.approx(min(interval, SWITCH_INTERVAL))
    assert len(producer_threads()) == 1
    # and when the caller stops, the producer stops (memory stayed bounded: it was blocked on the queue)
    batches.close()
    assert producer_threads() == []
    assert (gc.get_threshold(), sys.getswitchinterval()) == (thresholds, interval)


def test_gc_relaxed_is_reentrant_and_restores_the_thresholds_it_found():
    before = gc.get_threshold()
    with gc_relaxed():
        assert gc.get_threshold() == INGEST_GC_THRESHOLD
        with gc_relaxed():
            assert gc.get_threshold() == INGEST_GC_THRESHOLD
        assert gc.get_threshold() == INGEST_GC_THRESHOLD
    assert gc.get_threshold() == before


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.parametrize(("durable", "expected"), [(True, "on"), (False, "off")])
def test_file_imports_commit_without_waiting_for_the_wal_flush(merchant, durable, expected):
    # Given the server's default, and an import inside its own transaction (as all-or-nothing runs)
    assert synchronous_commit() == "on"
    with transaction.atomic():
        [outcome] = orders_ingest(
            merchant=merchant, orders=[order("W-1", identifiers=[email("w@example.com")])],
            context=IngestContext(merchant, durable=durable),
        )  # fmt: skip
        # Then a non-durable context (file imports) switched it off for this transaction (SET LOCAL: the
        # server's setting is back at its commit)
        assert outcome.result == "created"
        assert synchronous_commit() == expected


def test_prepare_and_write_refuse_a_context_of_another_merchant(merchant, other_merchant):
    context = IngestContext(other_merchant)
    with pytest.raises(ValueError, match="belongs to one merchant"):
        orders_prepare(merchant=merchant, orders=[order("A")], context=context)
    batch = orders_prepare(merchant=other_merchant, orders=[order("A", currency="")], context=context)
    with pytest.raises(ValueError, match="belongs to one merchant"):
        orders_write_prepared(merchant=merchant, batch=batch, context=context)
