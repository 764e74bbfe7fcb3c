"""The refresh writes only the rollup rows a batch changes (issue 4: "refresh after a 1,000-order batch ≤ 2 s").

A refresh recomputes the dirty days from all their lines and writes only the rows that differ from the stored
ones. These tests pin both halves: the rows of a touched day that the batch does not concern keep their ids
(nothing rewritten), and whatever the change — a new order, an order moved to another store and day, a refund
on a later day, a customer merge, a sequence of all of them — the rollups equal a recomputation from raw lines
(``rollups_check``) and the selectors equal the oracle.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal

import pytest

from analytics import selectors
from analytics.models import (
    CategoryStoreDay,
    CustomerCategoryDay,
    CustomerDay,
    CustomerFirstOrder,
    HourCategoryStoreDay,
    HourStoreDay,
    ProductDay,
    ProductMonth,
    ProductStoreDay,
    StoreDay,
)
from analytics.services import rollups_check, rollups_refresh
from sales.ingest.types import IdentifierInput, LineInput, OrderInput
from sales.models import Customer, CustomerMerge, Order, OrderLine
from sales.services import rollups_mark_dirty

from . import oracle
from .conftest import make_filters
from .oracle import ingest, merge_orders

pytestmark = pytest.mark.django_db

DAY_TABLES = (
    StoreDay,
    CategoryStoreDay,
    ProductDay,
    ProductStoreDay,
    HourStoreDay,
    HourCategoryStoreDay,
    CustomerDay,
    CustomerCategoryDay,
)
MARCH = (date(2024, 3, 1), date(2024, 3, 31))


def rows_by_id(merchant, model, **filters) -> dict[int, object]:
    return {row.pk: row for row in model.objects.filter(merchant=merchant, **filters)}


def snapshot(merchant) -> dict[type, dict[int, object]]:
    return {model: rows_by_id(merchant, model) for model in DAY_TABLES}


def changed_rows(before, after) -> dict[type, list[object]]:
    """Per table, the rows deleted or inserted between two snapshots (a row rewritten shows as both)."""
    changed = {}
    for model in DAY_TABLES:
        gone = [row for pk, row in before[model].items() if pk not in after[model]]
        new = [row for pk, row in after[model].items() if pk not in before[model]]
        changed[model] = gone + new
    return changed


def sale_of(dataset, day: date, customer: str) -> OrderInput:
    """A completed order of the generator on ``day``, with sold items only, in a store, at midday."""
    order = dataset.generator.order(day, customer=customer)
    order.status, order.store, order.channel = "completed", "PAR-01", "offline"
    order.placed_at = datetime.combine(day, clock(12, 30), tzinfo=zoneinfo.ZoneInfo("Europe/Paris")).astimezone(UTC)
    order.lines = [line for line in order.lines if line.kind == "sale"]
    return order


def assert_exact(merchant) -> None:
    assert rollups_check(merchant_id=merchant.pk) == []
    march = make_filters(merchant, *MARCH)
    assert selectors.summary(march) == oracle.summary(oracle.entries(merchant), march)


def resend(order: OrderInput, **changes) -> OrderInput:
    """The same order (source, external id) sent again with ``changes``: an update."""
    return dataclasses.replace(order, **changes)


def test_a_new_order_rewrites_only_the_rows_of_its_store_product_and_hour(dataset):
    merchant = dataset.merchant
    day, store, product = date(2024, 3, 15), dataset.stores["PAR-01"], dataset.products[3]
    before = snapshot(merchant)
    untouched_stores = StoreDay.objects.filter(merchant=merchant, local_date=day).exclude(store_id=store.pk)
    assert untouched_stores.exists()  # the day has other stores' rows, which must stay as they are

    # When: one anonymous in-store order of one product lands on a day that already has sales
    order = OrderInput(
        source="api", external_id="SLICE-1", channel="offline", store="PAR-01",
        placed_at=dataset.generator._moment(day, store.timezone), currency="EUR",
        lines=[LineInput(sku=product.sku, quantity=Decimal(2), unit_price=Decimal("12.50"))],
    )  # fmt: skip
    ingest(merchant, [order])
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: the day was recomputed, but only rows of that store, channel, product (or its category) were written
    assert result.days == (day,)
    changed = changed_rows(before, snapshot(merchant))
    for model, rows in changed.items():
        for row in rows:
            assert (row.local_date, row.store_id if hasattr(row, "store_id") else store.pk) == (day, store.pk), model
            assert row.channel == "offline"
            if hasattr(row, "product_id"):
                assert row.product_id == product.pk
            if hasattr(row, "category_id"):
                assert row.category_id == product.category_id
    assert changed[CustomerDay] == changed[CustomerCategoryDay] == []  # an anonymous sale: no customer row
    assert changed[StoreDay]
    assert changed[ProductStoreDay]
    assert changed[HourStoreDay]
    assert result.rows_written == sum(len(rows) for rows in changed.values())
    assert set(untouched_stores.values_list("pk", flat=True)) <= set(before[StoreDay])
    assert_exact(merchant)


def test_an_order_moved_to_another_store_and_day_leaves_nothing_behind(dataset):
    merchant = dataset.merchant
    day, later = date(2024, 3, 15), date(2024, 3, 16)
    paris = StoreDay.objects.filter(merchant=merchant, local_date=day, store_id=dataset.stores["PAR-01"].pk)
    paris_before = sorted(paris.values_list("channel", "net", "orders"))
    # Given: a new customer's order in Paris on March 15, refreshed
    first = dataset.generator.order(day, customer="mover")
    order = resend(first, channel="offline", store="PAR-01", status="completed",
                   placed_at=dataset.generator._moment(day, "Europe/Paris"))  # fmt: skip
    order.lines = [line for line in order.lines if line.kind == "sale"]
    ingest(merchant, [order])
    rollups_refresh(merchant_id=merchant.pk)
    customer = Order.objects.get(merchant=merchant, external_id=order.external_id).customer
    assert CustomerFirstOrder.objects.get(merchant=merchant, customer_id=customer.pk).first_date == day

    # When: it is sent again, corrected to London on March 16
    moved = resend(order, store="LON-01", placed_at=dataset.generator._moment(later, "Europe/London"))
    ingest(merchant, [moved])
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: Paris on March 15 is as before the order; the customer's rows and first order are on March 16
    assert result.days == (day, later)
    assert sorted(paris.values_list("channel", "net", "orders")) == paris_before
    rows = CustomerDay.objects.filter(merchant=merchant, customer_id=customer.pk)
    assert set(rows.values_list("local_date", "store_id", "first_date")) == {
        (later, dataset.stores["LON-01"].pk, later)
    }
    assert CustomerFirstOrder.objects.get(merchant=merchant, customer_id=customer.pk).first_date == later
    assert_exact(merchant)


def test_a_refund_on_a_later_day_marks_and_writes_only_the_refund_day(dataset):
    merchant = dataset.merchant
    sale_day, refund_day = date(2024, 3, 1), date(2024, 3, 20)
    order = sale_of(dataset, sale_day, customer="c3")
    ingest(merchant, [order])
    rollups_refresh(merchant_id=merchant.pk)
    sale_day_rows = {model: rows_by_id(merchant, model, local_date=sale_day) for model in DAY_TABLES}

    # When: the order is sent again with one item returned 19 days later
    returned = order.lines[0]
    refunded = resend(order, lines=[*order.lines, LineInput(
        sku=returned.sku, quantity=Decimal(-1), unit_price=returned.unit_price, kind="return",
        occurred_at=order.placed_at + timedelta(days=19),
    )])  # fmt: skip
    ingest(merchant, [refunded])
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: only the refund's day was dirty (the sale's lines and order figures did not change), and the
    # refund is counted on it
    assert result.days == (refund_day,)
    refund = returned.unit_price
    store_id = dataset.stores[order.store].pk if order.store else None
    refund_row = StoreDay.objects.get(merchant=merchant, local_date=refund_day, store_id=store_id,
                                      channel=order.channel)  # fmt: skip
    assert refund_row.refunds >= refund
    product = next(product for product in dataset.products if product.sku == returned.sku)
    product_row = ProductDay.objects.get(merchant=merchant, local_date=refund_day, product_id=product.pk,
                                         channel=order.channel)  # fmt: skip
    assert product_row.refunds >= refund
    assert_exact(merchant)

    # And recomputing the sale day anyway writes nothing there: same rows, same ids
    rollups_mark_dirty(merchant, [sale_day])
    again = rollups_refresh(merchant_id=merchant.pk)
    assert (again.days, again.rows_written) == ((sale_day,), 0)
    for model, rows in sale_day_rows.items():
        after = rows_by_id(merchant, model, local_date=sale_day)
        assert after.keys() == rows.keys(), model
        assert [after[pk].net for pk in rows] == [row.net for row in rows.values()], model


@pytest.mark.parametrize(
    ("_case", "change"),
    [
        ("order_discount", lambda order: resend(order, order_discount=Decimal("3.00"))),
        ("cancelled", lambda order: resend(order, status="cancelled")),
        ("another_customer", lambda order: resend(order, identifiers=[IdentifierInput("email", "new@example.com")])),
        ("another_moment", lambda order: resend(order, placed_at=order.placed_at + timedelta(hours=2))),
        (
            "a_line_changed",
            lambda order: resend(
                order,
                lines=[dataclasses.replace(order.lines[0], quantity=order.lines[0].quantity + 1), *order.lines[1:]],
            ),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_update_of_the_order_itself_marks_its_sale_day(dataset, _case, change):
    merchant = dataset.merchant
    sale_day = date(2024, 3, 1)
    order = sale_of(dataset, sale_day, customer="c3")
    ingest(merchant, [order])
    rollups_refresh(merchant_id=merchant.pk)

    ingest(merchant, [change(order)])
    result = rollups_refresh(merchant_id=merchant.pk)

    assert result.days == (sale_day,)
    assert result.rows_written > 0
    assert_exact(merchant)


def test_a_merge_rewrites_the_merged_customers_rows_only(dataset):
    merchant = dataset.merchant
    before = snapshot(merchant)

    # When: orders link c1 with c2 and c3 with c4 (two merges), and the refresh runs
    batch = merge_orders(dataset.generator, date(2024, 4, 10))
    ingest(merchant, batch)
    batch_orders = Order.objects.filter(merchant=merchant, external_id__in=[order.external_id for order in batch])
    batch_days = set(OrderLine.objects.filter(order__in=batch_orders).values_list("local_date", flat=True))
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: the merged-away customers' days were recomputed; on them, only rows of the four customers changed
    assert result.merged_customers == CustomerMerge.objects.filter(merchant=merchant).count() == 2
    losers = list(Customer.objects.filter(merchant=merchant, merged_into__isnull=False))
    merged = {customer.pk for customer in losers} | {customer.merged_into_id for customer in losers}
    assert len(merged) == 4
    changed = changed_rows(before, snapshot(merchant))
    customer_rows = changed[CustomerDay] + changed[CustomerCategoryDay]
    assert customer_rows
    assert {row.customer_id for row in customer_rows if row.local_date not in batch_days} <= merged
    assert not CustomerDay.objects.filter(merchant=merchant, customer_id__in=[loser.pk for loser in losers]).exists()
    sales_tables = (StoreDay, CategoryStoreDay, ProductDay, ProductStoreDay, HourStoreDay, HourCategoryStoreDay)
    assert {row.local_date for model in sales_tables for row in changed[model]} == batch_days
    assert set(result.days) > batch_days  # their other days: recomputed, only customer rows written
    assert_exact(merchant)


def test_a_sequence_of_batches_keeps_every_rollup_exact(dataset):
    merchant, generator = dataset.merchant, dataset.generator
    kept: list[OrderInput] = []
    for round_number in range(5):
        # Given: a batch mixing new orders on old and new days, orders sent again with changes (cancelled,
        # refunded later, moved a day), and from the third round, customers merged
        day = date(2024, 3, 3) + timedelta(days=7 * round_number)
        batch = generator.days(day, day + timedelta(days=1), per_day=4)
        batch.append(generator.order(date(2024, 2, 10) + timedelta(days=round_number), customer="c7"))
        for index, old in enumerate(kept[-3:]):
            if index == 0:
                batch.append(resend(old, status="cancelled" if old.status != "cancelled" else "completed"))
            elif index == 1:
                sold = next(line for line in old.lines if line.kind == "sale")
                batch.append(resend(old, lines=[*old.lines, LineInput(
                    sku=sold.sku, quantity=Decimal(-1), unit_price=sold.unit_price, kind="return",
                    occurred_at=old.placed_at + timedelta(days=11),
                )]))  # fmt: skip
            else:
                batch.append(resend(old, placed_at=old.placed_at + timedelta(days=1), lines=[
                    LineInput(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price,
                              discount=line.discount) for line in old.lines if line.kind == "sale"
                ]))  # fmt: skip
        if round_number == 2:
            batch += merge_orders(generator, day)
        ingest(merchant, batch)
        kept += batch[:6]

        # When: the refresh runs
        result = rollups_refresh(merchant_id=merchant.pk)

        # Then: every rollup (and the first order days on the customer rows) equals a recomputation
        assert day in result.days
        assert rollups_check(merchant_id=merchant.pk) == [], round_number
    assert ProductMonth.objects.filter(merchant=merchant).exists()
    assert_exact(merchant)


def test_orders_are_counted_once_per_row_when_an_order_repeats_a_product_and_spans_stores_rows(dataset):
    """The refresh counts the orders of product × day from product × store × day, and those of the hour and
    customer tables by grouping by order first: an order that repeats a product, or a customer with several
    orders, must count once per row, exactly as a recomputation from the lines."""
    merchant, day = dataset.merchant, date(2024, 3, 20)
    product, other = dataset.products[5], dataset.products[6]
    orders = []
    for number, (store, channel) in enumerate((("PAR-01", "offline"), ("NYC-01", "offline"), (None, "online"))):
        for repeat in range(2):  # the same customer twice on the day, in each store and online
            order = sale_of(dataset, day, customer="c3")
            order = resend(
                order, external_id=f"REPEAT-{number}-{repeat}", store=store, channel=channel,
                lines=[
                    LineInput(sku=product.sku, quantity=Decimal(1), unit_price=Decimal("4.00")),
                    LineInput(sku=product.sku, quantity=Decimal(2), unit_price=Decimal("4.00"), discount=Decimal(1)),
                    LineInput(sku=other.sku, quantity=Decimal(1), unit_price=Decimal("9.00")),
                ],
            )  # fmt: skip
            orders.append(order)
    ingest(merchant, orders)

    result = rollups_refresh(merchant_id=merchant.pk)

    assert day in result.days
    lines = OrderLine.objects.filter(merchant=merchant, local_date=day, kind="sale").exclude(order__status="cancelled")
    for channel in ("offline", "online"):
        expected = lines.filter(product=product, channel=channel).values("order_id").distinct().count()
        row = ProductDay.objects.get(merchant=merchant, local_date=day, product_id=product.pk, channel=channel)
        assert row.orders == expected
        assert row.orders == sum(
            ProductStoreDay.objects.filter(
                merchant=merchant, local_date=day, product_id=product.pk, channel=channel
            ).values_list("orders", flat=True)
        )
    assert (
        ProductDay.objects.get(merchant=merchant, local_date=day, product_id=product.pk, channel="online").orders >= 2
    )
    zones = {store.pk: zoneinfo.ZoneInfo(store.timezone) for store in dataset.stores.values()}
    for row in HourStoreDay.objects.filter(merchant=merchant, local_date=day):
        zone = zones.get(row.store_id, zoneinfo.ZoneInfo(merchant.timezone))
        at_hour = {
            order_id
            for order_id, at in lines.filter(channel=row.channel, store_id=row.store_id).values_list(
                "order_id", "occurred_at"
            )
            if (at.astimezone(zone).weekday(), at.astimezone(zone).hour) == (row.weekday, row.hour)
        }
        assert row.orders == len(at_hour)
    customer = Customer.objects.get(pk=Order.objects.get(merchant=merchant, external_id="REPEAT-0-0").customer_id)
    for row in CustomerDay.objects.filter(merchant=merchant, local_date=day, customer_id=customer.pk):
        scoped = lines.filter(order__customer=customer, channel=row.channel, store_id=row.store_id)
        assert row.orders == scoped.values("order_id").distinct().count() >= 2
    assert_exact(merchant)
