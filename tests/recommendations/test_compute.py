"""Learning (recommendations/compute.py): reading baskets by COPY, pair counts and scores, the planted structure."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from recommendations import compute
from recommendations.models import Suggestion, SuggestionKind, SuggestionScope
from recommendations.services import read_baskets
from sales.models import Order, OrderLine, OrderStatus

from .baskets import N_BASKETS, PRICE, plant_baskets

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
PARAMS = compute.ComputeParams(scope_min_baskets=10)
START = TODAY - dt.timedelta(days=364)


@pytest.fixture
def planted(merchant):
    return plant_baskets(merchant, today=TODAY)


def learn(planted, params=PARAMS):
    lines, orders = read_baskets(planted.merchant, START, TODAY)
    return compute.learn(lines, orders, params, window_end_day=(TODAY - START).days)


def test_read_lines_returns_every_sale_line_of_the_window_as_arrays(planted):
    # Given the planted sales, plus a cancelled order, a return line and a sale outside the window
    merchant = planted.merchant
    cancelled = Order.objects.filter(merchant=merchant, external_id="3").get()
    Order.objects.filter(pk=cancelled.pk).update(status=OrderStatus.CANCELLED)
    first = Order.objects.filter(merchant=merchant, external_id="0").get()
    OrderLine.objects.create(
        merchant=merchant, order=first, line_number=9, kind="return", product=planted.products["A"],
        quantity=Decimal(-1), unit_price=PRICE, gross=-PRICE, net=-PRICE, local_date=TODAY, occurred_at=first.placed_at,
        channel="online",
    )  # fmt: skip
    old = Order.objects.filter(merchant=merchant, external_id="5").get()
    OrderLine.objects.filter(order=old).update(local_date=START - dt.timedelta(days=1))
    # When the lines are read
    lines, orders = read_baskets(merchant, START, TODAY)
    # Then exactly the sale lines of the other orders in the window come back, with their attributes
    expected = OrderLine.objects.filter(merchant=merchant, kind="sale", local_date__gte=START).exclude(order=cancelled)
    assert len(lines) == expected.count() == planted.lines - 3 - 2  # order 3: 2 fillers + POP; order 5: A, B
    pairs = sorted(zip(lines.order.tolist(), lines.product.tolist(), strict=True))
    assert pairs == sorted(expected.values_list("order_id", "product_id"))
    by_order = {o.pk: o for o in Order.objects.filter(merchant=merchant)}
    for order_id, store_id, online, day in zip(
        lines.order.tolist(), lines.store.tolist(), lines.online.tolist(), lines.day.tolist(), strict=True
    ):
        order = by_order[order_id]
        assert store_id == (order.store_id or 0)
        assert online == (order.channel == "online")
        assert day == (order.local_date - START).days
    # And the identified customers' orders: two per planted customer
    assert len(orders.order) == 80
    assert set(orders.customer.tolist()) == {c.pk for c in planted.customers}


def test_the_planted_complement_comes_first_with_its_exact_evidence(planted):
    table = learn(planted)
    a, b, pop = planted.ids("A", "B", "POP")
    together = table.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.ALL)
    assert together[a][0] == b
    assert together[a].index(pop) > 0  # the merely popular item comes after the complement
    group = next(g for g in table.groups if (g.kind, g.scope) == ("bought_together", "all"))
    row = np.flatnonzero((group.product == a) & (group.partner == b))[0]
    baskets = N_BASKETS + 2 * 40
    # A and B: in the same 120 baskets (i % 5 == 0), half online (i % 10 == 0), half in store
    assert (int(group.support[row]), int(group.baskets_online[row]), int(group.baskets_offline[row])) == (120, 60, 60)
    assert int(group.rank[row]) == 1
    assert group.confidence[row] == pytest.approx(1.0)
    assert group.lift[row] == pytest.approx(baskets / 120)
    assert group.score[row] == pytest.approx(120 / 120 * 120 / (120 + PARAMS.shrinkage))
    assert table.baskets_count == baskets
    assert table.lines_read == planted.lines


def test_store_specific_pairing_is_learnt_per_store_and_the_wider_lists_follow_the_majority(planted):
    table = learn(planted)
    c, d, e = planted.ids("C", "D", "E")
    s1, s2 = planted.stores["S1"].pk, planted.stores["S2"].pk
    assert table.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.STORE, s1)[c][0] == d
    assert table.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.STORE, s2)[c][0] == e
    assert table.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.ONLINE)[c][0] == e
    assert table.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.ALL)[c][0] == e
    assert table.store_scopes == 2


def test_bought_later_learns_the_online_then_store_journey(planted):
    table = learn(planted)
    x, y = planted.ids("X", "Y")
    later = table.lists(SuggestionKind.BOUGHT_LATER, SuggestionScope.ALL)
    assert later[x] == [y]
    group = next(g for g in table.groups if g.kind == "bought_later")
    assert (int(group.support[0]), group.confidence[0]) == (40, pytest.approx(1.0))
    assert table.customers_count == 40


def test_trending_and_bestsellers_per_scope(planted):
    table = learn(planted)
    pop = planted.products["POP"].pk
    bestsellers = table.lists(SuggestionKind.BESTSELLER, SuggestionScope.ALL)[0]
    assert bestsellers[0] == pop  # in 200 baskets
    group = next(g for g in table.groups if (g.kind, g.scope) == ("bestseller", "all"))
    assert int(group.support[0]) == 200
    assert table.lists(SuggestionKind.TRENDING, SuggestionScope.STORE, planted.stores["S1"].pk)[0]


def test_pairs_below_the_minimum_support_and_bulky_baskets_are_skipped(planted):
    a, b = planted.ids("A", "B")
    strict = learn(planted, compute.ComputeParams(min_shared=121, scope_min_baskets=10))
    assert a not in strict.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.ALL)
    # Baskets of 2+ distinct items count as bulky with max_basket_items=1: no pair at all is learnt
    bulky = learn(planted, compute.ComputeParams(max_basket_items=1, scope_min_baskets=10))
    assert bulky.lists(SuggestionKind.BOUGHT_TOGETHER, SuggestionScope.ALL) == {}
    assert b  # used


def test_write_suggestions_copies_every_row(planted):
    table = learn(planted)
    from recommendations.models import RecommendationJob

    job = RecommendationJob.objects.create(merchant=planted.merchant)
    connection.ensure_connection()
    written = compute.write_suggestions(connection.connection, table, merchant_id=planted.merchant.pk, job_id=job.pk)
    assert written == table.rows == Suggestion.objects.filter(job_id=job.pk).count()
    a, b = planted.ids("A", "B")
    row = Suggestion.objects.get(job_id=job.pk, kind="bought_together", scope="all", product_id=a, rank=1)
    assert (row.partner_id, row.support, row.baskets_online, row.baskets_offline, row.store_id) == (
        b,
        120,
        60,
        60,
        None,
    )
    trending = Suggestion.objects.filter(job_id=job.pk, kind="trending", scope="store").first()
    assert trending.product_id is None
    assert trending.store_id in {s.pk for s in planted.stores.values()}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not shutil.which("psql"), reason="psql is not installed: the parallel read is not used")
def test_the_parallel_psql_read_returns_the_same_arrays_as_the_connection(merchant):
    planted = plant_baskets(merchant, today=TODAY)
    Order.objects.filter(merchant=merchant, external_id="3").update(status=OrderStatus.CANCELLED)
    connection.ensure_connection()
    psql = compute.PsqlSource.from_settings(connection.settings_dict)
    parallel, parallel_orders, timings = compute.read_baskets_postgresql(
        connection.connection, merchant_id=merchant.pk, start=START, end=TODAY, psql=psql
    )
    single, single_orders, _ = compute.read_baskets_postgresql(
        connection.connection, merchant_id=merchant.pk, start=START, end=TODAY, psql=None
    )
    assert len(parallel) == len(single) == planted.lines - 3

    def rows(lines):
        columns = (lines.order, lines.product, lines.store, lines.online, lines.day)
        return sorted(zip(*(a.tolist() for a in columns), strict=True))

    assert rows(parallel) == rows(single)
    assert sorted(parallel_orders.order.tolist()) == sorted(single_orders.order.tolist())
    assert len(parallel_orders.order) == 80
    assert set(timings) == {"read", "filter"}


@pytest.mark.parametrize("gap", [1, 10_000_000], ids=["dense order ids", "sparse order ids"])
def test_each_line_takes_its_orders_store_channel_and_day(gap):
    # Given three orders read (ids 1·gap, 2·gap, 3·gap; the cancelled order 4·gap is not read) and their lines
    start = dt.date(2026, 1, 1)
    first_day = (start - compute.EPOCH).days
    ids = np.array([1, 2, 3], dtype=np.int64) * gap
    orders = {
        "order": ids,
        "customer": np.array([0, 7, 8], dtype=np.int64),
        "placed": np.array([0, 86_400_000_000, 2 * 86_400_000_000], dtype=np.int64),  # µs since 2000-01-01
        "store": np.array([0, 5, 6], dtype=np.int64),
        "day": np.array([first_day, first_day + 3, first_day + 9], dtype=np.int32),
        "online": np.array([1, 0, 0], dtype=np.uint8),
    }
    lines = {
        "order": np.array([3, 1, 4, 3, 2, 0], dtype=np.int64) * gap + np.array([0, 0, 0, 0, 0, 5]),
        "product": np.array([30, 10, 40, 31, 20, 99], dtype=np.int64),
    }
    # When they are joined
    joined, customer_orders = compute._join_orders(lines, orders, start)
    # Then lines of orders not read are dropped, the others have their order's attributes
    assert joined.order.tolist() == [3 * gap, 1 * gap, 3 * gap, 2 * gap]
    assert joined.product.tolist() == [30, 10, 31, 20]
    assert joined.store.tolist() == [6, 0, 6, 5]
    assert joined.online.tolist() == [0, 1, 0, 0]
    assert joined.day.tolist() == [9, 0, 9, 3]
    # And the identified customers' orders, placed in seconds since the Unix epoch
    epoch_2000 = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())
    assert customer_orders.order.tolist() == [2 * gap, 3 * gap]
    assert customer_orders.customer.tolist() == [7, 8]
    assert customer_orders.placed.tolist() == [epoch_2000 + 86_400, epoch_2000 + 2 * 86_400]
