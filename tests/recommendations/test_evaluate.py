"""The honest evaluation: a time split, the model beside popularity, exact numbers on a designed dataset."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from catalog.models import Product
from recommendations import compute
from recommendations.evaluate import MIN_CASES, default_split_date, recommendations_evaluate
from sales.models import Customer, Order, OrderLine

from .baskets import plant_baskets

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
SPLIT = dt.date(2026, 5, 1)
PRICE = Decimal("10.00")


def write_orders(merchant, baskets):
    """``baskets``: (day, channel, customer or None, [products]) → orders and sale lines (online only)."""
    orders = [
        Order(
            merchant=merchant, source="eval", external_id=str(n), channel=channel, customer=customer,
            placed_at=dt.datetime.combine(day, dt.time(12), tzinfo=merchant.tzinfo), local_date=day, currency="EUR",
            content_hash="x",
        )
        for n, (day, channel, customer, _items) in enumerate(baskets)
    ]  # fmt: skip
    Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(
        OrderLine(
            merchant=merchant, order=order, line_number=number, product=product, quantity=Decimal(1),
            unit_price=PRICE, gross=PRICE, net=PRICE, local_date=order.local_date, occurred_at=order.placed_at,
            channel=order.channel,
        )
        for order, (_day, _channel, _customer, items) in zip(orders, baskets, strict=True)
        for number, product in enumerate(items, start=1)
    )  # fmt: skip


@pytest.fixture
def designed(merchant):
    """Learning period (before SPLIT): 100 baskets [A, B]; 12 pairs [Fi, Gi] in 150 baskets each (more popular
    than A and B); 100 customers who buy X then Y 10 days later. Test period: 250 baskets [A, B]; 250 customers
    who bought X just before the split and buy Y after it."""
    product = {
        sku: Product.objects.create(merchant=merchant, sku=sku, name=sku, price=PRICE)
        for sku in ["A", "B", "X", "Y"] + [f"F{i}" for i in range(12)] + [f"G{i}" for i in range(12)]
    }
    learn_day = SPLIT - dt.timedelta(days=60)
    baskets = [(learn_day, "online", None, [product["A"], product["B"]]) for _ in range(100)]
    for i in range(12):
        baskets += [(learn_day, "online", None, [product[f"F{i}"], product[f"G{i}"]]) for _ in range(150)]
    for _ in range(100):
        customer = Customer.objects.create(merchant=merchant)
        baskets += [(learn_day, "online", customer, [product["X"]])]
        baskets += [(learn_day + dt.timedelta(days=10), "online", customer, [product["Y"]])]
    test_day = SPLIT + dt.timedelta(days=5)
    baskets += [(test_day, "online", None, [product["A"], product["B"]]) for _ in range(250)]
    for _ in range(250):
        customer = Customer.objects.create(merchant=merchant)
        baskets += [(SPLIT - dt.timedelta(days=3), "online", customer, [product["X"]])]
        baskets += [(test_day, "online", customer, [product["Y"]])]
    write_orders(merchant, baskets)
    return product


def test_the_model_beats_popularity_on_the_designed_split(merchant, designed):
    report = recommendations_evaluate(merchant=merchant, split_date=SPLIT, today=TODAY)
    assert (report.split_date, report.learn_end, report.test_end) == (SPLIT, SPLIT - dt.timedelta(days=1), TODAY)
    assert report.learn_start == SPLIT - dt.timedelta(days=365)
    # Learning: 100 + 1800 + 200 baskets, plus the 250 X orders placed before the split
    assert (report.learn_baskets, report.test_baskets) == (100 + 1800 + 200 + 250, 250 + 250)
    overall, online, offline = report.together
    # A or B held out, the other one looked at: the complement is always first; popularity ranks the 24
    # fillers (150 baskets each) and X (350) above them, so A and B are never in its top 10.
    assert (overall.channel, overall.cases, overall.hit_rate, overall.mrr) == ("all", 250, 1.0, 1.0)
    assert (overall.popularity_hit_rate, overall.popularity_mrr) == (0.0, 0.0)
    assert (online.cases, online.hit_rate) == (250, 1.0)
    assert (offline.cases, offline.hit_rate, offline.enough_data) == (0, None, False)
    # Bought later: X's later partner is Y for the 100 learning customers, so each test customer's next order is found
    assert (report.later.cases, report.later.recall, report.later.popularity_recall) == (250, 1.0, 0.0)
    # Coverage: every product is suggested except X (nothing is bought with it, nothing leads to it)
    assert (report.suggested_products, report.catalogue_size, report.coverage) == (27, 28, round(27 / 28, 4))
    assert report.enough_data is True
    assert report.notes == []


def test_fewer_than_200_cases_report_not_enough_data_instead_of_numbers(merchant):
    plant_baskets(merchant, today=TODAY)  # 680 baskets: ~20% for the test, far fewer than 200 multi-item ones
    report = recommendations_evaluate(merchant=merchant, today=TODAY)
    overall = report.together[0]
    assert overall.cases < MIN_CASES
    assert (overall.hit_rate, overall.mrr, overall.popularity_hit_rate, overall.lift_over_popularity) == (
        None,
        None,
        None,
        None,
    )
    assert report.enough_data is False
    assert report.later.recall is None
    assert report.notes == [
        f"Not enough data: {overall.cases} test baskets with 2+ products (at least 200).",
        f"Not enough data for bought later: {report.later.cases} returning customers (at least 200).",
    ]


def test_no_sales_at_all(merchant):
    report = recommendations_evaluate(merchant=merchant, today=TODAY)
    assert (report.split_date, report.together[0].cases, report.notes) == (None, 0, ["No sales to evaluate on."])


def test_a_split_date_after_today_is_refused(merchant):
    with pytest.raises(ValueError, match="after today"):
        recommendations_evaluate(merchant=merchant, split_date=TODAY + dt.timedelta(days=1), today=TODAY)


def test_the_default_split_leaves_the_last_fifth_of_baskets_for_the_test():
    # 10 baskets on days 0..9 (2 lines each): the 9th basket (index 8) is the first of the last 20%
    order = np.repeat(np.arange(10, dtype=np.int64), 2)
    day = np.repeat(np.arange(10, dtype=np.int16), 2)
    zeros = np.zeros(20, dtype=np.int32)
    lines = compute.Lines(order, zeros, zeros, zeros.astype(np.int16), day)
    assert default_split_date(lines, dt.date(2026, 1, 1)) == dt.date(2026, 1, 9)


def test_bought_later_ranks_from_the_last_order_and_the_customers_recent_orders(merchant):
    """Learning: 300 customers buy X then Y; 100 buy P then Q and 60 P then R (R is P's second partner); 12 fillers
    in 350 baskets each, 20 days after the others, are the bestsellers and the trending products (Y, Q, R are
    not among them: the fill, trending then bestsellers, finds none of them). Test, 100 customers per group:
    G1 X 20 days before the split, an unrelated W 3 days before it, Y 5 days after it (X is within the 30 days
    before that visit); G2 P 3 days before the split, then R; G3 as G1 with X 40 days before the split (45 before
    the visit: too old to count)."""
    product = {
        sku: Product.objects.create(merchant=merchant, sku=sku, name=sku, price=PRICE)
        for sku in ["X", "Y", "W", "P", "Q", "R"] + [f"F{i}" for i in range(12)]
    }
    learn_day = SPLIT - dt.timedelta(days=80)
    baskets = []
    for i in range(12):
        baskets += [(learn_day + dt.timedelta(days=20), "online", None, [product[f"F{i}"]]) for _ in range(350)]
    for first, then, count in (("X", "Y", 300), ("P", "Q", 100), ("P", "R", 60)):
        for _ in range(count):
            customer = Customer.objects.create(merchant=merchant)
            baskets += [(learn_day, "online", customer, [product[first]])]
            baskets += [(learn_day + dt.timedelta(days=10), "online", customer, [product[then]])]
    visit = SPLIT + dt.timedelta(days=5)
    for orders in (
        [(20, "X"), (3, "W"), (-5, "Y")],  # G1
        [(3, "P"), (-5, "R")],  # G2
        [(40, "X"), (3, "W"), (-5, "Y")],  # G3
    ):
        for _ in range(100):
            customer = Customer.objects.create(merchant=merchant)
            baskets += [(SPLIT - dt.timedelta(days=days), "online", customer, [product[sku]]) for days, sku in orders]
    write_orders(merchant, baskets)

    report = recommendations_evaluate(merchant=merchant, split_date=SPLIT, today=TODAY)

    # G1 found through X, within 30 days of the visit (X's best partner is Y: 300 customers, W only 200);
    # G2 through P's second partner; G3 not (X too old, W leads nowhere, Y is not a bestseller).
    assert visit == SPLIT + dt.timedelta(days=5)
    assert (report.later.cases, report.later.recall, report.later.popularity_recall) == (300, round(2 / 3, 4), 0.0)
