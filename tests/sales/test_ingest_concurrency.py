"""Two real parallel connections ingesting overlapping batches: no duplicate, no lost order, no deadlock.

Each thread has its own database connection (Django's connections are per thread) and commits for real
(``transaction=True``), so the advisory lock, the row locks and the upserts meet as in production.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.functions import Coalesce

from sales.ingest.service import IngestContext, orders_ingest
from sales.models import Customer, CustomerIdentifier, CustomerMerge, Order, OrderLine

from ..factories import MerchantFactory, StoreFactory
from .ingest_builders import email, line, offline, order, phone

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = 40
ORDERS = 300
BATCH = 50
START = datetime.fromisoformat("2024-05-01T08:00:00+00:00")


def person_of(n: int) -> int:
    return n % PEOPLE


def build(n: int, *, with_phone: bool, with_email: bool = True):
    """Order n: always the same two lines; its shopper is known by e-mail and/or phone."""
    person = person_of(n)
    identifiers = []
    if with_email:
        identifiers.append(email(f"shopper{person}@example.com"))
    if with_phone:
        identifiers.append(phone(f"+33 6 12 34 {person // 100:02d} {person % 100:02d}"))
    make = offline if n % 3 == 0 else order
    extra = {"store": "PAR-01"} if n % 3 == 0 else {}
    return make(
        f"C-{n:04d}",
        **extra,
        placed_at=START + timedelta(minutes=17 * n),
        lines=[line(f"SKU-{n % 25}", "1", "12.00"), line("BAG-1", "1", "0.50")],
        identifiers=identifiers,
    )


def run_in_parallel(*workers) -> list[BaseException]:
    barrier = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def run(work):
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck (deadlock?)"
    return failures


def test_two_processes_sending_overlapping_batches_end_consistent():
    # Given a merchant with a store
    merchant = MerchantFactory(slug="race", name="Race")
    StoreFactory(merchant=merchant, code="PAR-01", country="FR")

    # When worker A sends every order (e-mail only) front to back, and worker B sends the same orders back to
    # front, its first batches knowing shoppers by phone only and the later ones by e-mail and phone (so B
    # creates phone-only customers that must then merge with A's e-mail ones), both at the same time
    def worker_a():
        context = IngestContext(merchant)
        for start in range(0, ORDERS, BATCH):
            batch = [build(n, with_phone=False) for n in range(start, start + BATCH)]
            outcomes = orders_ingest(merchant=merchant, orders=batch, context=context)
            assert {outcome.result for outcome in outcomes} <= {"created", "updated", "unchanged"}

    def worker_b():
        context = IngestContext(merchant)
        starts = list(range(0, ORDERS, BATCH))[::-1]
        for position, start in enumerate(starts):
            phone_only = position < 2
            batch = [build(n, with_phone=True, with_email=not phone_only) for n in range(start, start + BATCH)]
            outcomes = orders_ingest(merchant=merchant, orders=batch, context=context)
            assert {outcome.result for outcome in outcomes} <= {"created", "updated", "unchanged"}

    failures = run_in_parallel(worker_a, worker_b)

    # Then nothing failed, and every order is there once with its two lines
    assert failures == []
    orders = Order.objects.for_merchant(merchant)
    assert orders.count() == ORDERS
    assert sorted(orders.values_list("external_id", flat=True)) == [f"C-{n:04d}" for n in range(ORDERS)]
    assert OrderLine.objects.for_merchant(merchant).count() == ORDERS * 2

    # And each shopper is one surviving customer, whatever identifier each order carried
    survivors = Customer.objects.for_merchant(merchant).filter(merged_into__isnull=True)
    assert survivors.count() == PEOPLE
    assert not orders.filter(customer__merged_into__isnull=False).exists()
    assert not orders.filter(customer__isnull=True).exists()
    customer_of_person: dict[int, set[int]] = {}
    for external_id, customer_id in orders.values_list("external_id", "customer_id"):
        customer_of_person.setdefault(person_of(int(external_id[2:])), set()).add(customer_id)
    assert all(len(ids) == 1 for ids in customer_of_person.values())
    assert len({ids.pop() for ids in customer_of_person.values()}) == PEOPLE
    assert CustomerMerge.objects.for_merchant(merchant).count() == PEOPLE  # each phone-only customer merged once
    identifiers = CustomerIdentifier.objects.for_merchant(merchant)
    assert identifiers.count() == PEOPLE * 2
    assert not identifiers.filter(customer__merged_into__isnull=False).exists()
    assert (
        Customer.objects.for_merchant(merchant)
        .annotate(survivor=Coalesce(F("merged_into"), F("id")))
        .values("survivor")
        .distinct()
        .count()
        == PEOPLE
    )


def test_two_processes_sending_the_same_new_batch_create_each_order_once():
    merchant = MerchantFactory(slug="race2", name="Race 2")
    StoreFactory(merchant=merchant, code="PAR-01", country="FR")
    results: dict[str, list[str]] = {}

    def worker(name):
        def work():
            batch = [build(n, with_phone=True) for n in range(100)]
            results[name] = [outcome.result for outcome in orders_ingest(merchant=merchant, orders=batch)]

        return work

    failures = run_in_parallel(worker("a"), worker("b"))

    assert failures == []
    assert Order.objects.for_merchant(merchant).count() == 100
    assert OrderLine.objects.for_merchant(merchant).count() == 200
    # each order was created by exactly one of them; the other found it unchanged
    assert all({results["a"][n], results["b"][n]} == {"created", "unchanged"} for n in range(100))
    assert Customer.objects.for_merchant(merchant).filter(merged_into__isnull=True).count() == PEOPLE
