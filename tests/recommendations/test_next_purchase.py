"""A customer's next-purchase list (recommendations.selectors.recommend_for_customer): the very list the
bought-later evaluation measures, with the resolver's filters, tenancy and cache invalidation."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Product
from recommendations import evaluate
from recommendations.models import RecommendationRule
from recommendations.next_purchase import next_purchase_list
from recommendations.selectors import recommend_for_customer
from recommendations.services import (
    recommendation_compute_request,
    recommendation_job_run,
    recommendations_cache_invalidate,
)
from sales.models import Customer, Order, OrderLine, OrderStatus

pytestmark = pytest.mark.django_db

PRICE = Decimal("10.00")


def today_of(merchant) -> dt.date:
    return timezone.now().astimezone(merchant.tzinfo).date()


def write_orders(merchant, baskets, *, first=0):
    """``baskets``: (day, customer or None, [products]) → online orders at noon with one sale line per product."""
    orders = [
        Order(
            merchant=merchant, source="t", external_id=str(first + n), channel="online", customer=customer,
            placed_at=dt.datetime.combine(day, dt.time(12), tzinfo=merchant.tzinfo), local_date=day, currency="EUR",
            content_hash="x",
        )
        for n, (day, customer, _items) in enumerate(baskets)
    ]  # fmt: skip
    Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(
        OrderLine(
            merchant=merchant, order=order, line_number=number, product=product, quantity=Decimal(1),
            unit_price=PRICE, gross=PRICE, net=PRICE, local_date=order.local_date, occurred_at=order.placed_at,
            channel=order.channel,
        )
        for order, (_day, _customer, items) in zip(orders, baskets, strict=True)
        for number, product in enumerate(items, start=1)
    )  # fmt: skip
    return orders


def compute(merchant, today):
    job = recommendation_compute_request(merchant=merchant, enqueue=False)
    job = recommendation_job_run(job.pk, today=today)
    assert job.status == "succeeded", job.error_message
    return job


@pytest.fixture
def history(merchant):
    """Learning (before today): X→Y by 10 customers, X→Z by 6, P→Q by 8, P→R by 4, W→K by 7; 12 fillers F0..F11
    bought 40..29 times (the bestsellers). Customer C: K 40 days ago, W 20 days ago, X and P 3 days ago (the last
    order). Computed as of today; C's visit (Y) today is written after the computation."""
    today = today_of(merchant)
    product = {
        sku: Product.objects.create(merchant=merchant, sku=sku, name=f"Product {sku}", price=PRICE)
        for sku in ["X", "Y", "Z", "P", "Q", "R", "W", "K"] + [f"F{i}" for i in range(12)]
    }
    baskets = []
    for i in range(12):
        baskets += [(today - dt.timedelta(days=50), None, [product[f"F{i}"]]) for _ in range(40 - i)]
    for first, then, count in (("X", "Y", 10), ("X", "Z", 6), ("P", "Q", 8), ("P", "R", 4), ("W", "K", 7)):
        for _ in range(count):
            customer = Customer.objects.create(merchant=merchant)
            baskets += [(today - dt.timedelta(days=70), customer, [product[first]])]
            baskets += [(today - dt.timedelta(days=60), customer, [product[then]])]
    c = Customer.objects.create(merchant=merchant)
    baskets += [
        (today - dt.timedelta(days=40), c, [product["K"]]),
        (today - dt.timedelta(days=20), c, [product["W"]]),
        (today - dt.timedelta(days=3), c, [product["X"], product["P"]]),
    ]
    orders = write_orders(merchant, baskets)
    compute(merchant, today)
    return {"today": today, "product": product, "customer": c, "next_id": len(orders)}


def skus(result):
    return [item.sku for item in result.items]


def evaluate_kinds(picks):
    return [pick.kind for pick in picks]


def test_the_served_list_is_the_evaluators_list(merchant, history, monkeypatch):
    today, c = history["today"], history["customer"]
    (visit,) = write_orders(merchant, [(today, c, [history["product"]["Y"]])], first=history["next_id"])

    served = recommend_for_customer(merchant=merchant, customer=c, at=visit.placed_at)

    lists: dict = {}
    monkeypatch.setattr(evaluate, "_evaluate_later", functools.partial(evaluate._evaluate_later, lists=lists))
    report = evaluate.recommendations_evaluate(merchant=merchant, split_date=today, today=today)
    assert report.later.cases == 1
    assert list(lists) == [c.pk]
    by_id = dict(Product.objects.filter(merchant=merchant).values_list("pk", "sku"))
    assert skus(served) == [by_id[pick.product] for pick in lists[c.pk]]
    assert [item.reason["kind"] for item in served.items] == evaluate_kinds(lists[c.pk])

    # The designed order: each product of the last order's first partner (the stronger pair first), then their
    # second; W's partner K (20 days ago) was bought already (40 days ago), as were X, P, W; then the fill.
    assert skus(served)[:4] == ["Y", "Q", "Z", "R"]
    assert [item.reason["kind"] for item in served.items] == ["bought_later"] * 4 + ["trending"] * 6
    assert {"K", "X", "P", "W"}.isdisjoint(skus(served))
    assert served.items[0].reason["follows"] == ["X"]
    assert served.items[0].reason["customers"] == 10
    assert served.items[1].reason["follows"] == ["P"]
    assert served.items[0].scope == "all"
    assert served.sku is None
    assert served.notes == []

    # Without leaving out what was bought, K (after W, 20 days ago) comes right after the last order's partners.
    kept = recommend_for_customer(merchant=merchant, customer=c, at=visit.placed_at, exclude_bought=False)
    assert skus(kept)[:5] == ["Y", "Q", "Z", "R", "K"]
    assert kept.items[4].reason["follows"] == ["W"]


def test_blocks_inactive_and_bought_are_left_out_and_merged_customers_followed(merchant, history):
    product, c = history["product"], history["customer"]
    RecommendationRule.objects.create(merchant=merchant, kind="block", target=product["Y"])
    Product.objects.filter(pk=product["Z"].pk).update(active=False)
    Product.objects.filter(pk=product["F0"].pk).update(is_placeholder=True)
    Product.objects.filter(pk=product["F1"].pk).update(price=Decimal(0))
    recommendations_cache_invalidate(merchant.pk)
    result = recommend_for_customer(merchant=merchant, customer=c)
    assert skus(result)[:2] == ["Q", "R"]
    assert {"Y", "Z", "F0", "F1", "K", "X", "P", "W"}.isdisjoint(skus(result))
    assert len(result.items) == 10

    # A customer merged into C answers C's list; a cancelled last order doesn't count.
    loser = Customer.objects.create(merchant=merchant, merged_into=c)
    assert recommend_for_customer(merchant=merchant, customer=loser, use_cache=False) == result
    Order.objects.filter(customer=c, local_date=history["today"] - dt.timedelta(days=3)).update(
        status=OrderStatus.CANCELLED
    )
    after_w = recommend_for_customer(merchant=merchant, customer=c, use_cache=False, exclude_bought=False)
    assert skus(after_w)[0] == "K"
    assert after_w.items[0].reason["follows"] == ["W"]


def test_query_count(merchant, history, django_assert_num_queries):
    recommend_for_customer(merchant=merchant, customer=None, use_cache=False)  # the fill lists, once per process
    # state, blocks, orders, their lines, what was bought, bought-later rows, products, the customer's SKUs
    with django_assert_num_queries(8):
        result = recommend_for_customer(merchant=merchant, customer=history["customer"])
    with django_assert_num_queries(0):
        assert recommend_for_customer(merchant=merchant, customer=history["customer"]) == result


def test_unknown_or_new_customer_gets_the_fill_and_a_note(merchant, history):
    fill = recommend_for_customer(merchant=merchant, customer=None)
    assert [item.reason["kind"] for item in fill.items] == ["trending"] * 10
    assert fill.notes == ["Unknown customer: trending and bestsellers only."]
    new = Customer.objects.create(merchant=merchant)
    fresh = recommend_for_customer(merchant=merchant, customer=new)
    assert skus(fresh) == skus(fill)
    assert fresh.notes == ["No order of this customer in the 90 days before: trending and bestsellers only."]


def test_cache_is_invalidated_by_a_rule_change_and_a_new_computation(merchant, history):
    product, c = history["product"], history["customer"]
    before = recommend_for_customer(merchant=merchant, customer=c)
    assert skus(before)[0] == "Y"
    RecommendationRule.objects.create(merchant=merchant, kind="block", target=product["Y"])
    assert recommend_for_customer(merchant=merchant, customer=c) == before  # cached until invalidated
    recommendations_cache_invalidate(merchant.pk)  # what every rule change does
    assert skus(recommend_for_customer(merchant=merchant, customer=c))[0] == "Q"
    RecommendationRule.objects.filter(merchant=merchant).delete()
    recommendations_cache_invalidate(merchant.pk)
    stale = recommend_for_customer(merchant=merchant, customer=c)
    assert skus(stale)[0] == "Y"
    # A new computation on data where X is now mostly followed by R (12 more customers) shows at once.
    baskets = []
    for _ in range(12):
        customer = Customer.objects.create(merchant=merchant)
        baskets += [(history["today"] - dt.timedelta(days=30), customer, [product["X"]])]
        baskets += [(history["today"] - dt.timedelta(days=25), customer, [product["R"]])]
    write_orders(merchant, baskets, first=history["next_id"])
    compute(merchant, history["today"])
    fresh = recommend_for_customer(merchant=merchant, customer=c)
    # X's first partner is now R (Y second, Z gone from its two); P's first, Q, has the stronger pair.
    assert skus(fresh)[:3] == ["Q", "R", "Y"]
    assert fresh.computed_at > stale.computed_at


def test_tenancy(merchant, history, other_merchant):
    with pytest.raises(ValueError, match="another merchant"):
        recommend_for_customer(merchant=other_merchant, customer=history["customer"])
    theirs = recommend_for_customer(merchant=other_merchant, customer=None)
    assert theirs.items == []
    assert theirs.notes == [
        "Unknown customer: trending and bestsellers only.",
        "Suggestions have not been computed yet.",
    ]


def test_a_last_order_older_than_the_history_days_gives_the_fill_only(merchant, history):
    """Bought-later partners come from the customer's orders of the 30 days before the visit only: C's last
    order (X, P) was at noon 3 days before today."""
    c, today = history["customer"], history["today"]

    def at(days, minute):
        return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(12, minute), tzinfo=merchant.tzinfo)

    on_the_day = recommend_for_customer(merchant=merchant, customer=c, at=at(27, 0))  # 30 days after it
    assert skus(on_the_day)[:4] == ["Y", "Q", "Z", "R"]
    assert (on_the_day.learnt_scope, on_the_day.notes) == ("all", [])

    older = recommend_for_customer(merchant=merchant, customer=c, at=at(27, 1))
    fill = recommend_for_customer(merchant=merchant, customer=None)
    assert [item.reason["kind"] for item in older.items] == ["trending"] * 10
    assert skus(older) == skus(fill)  # nothing C bought is in the fill here
    assert older.learnt_scope is None
    assert older.notes == ["No order of this customer in the 30 days before: trending and bestsellers only."]


def test_the_list_builder_takes_bought_later_picks_from_recent_orders_only():
    later = {1: ([10, 11], [0.5, 0.4]), 2: ([20], [0.3])}
    fills = [("trending", [10, 30, 31])]
    recent = next_purchase_list(
        later=later, last_order=[1], last_order_days=30.0, recent_orders=[[2]], fills=fills, limit=4
    )
    assert [(pick.product, pick.kind) for pick in recent] == [
        (10, "bought_later"), (11, "bought_later"), (20, "bought_later"), (30, "trending")
    ]  # fmt: skip
    old = next_purchase_list(later=later, last_order=[1], last_order_days=30.5, recent_orders=[[2]], fills=fills)
    assert [(pick.product, pick.kind) for pick in old] == [(10, "trending"), (30, "trending"), (31, "trending")]
