"""A generator of baskets with planted structure, written straight into the sales tables (bulk_create).

Planted (``N_BASKETS`` baskets over the last 300 days, half online, half in two stores S1 and S2):
- ``A`` and ``B`` are complements: every fifth basket is [A, B] (120 baskets);
- ``C`` pairs with ``D`` in store S1 only and with ``E`` everywhere else (S1: 30 [C, D]; S2 and online: 90 [C, E]);
- ``POP`` is in every third basket, whatever else is in it (200 baskets);
- every other basket holds two random fillers ``F00``..``F19`` (noise);
- ``LATER_CUSTOMERS`` identified customers buy ``X`` online, then ``Y`` in store S2 ten days later.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from catalog.models import Category, Product
from sales.models import Customer, Order, OrderLine
from stores.models import Store

from ..factories import StoreFactory

N_BASKETS = 600
LATER_CUSTOMERS = 40
FILLERS = [f"F{n:02d}" for n in range(20)]
PRICE = Decimal("10.00")


@dataclass
class Planted:
    merchant: object
    today: dt.date
    stores: dict[str, Store]
    products: dict[str, Product]
    customers: list[Customer] = field(default_factory=list)
    orders: int = 0
    lines: int = 0

    def ids(self, *skus: str) -> list[int]:
        return [self.products[sku].pk for sku in skus]


def _when(merchant, day: dt.date, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10, minute % 60), tzinfo=merchant.tzinfo)


def plant_baskets(merchant, *, today: dt.date, seed: int = 7, prefix: str = "") -> Planted:
    rng = random.Random(seed)
    stores = {
        "S1": StoreFactory(merchant=merchant, code=f"{prefix}S1", name="Store one", city="Lyon"),
        "S2": StoreFactory(merchant=merchant, code=f"{prefix}S2", name="Store two", city="Paris"),
    }
    category = Category.objects.create(merchant=merchant, name=f"{prefix}Everything")
    skus = ["A", "B", "C", "D", "E", "POP", "X", "Y", *FILLERS]
    products = {
        sku: Product.objects.create(merchant=merchant, sku=f"{prefix}{sku}", name=f"Product {sku}", price=PRICE,
                                    category=category)
        for sku in skus
    }  # fmt: skip
    planted = Planted(merchant=merchant, today=today, stores=stores, products=products)
    baskets: list[tuple[str, Store | None, dt.date, Customer | None, list[str]]] = []
    for i in range(N_BASKETS):
        online = i % 2 == 0
        store = None if online else (stores["S1"] if i % 4 == 1 else stores["S2"])
        if i % 5 == 0:
            items = ["A", "B"]
        elif i % 5 == 1:
            items = ["C", "D"] if store is stores["S1"] else ["C", "E"]
        else:
            items = rng.sample(FILLERS, 2)
        if i % 3 == 0:
            items.append("POP")
        day = today - dt.timedelta(days=1 + i % 300)
        baskets.append(("online" if online else "offline", store, day, None, items))
    for n in range(LATER_CUSTOMERS):
        customer = Customer.objects.create(merchant=merchant, display_name=f"Customer {n}")
        planted.customers.append(customer)
        first = today - dt.timedelta(days=20 + 5 * n)
        baskets.append(("online", None, first, customer, ["X"]))
        baskets.append(("offline", stores["S2"], first + dt.timedelta(days=10), customer, ["Y"]))
    orders = []
    for number, (channel, store, day, customer, _items) in enumerate(baskets):
        orders.append(
            Order(
                merchant=merchant, source="test", external_id=f"{prefix}{number}", channel=channel, store=store,
                customer=customer, placed_at=_when(merchant, day, number), local_date=day, currency="EUR",
                gross=PRICE, net=PRICE, content_hash="x",
            )
        )  # fmt: skip
    Order.objects.bulk_create(orders)
    lines = []
    for order, (channel, store, day, _customer, items) in zip(orders, baskets, strict=True):
        for line_number, sku in enumerate(items, start=1):
            lines.append(
                OrderLine(
                    merchant=merchant, order=order, line_number=line_number, product=products[sku],
                    quantity=Decimal(1), unit_price=PRICE, gross=PRICE, net=PRICE, local_date=day,
                    occurred_at=order.placed_at, channel=channel, store=store,
                )
            )  # fmt: skip
    OrderLine.objects.bulk_create(lines)
    planted.orders, planted.lines = len(orders), len(lines)
    return planted
