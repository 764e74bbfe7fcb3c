"""The rollup refresh: coalesced dirty days, no-op when clean, customer merges, the per-merchant lock, the task."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from analytics import selectors
from analytics.models import CustomerDay, CustomerFirstOrder, RollupState, StoreDay
from analytics.services import LOCK_NAMESPACE, rollups_check, rollups_refresh
from analytics.tasks import rollups_refresh_task
from sales.ingest.types import IdentifierInput, LineInput, OrderInput
from sales.models import Customer, DirtyDay
from sales.services import rollups_refresh_enqueue

from . import oracle
from .conftest import make_filters
from .oracle import dataset_create, ingest

pytestmark = pytest.mark.django_db


def sale(external_id: str, placed_at: str, *, store: str | None = "PAR-01", email: str = "", phone: str = "",
         price: str = "10.00", channel: str | None = None) -> OrderInput:  # fmt: skip
    identifiers = []
    if email:
        identifiers.append(IdentifierInput(kind="email", value=email))
    if phone:
        identifiers.append(IdentifierInput(kind="phone", value=phone))
    return OrderInput(
        source="api",
        external_id=external_id,
        channel=channel or ("offline" if store else "online"),
        store=store,
        placed_at=datetime.fromisoformat(placed_at).astimezone(UTC),
        currency="EUR",
        lines=[LineInput(sku="P-00", quantity=Decimal(1), unit_price=Decimal(price))],
        identifiers=identifiers,
    )


@pytest.fixture
def shop(merchant):
    return dataset_create(merchant)


def test_a_burst_of_ingests_is_refreshed_once_per_touched_day(shop):
    merchant = shop.merchant
    # Given: three ingests touching 2024-05-01, 05-02 and (twice) 05-03
    ingest(merchant, [sale("A", "2024-05-01T10:00:00+02:00"), sale("B", "2024-05-03T10:00:00+02:00")])
    ingest(merchant, [sale("C", "2024-05-02T10:00:00+02:00")])
    ingest(merchant, [sale("D", "2024-05-03T11:00:00+02:00")])
    assert DirtyDay.objects.filter(merchant=merchant).count() == 3

    # When: the three queued tasks run
    first, second, third = (rollups_refresh(merchant_id=merchant.pk) for _ in range(3))

    # Then: the first rewrote each day once; the others found nothing to do
    assert first.days == (date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3))
    assert second.days == third.days == ()
    assert not DirtyDay.objects.filter(merchant=merchant).exists()
    rows = StoreDay.objects.filter(merchant=merchant).order_by("local_date").values_list("local_date", "orders")
    assert list(rows) == [(date(2024, 5, 1), 1), (date(2024, 5, 2), 1), (date(2024, 5, 3), 2)]
    assert RollupState.objects.get(merchant=merchant).days_refreshed == 3


def test_a_refresh_without_dirty_days_writes_nothing(shop, django_assert_num_queries):
    rollups_refresh(merchant_id=shop.merchant.pk)  # creates the state row

    # merchant, lock, state (savepoint, select for update, release), claim, merges: no write
    with django_assert_num_queries(7):
        result = rollups_refresh(merchant_id=shop.merchant.pk)

    assert result.days == ()


def test_only_the_dirty_days_are_rewritten(shop):
    merchant = shop.merchant
    ingest(merchant, [sale("A", "2024-05-01T10:00:00+02:00"), sale("B", "2024-05-02T10:00:00+02:00")])
    rollups_refresh(merchant_id=merchant.pk)
    untouched = StoreDay.objects.get(merchant=merchant, local_date=date(2024, 5, 1))

    ingest(merchant, [sale("C", "2024-05-02T12:00:00+02:00", price="5.00")])
    result = rollups_refresh(merchant_id=merchant.pk)

    assert result.days == (date(2024, 5, 2),)
    assert StoreDay.objects.get(merchant=merchant, local_date=date(2024, 5, 1)).pk == untouched.pk
    assert StoreDay.objects.get(merchant=merchant, local_date=date(2024, 5, 2)).net == Decimal("15.00")


def test_a_merge_refreshes_the_merged_customers_other_days(shop):
    merchant = shop.merchant
    # Given: one person known twice — by e-mail online on May 1, by phone in store on May 2 — refreshed
    ingest(merchant, [sale("A", "2024-05-01T10:00:00+02:00", store=None, email="jo@example.com")])
    ingest(merchant, [sale("B", "2024-05-02T10:00:00+02:00", phone="+33612345678")])
    rollups_refresh(merchant_id=merchant.pk)
    may = make_filters(merchant, date(2024, 5, 1), date(2024, 5, 2))
    assert (selectors.summary(may).current.customers, selectors.summary(may).current.omnichannel_customers) == (2, 0)

    # When: an order on May 9 carries both identifiers (they merge), and the refresh runs
    ingest(merchant, [sale("C", "2024-05-09T10:00:00+02:00", email="jo@example.com", phone="+33612345678")])
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: the merged-away customer's day was rewritten too, and they count once, as omnichannel
    survivor = Customer.objects.get(merchant=merchant, merged_into__isnull=True)
    loser = Customer.objects.get(merchant=merchant, merged_into__isnull=False)
    assert date(2024, 5, 9) in result.days
    assert result.merged_customers == 1
    assert not CustomerDay.objects.filter(merchant=merchant, customer_id=loser.pk).exists()
    assert not CustomerFirstOrder.objects.filter(merchant=merchant, customer_id=loser.pk).exists()
    assert CustomerFirstOrder.objects.get(merchant=merchant, customer_id=survivor.pk).first_date == date(2024, 5, 1)
    # and every row of the survivor carries that first order day (returning is read from the rows)
    rows = CustomerDay.objects.filter(merchant=merchant, customer_id=survivor.pk)
    assert set(rows.values_list("first_date", flat=True)) == {date(2024, 5, 1)}
    current = selectors.summary(may).current
    assert (current.customers, current.omnichannel_customers, current.omnichannel_sales) == (1, 1, Decimal("20.00"))
    assert current == oracle.kpis(oracle.entries(merchant), may)
    assert rollups_check(merchant_id=merchant.pk) == []


def test_cancelling_a_first_order_moves_the_first_date_on_the_other_days_rows(shop):
    merchant = shop.merchant
    # Given: a customer who bought on May 1 and May 5, refreshed
    first = sale("A", "2024-05-01T10:00:00+02:00", email="ana@example.com")
    ingest(merchant, [first, sale("B", "2024-05-05T10:00:00+02:00", email="ana@example.com")])
    rollups_refresh(merchant_id=merchant.pk)
    may5 = make_filters(merchant, date(2024, 5, 5), date(2024, 5, 5))
    assert selectors.summary(may5).current.returning_customers == 1

    # When: the May 1 order is cancelled (only May 1 is rewritten)
    first.status = "cancelled"
    ingest(merchant, [first])
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: the May 5 row now says the first order is May 5, and May 5 counts a new customer
    assert result.days == (date(2024, 5, 1),)
    assert set(CustomerDay.objects.filter(merchant=merchant).values_list("first_date", flat=True)) == {date(2024, 5, 5)}
    current = selectors.summary(may5).current
    assert (current.customers, current.returning_customers, current.new_customers) == (1, 0, 1)
    assert current == oracle.kpis(oracle.entries(merchant), may5)
    assert rollups_check(merchant_id=merchant.pk) == []


def test_a_wrong_first_date_is_found_by_the_check_and_repaired_by_rebuild_only(shop, capsys):
    from django.core.management import call_command

    merchant = shop.merchant
    ingest(merchant, [sale("A", "2024-05-01T10:00:00+02:00", email="ana@example.com")])
    rollups_refresh(merchant_id=merchant.pk)
    CustomerDay.objects.filter(merchant=merchant).update(first_date=date(2024, 4, 1))

    assert [d.table for d in rollups_check(merchant_id=merchant.pk)] == ["analytics_customerday (first_date)"]
    call_command("rebuild_rollups", "--merchant", merchant.slug, "--only", "first_dates")
    assert rollups_check(merchant_id=merchant.pk) == []


def test_the_task_refreshes_and_the_ingest_hook_finds_it(shop, settings):
    ingest(shop.merchant, [sale("A", "2024-05-01T10:00:00+02:00")])

    assert rollups_refresh_task.apply(args=[shop.merchant.pk]).get() == 1
    assert rollups_refresh_task.name == "analytics.rollups_refresh"
    assert StoreDay.objects.filter(merchant=shop.merchant).count() == 1


def test_the_hook_enqueues_the_real_task(shop, monkeypatch):
    queued = []
    monkeypatch.setattr(rollups_refresh_task, "delay", lambda merchant_id: queued.append(merchant_id))

    assert rollups_refresh_enqueue(shop.merchant.pk) is True
    assert queued == [shop.merchant.pk]


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_wait_for_each_other_and_do_each_day_once(merchant):
    shop = dataset_create(merchant)
    ingest(merchant, [sale("A", "2024-05-01T10:00:00+02:00"), sale("B", "2024-05-02T10:00:00+02:00")])
    settings = connection.settings_dict
    # Given: another session holds the merchant's rollup lock (a refresh in progress)
    holder = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname=settings["NAME"], autocommit=False,
    )  # fmt: skip
    holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, merchant.pk])
    results = []

    def refresh():
        try:
            results.append(rollups_refresh(merchant_id=shop.merchant.pk))
        finally:
            connection.close()

    # When: two refresh tasks start meanwhile
    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    waiting = [thread.is_alive() for thread in threads]
    holder.rollback()  # the lock holder finishes
    holder.close()
    for thread in threads:
        thread.join(timeout=20)

    # Then: both waited; together they rewrote each dirty day exactly once
    assert waiting == [True, True]
    assert sorted(len(result.days) for result in results) == [0, 2]
    assert StoreDay.objects.filter(merchant=merchant).count() == 2


def test_customer_figures_are_cached_until_the_next_refresh(shop, django_assert_num_queries):
    merchant = shop.merchant
    ingest(merchant, [sale("A", "2024-05-01T10:00:00+02:00", email="jo@example.com")])
    rollups_refresh(merchant_id=merchant.pk)
    may = make_filters(merchant, date(2024, 5, 1), date(2024, 5, 31))
    assert selectors.summary(may).current.customers == 1

    # The same question again: the sales query only (customers come from the cache)
    with django_assert_num_queries(1 + 1):  # current and comparison periods
        assert selectors.summary(may).current.customers == 1

    # A refresh that writes makes the cached answer unreachable
    ingest(merchant, [sale("B", "2024-05-02T10:00:00+02:00", email="al@example.com")])
    rollups_refresh(merchant_id=merchant.pk)
    assert selectors.summary(may).current.customers == 2


def test_the_figures_are_computed_when_the_cache_is_down(shop, monkeypatch):
    from analytics import cache as analytics_cache

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    ingest(shop.merchant, [sale("A", "2024-05-01T10:00:00+02:00", email="jo@example.com")])
    rollups_refresh(merchant_id=shop.merchant.pk)
    monkeypatch.setattr(analytics_cache.cache, "get", broken)

    assert selectors.summary(make_filters(shop.merchant, date(2024, 5, 1), date(2024, 5, 1))).current.customers == 1


@pytest.mark.parametrize(("action", "message"), [("refresh_now", "1 day(s) refreshed"), ("rebuild_now", "rebuilt in")])
def test_staff_refresh_or_rebuild_a_merchant_from_the_admin(shop, client, action, message):
    from tests.factories import UserFactory

    ingest(shop.merchant, [sale("A", "2024-05-01T10:00:00+02:00")])
    state = RollupState.objects.create(merchant=shop.merchant)
    client.force_login(UserFactory(email="staff@newretail.test", is_staff=True, is_superuser=True))

    response = client.post(
        "/admin/analytics/rollupstate/", {"action": action, "_selected_action": [state.pk]}, follow=True
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert StoreDay.objects.filter(merchant=shop.merchant).count() == 1


def test_rebuild_rollups_command(shop, capsys):
    from django.core.management import CommandError, call_command

    ingest(shop.merchant, [sale("A", "2024-05-01T10:00:00+02:00"), sale("B", "2024-05-01T23:30:00+02:00")])

    call_command("rebuild_rollups", "--merchant", "alpha", verbosity=2)

    out = capsys.readouterr().out
    assert out.startswith("alpha: rollups rebuilt from 2 source rows in ")
    assert "  analytics_storeday: " in out
    assert not DirtyDay.objects.filter(merchant=shop.merchant).exists()
    assert StoreDay.objects.get(merchant=shop.merchant).orders == 2
    with pytest.raises(CommandError, match="No merchant with slug 'nope'"):
        call_command("rebuild_rollups", "--merchant", "nope")
