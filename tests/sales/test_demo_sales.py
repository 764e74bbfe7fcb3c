"""``seed_demo``'s sales (``sales.demo``): channels, opening hours, shoppers in both channels, returns, planted
co-purchases, and a second run that creates nothing."""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict
from datetime import timedelta
from io import StringIO
from itertools import combinations

import pytest
from django.core.management import call_command

from merchants.models import Merchant
from sales.demo import SOURCE, DemoWorld, demo_sales_load
from sales.models import Channel, Customer, LineKind, Order, OrderLine, OrderStatus
from stores.models import Store

pytestmark = pytest.mark.django_db

LINES = 3000
SEED = 20240601  # seed_demo's


@pytest.fixture(autouse=True)
def _development(settings):
    settings.DEBUG = True  # seed_demo refuses to publish demo passwords elsewhere


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--lines", str(LINES), *args, stdout=out)
    return out.getvalue()


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def test_demo_sales_are_believable():
    # Given the demo merchant seeded with a small number of lines
    output = seed()
    merchant = Merchant.objects.get(slug="demo")
    orders = Order.objects.for_merchant(merchant).filter(source=SOURCE)
    lines = OrderLine.objects.for_merchant(merchant).filter(order__source=SOURCE)

    # Then the summary is printed and about the asked number of lines exists
    assert "Sales: " in output
    assert "orders with refunds" in output
    assert 0.9 * LINES <= lines.count() <= 1.1 * LINES

    # Both channels, about a third online
    channels = Counter(orders.values_list("channel", flat=True))
    assert set(channels) == {Channel.ONLINE, Channel.OFFLINE}
    assert 0.25 <= channels[Channel.ONLINE] / orders.count() <= 0.45

    # Offline sales only within opening hours in the store's local time, while the store is open
    stores = {store.pk: store for store in Store.objects.for_merchant(merchant)}
    keys = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    offline = orders.filter(channel=Channel.OFFLINE).values_list("store_id", "placed_at", "local_date")
    assert len(offline) > 100
    for store_id, placed_at, local_date in offline:
        store = stores[store_id]
        local = placed_at.astimezone(zoneinfo.ZoneInfo(store.timezone))
        assert local.date() == local_date
        assert store.opened_on <= local_date
        assert store.closed_on is None or local_date <= store.closed_on
        minute = local.hour * 60 + local.minute
        intervals = [interval.split("-") for interval in store.opening_hours[keys[local.weekday()]]]
        assert any(_minutes(start) <= minute < _minutes(end) for start, end in intervals), (store.code, local)
    # ... and the closed store sold nothing after it closed, but did before
    lille = Store.objects.for_merchant(merchant).get(code="LIL-02")
    assert not orders.filter(store=lille, local_date__gt=lille.closed_on).exists()

    # Anonymous in-store sales and identified shoppers, some of them in both channels (identity merged)
    anonymous = orders.filter(channel=Channel.OFFLINE, customer__isnull=True).count()
    assert 0.25 <= anonymous / channels[Channel.OFFLINE] <= 0.55
    both = (
        Customer.objects.for_merchant(merchant)
        .filter(orders__channel=Channel.ONLINE)
        .filter(orders__channel=Channel.OFFLINE)
        .distinct()
    )
    assert both.count() >= 20

    # Journeys: bought online, then back in a store within 30 days, recognised as the same customer
    journeys = orders.filter(channel=Channel.OFFLINE, external_id__startswith="W", external_id__endswith="-F")
    assert journeys.count() >= 10
    origins = {o.external_id: o for o in orders.filter(external_id__in=[j.external_id[:-2] for j in journeys])}
    for journey in journeys:
        origin = origins[journey.external_id[:-2]]
        assert origin.channel == Channel.ONLINE
        assert journey.customer_id == origin.customer_id is not None
        assert timedelta(0) < journey.placed_at - origin.placed_at <= timedelta(days=31)

    # Returns: return lines on online orders and separate refund orders in stores; a few cancelled orders
    assert lines.filter(kind=LineKind.RETURN, order__channel=Channel.ONLINE).exists()
    assert orders.filter(channel=Channel.OFFLINE, external_id__endswith="-R", refunds__gt=0).exists()
    assert orders.filter(status=OrderStatus.CANCELLED).exists()
    assert lines.filter(kind=LineKind.SALE, discount__gt=0).exists()

    # Planted complement pairs co-occur far more than chance
    baskets = defaultdict(set)
    for order_id, sku in lines.filter(kind=LineKind.SALE).values_list("order_id", "product__sku"):
        baskets[order_id].add(sku)
    item_counts = Counter(sku for basket in baskets.values() for sku in basket)
    pair_counts = Counter(pair for basket in baskets.values() for pair in combinations(sorted(basket), 2))
    world = DemoWorld(merchant, lines=LINES, seed=SEED)
    planted = {tuple(sorted((p.sku, p.together[0]))) for p in world.products.values()}
    observed = sum(pair_counts[pair] for pair in planted)
    expected = sum(item_counts[a] * item_counts[b] for a, b in planted) / len(baskets)
    assert observed >= 10 * expected
    assert observed >= 100
    # Baskets have 1 to 6 lines, about 2.5 on average
    sizes = [len(basket) for basket in baskets.values()]
    assert max(sizes) <= 6


def test_a_second_run_creates_nothing_new():
    # Given the demo with its sales
    seed()
    merchant = Merchant.objects.get(slug="demo")
    orders = Order.objects.for_merchant(merchant)
    before = list(orders.order_by("pk").values_list("pk", "external_id", "content_hash", "updated_at"))
    customers = Customer.objects.for_merchant(merchant).count()

    # When seed_demo runs again: the sales are already there and are skipped
    output = seed()
    assert f"Sales: {OrderLine.objects.for_merchant(merchant).count()} demo order lines already there" in output

    # And when the generator itself runs again: it is deterministic, every order is found unchanged
    result = demo_sales_load(merchant=merchant, lines=LINES, seed=SEED)
    assert (result.created, result.updated, result.errors) == (0, 0, 0)
    assert result.unchanged == len(before)

    # Then nothing new or changed
    assert list(orders.order_by("pk").values_list("pk", "external_id", "content_hash", "updated_at")) == before
    assert Customer.objects.for_merchant(merchant).count() == customers


def test_no_sales_loads_the_catalogue_only():
    output = seed("--no-sales")

    assert "Sales:" not in output
    assert not Order.objects.exists()


def test_reset_deletes_the_sales_and_loads_the_same_ones_again():
    # Given the demo with its sales
    seed()
    fields = ("external_id", "channel", "store__code", "placed_at", "status", "gross", "discounts", "refunds", "net")
    first = sorted(Order.objects.values_list(*fields))

    # When it is reset (orders protect stores and products: the sales must go first)
    output = seed("--reset")

    # Then the same sales are there again, and only them (store ids and identity hashes are new)
    assert "Deleted the demo merchant" in output
    assert sorted(Order.objects.values_list(*fields)) == first
