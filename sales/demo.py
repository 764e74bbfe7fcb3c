"""Two years of believable sales for the demo merchant (``manage.py seed_demo``), through ``orders_ingest``.

Deterministic: every day's orders come from a random generator seeded with (seed, day), customers and the
planted product structure from the seed alone, and every order has a stable external id (source ``demo``), so
running it again on the same day finds every order unchanged. What the data holds:

- channels: ~35% of orders online (merchant time zone, evenings busiest), the rest in stores (store time zone,
  inside the store's opening hours, only between ``opened_on`` and ``closed_on``; weekends busiest);
- seasons: a December peak, January and summer sales (discounts), Black Friday, ~15% growth a year;
- shoppers: identified customers with a home store, online-only (e-mail + account), store-only (loyalty card +
  phone or e-mail), ~20% in both channels (the same e-mail online and with the loyalty card, so the ingest
  merges them into one customer); ~40% of in-store sales anonymous;
- baskets (1–6 lines, mean ~2.5) with real co-purchase structure: popular items (Zipf), a planted complement
  for every product (a dress with shoes of a given SKU...), chains of complements (triples), city-specific
  pairs (strong in one city only), and journeys: a customer buys X online, then X's "later" product in their
  home store within 30 days;
- refunds (~3% of orders: return lines on online orders, a separate refund order in stores), a few cancelled
  online orders, line and order discounts.
"""

# ruff: noqa: E501, S311  (tables read best one row per line; the randomness is for demo data, seeded on purpose)

from __future__ import annotations

import bisect
import itertools
import random
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.utils import timezone

from catalog.models import Product
from sales.ingest.service import IngestContext, orders_ingest
from sales.ingest.types import IdentifierInput, LineInput, OrderInput
from sales.models import Channel, Customer, IdentifierKind, LineKind, Order, OrderLine, OrderStatus
from stores.models import Store

SOURCE = "demo"
DEFAULT_SEED = 20240601
DEFAULT_LINES = 300_000
BATCH_SIZE = 2_000
DAYS = 730
ONLINE_SHARE = 0.38  # of the base orders: journeys and refunds add store orders, ~35% online in all
ANONYMOUS_IN_STORE = 0.40
REFUND_RATE = 0.03
CANCEL_RATE = 0.006
# Lines per base order, everything included (basket mean ~2.5, journeys, refunds): calibrated on the generator.
LINES_PER_ORDER = 2.88
CENT = Decimal("0.01")
ZERO = Decimal("0")
ONE = Decimal("1")

BASKET_SIZES = (1, 2, 3, 4, 5, 6)
BASKET_WEIGHTS = (0.26, 0.28, 0.21, 0.13, 0.07, 0.05)  # mean 2.62
P_COMPLEMENT = 0.65  # each further item: a complement of something already in the basket
P_CITY_PAIR = 0.75  # in its city, the partner of a city pair joins the basket
P_JOURNEY_OMNI = 0.6  # an omnichannel shopper's online order is followed by a store visit
P_FOLLOW_UP = 0.15  # any other identified order is followed by a later order in the same channel

# Categories whose products go with a category's products: (bought together, bought later).
COMPLEMENTS = {
    "Dresses": ("Shoes", "Jewellery"),
    "Tops & shirts": ("Trousers & jeans", "Knitwear"),
    "Knitwear": ("Accessories", "Trousers & jeans"),
    "Trousers & jeans": ("Tops & shirts", "Shoes"),
    "Outerwear": ("Accessories", "Knitwear"),
    "Shoes": ("Bags", "Accessories"),
    "Bags": ("Accessories", "Jewellery"),
    "Accessories": ("Jewellery", "Bags"),
    "Jewellery": ("Jewellery", "Dresses"),
    "Home textiles": ("Tableware", "Home textiles"),
    "Tableware": ("Tableware", "Home textiles"),
    "Beauty": ("Beauty", "Home textiles"),
}
PAIR_CITIES = ("Marseille", "London", "Lyon")  # each has pairs that are strong there only
PAIRS_PER_CITY = 8

SEASON = {1: 0.95, 2: 0.75, 3: 0.85, 4: 0.9, 5: 0.95, 6: 1.0, 7: 1.1, 8: 0.8, 9: 0.9, 10: 0.95, 11: 1.15, 12: 1.6}
STORE_WEEKDAY = (0.75, 0.8, 0.9, 0.9, 1.1, 1.6, 1.1)  # Monday .. Sunday
ONLINE_WEEKDAY = (1.05, 1.0, 1.0, 0.95, 0.9, 0.9, 1.2)
ONLINE_HOURS = (1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0, 3.2, 3.3, 3.0, 2.9, 3.0, 3.3, 3.8, 4.6, 5.2, 5.0, 3.8, 2.2)  # fmt: skip
ONLINE_HOURS_CUM = list(itertools.accumulate(ONLINE_HOURS))
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIRST_NAMES = ("Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Emma", "Hugo", "Lucas", "Louis", "Jules", "Arthur", "Nathan", "Sophie", "Claire", "Olivia", "Amelia", "Harry", "George", "Beatriz", "Tomás", "Alice", "Paul")  # fmt: skip
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Smith", "Jones", "Taylor", "Brown", "Silva", "Santos", "Fournier", "Girard", "Bonnet")  # fmt: skip


# --- the world: products, stores, customers ---------------------------------------------------


@dataclass(slots=True)
class DemoProduct:
    sku: str
    price: Decimal
    category: str
    together: list[str] = field(default_factory=list)  # planted complements, strongest first
    later: str = ""  # what a shopper comes back for


@dataclass(slots=True)
class DemoStore:
    code: str
    city: str
    tz: zoneinfo.ZoneInfo
    hours: dict[int, list[tuple[int, int]]]  # weekday -> [(open minute, close minute)]
    opened_on: date | None
    closed_on: date | None
    weight: float

    def open_on(self, day: date) -> bool:
        if self.opened_on and day < self.opened_on:
            return False
        if self.closed_on and day > self.closed_on:
            return False
        return bool(self.hours.get(day.weekday()))

    def moment(self, rng: random.Random, day: date) -> datetime:
        """A time inside the day's opening hours, in the store's time zone."""
        intervals = self.hours[day.weekday()]
        total = sum(end - start for start, end in intervals)
        minute = rng.randrange(total)
        for start, end in intervals:
            if minute < end - start:
                minute += start
                break
            minute -= end - start
        return datetime(day.year, day.month, day.day, minute // 60, minute % 60, rng.randrange(60), tzinfo=self.tz)


@dataclass(slots=True)
class DemoCustomer:
    number: int
    name: str
    email: str
    loyalty: str
    phone: str
    home: str  # store code
    online: bool
    in_store: bool
    email_in_store: bool

    def identifiers(self, channel: str) -> list[IdentifierInput]:
        if channel == Channel.ONLINE:
            return [
                IdentifierInput(IdentifierKind.EMAIL, self.email),
                IdentifierInput(IdentifierKind.ACCOUNT, f"WEB-{self.number:07d}"),
            ]
        found = [IdentifierInput(IdentifierKind.LOYALTY, self.loyalty)]
        if self.email_in_store:
            found.append(IdentifierInput(IdentifierKind.EMAIL, self.email))
        else:
            found.append(IdentifierInput(IdentifierKind.PHONE, self.phone))
        return found


def _hours(opening_hours: dict) -> dict[int, list[tuple[int, int]]]:
    def minutes(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    result = {}
    for weekday, key in enumerate(WEEKDAY_KEYS):
        intervals = []
        for interval in (opening_hours or {}).get(key) or []:
            start, end = interval.split("-")
            if minutes(end) > minutes(start):
                intervals.append((minutes(start), minutes(end)))
        result[weekday] = intervals
    return result


class DemoWorld:
    """Everything that does not change from day to day, drawn from the seed."""

    def __init__(self, merchant, *, lines: int, seed: int):
        rng = random.Random(f"{seed}-world")
        self.merchant_tz = zoneinfo.ZoneInfo(merchant.timezone)
        self.currency = merchant.currency
        rows = (
            Product.objects.for_merchant(merchant)
            .filter(active=True, is_placeholder=False, price__gt=0)
            .order_by("sku")
            .values_list("sku", "price", "category__name")
        )
        self.products = {sku: DemoProduct(sku, price, category or "") for sku, price, category in rows}
        if not self.products:
            raise ValueError("the demo merchant has no products to sell")
        by_category: dict[str, list[str]] = {}
        for product in self.products.values():
            by_category.setdefault(product.category, []).append(product.sku)
        skus = list(self.products)
        for product in self.products.values():
            together_category, later_category = COMPLEMENTS.get(product.category, (product.category,) * 2)
            pool = [s for s in by_category.get(together_category, skus) if s != product.sku] or skus
            product.together = rng.sample(pool, min(2, len(pool)))
            pool = [s for s in by_category.get(later_category, skus) if s not in (product.sku, *product.together)]
            product.later = rng.choice(pool or skus)
        # Popularity: a Zipf curve over a shuffled catalogue.
        shuffled = skus[:]
        rng.shuffle(shuffled)
        self.popular = shuffled
        self.popular_cum = list(itertools.accumulate(1 / (rank + 5) ** 0.9 for rank in range(len(shuffled))))

        stores = Store.objects.for_merchant(merchant).order_by("code")
        self.stores = [
            DemoStore(
                code=store.code,
                city=store.city,
                tz=zoneinfo.ZoneInfo(store.timezone),
                hours=_hours(store.opening_hours),
                opened_on=store.opened_on,
                closed_on=store.closed_on,
                weight=rng.uniform(0.6, 1.4),
            )
            for store in stores
        ]
        self.stores = [store for store in self.stores if any(store.hours.values())]
        self.store_by_code = {store.code: store for store in self.stores}
        # City pairs: (a, b) strong in that city only.
        self.city_pairs: dict[str, dict[str, str]] = {}
        for city in PAIR_CITIES:
            if any(store.city == city for store in self.stores):
                chosen = rng.sample(skus, min(len(skus), 2 * PAIRS_PER_CITY))
                self.city_pairs[city] = dict(zip(chosen[::2], chosen[1::2], strict=False))

        # Customers: about one for every 9 order lines, each with a home store.
        orders = lines / LINES_PER_ORDER
        count = max(20, int(orders / 3.5))
        store_cum = list(itertools.accumulate(store.weight for store in self.stores)) if self.stores else []
        self.customers: list[DemoCustomer] = []
        for number in range(1, count + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            kind = rng.random()
            online, in_store = (True, False) if kind < 0.32 else (False, True) if kind < 0.80 else (True, True)
            if not self.stores:
                online, in_store = True, False
            home = self.stores[bisect.bisect(store_cum, rng.random() * store_cum[-1])].code if self.stores else ""
            self.customers.append(
                DemoCustomer(
                    number=number,
                    name=f"{first} {last}",
                    email=f"{_ascii(first)}.{_ascii(last)}.{number}@example.com".lower(),
                    loyalty=f"MD{number:08d}",
                    phone=f"+33 6 {number // 10000 % 100:02d} {number // 100 % 100:02d} {number % 100:02d} 17",
                    home=home,
                    online=online,
                    in_store=in_store,
                    email_in_store=online or rng.random() < 0.5,
                )
            )
        self.online_customers = [c for c in self.customers if c.online]
        self.store_customers: dict[str, list[DemoCustomer]] = {}
        for customer in self.customers:
            if customer.in_store:
                self.store_customers.setdefault(customer.home, []).append(customer)
        self.any_store_customers = [c for c in self.customers if c.in_store]

    def popular_item(self, rng: random.Random) -> str:
        return self.popular[bisect.bisect(self.popular_cum, rng.random() * self.popular_cum[-1])]


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("éèêàçáíóúãõ", "eeeacaiouao"))


# --- one day of orders ------------------------------------------------------------------------


def _day_weight(day: date, first_day: date) -> float:
    growth = 1.15 ** ((day - first_day).days / 365)
    season = SEASON[day.month]
    if day.month == 12 and day.day <= 24:
        season *= 1 + day.day / 40  # the run-up to Christmas
    elif day.month == 12 and day.day > 24:
        season *= 0.8
    if _black_friday_week(day):
        season *= 1.4
    return growth * season


def _black_friday_week(day: date) -> bool:
    november = date(day.year, 11, 1)
    fridays = [november + timedelta(days=(4 - november.weekday()) % 7 + 7 * n) for n in range(5)]
    black_friday = fridays[3]
    return black_friday - timedelta(days=4) <= day <= black_friday + timedelta(days=3)


def _sale_period(day: date) -> bool:
    return (
        (day.month == 1 and day.day >= 8)
        or (day.month == 2 and day.day <= 4)
        or ((day.month == 6 and day.day >= 25) or (day.month == 7 and day.day <= 22))
    )


def _count(rng: random.Random, expected: float) -> int:
    whole = int(expected)
    return whole + (rng.random() < expected - whole)


class DemoSales:
    """The order generator: ``orders()`` yields ``OrderInput``s, day by day."""

    def __init__(self, merchant, *, lines: int = DEFAULT_LINES, today: date | None = None, seed: int = DEFAULT_SEED):
        self.world = DemoWorld(merchant, lines=lines, seed=seed)
        self.seed = seed
        tz = self.world.merchant_tz
        self.today = today or timezone.now().astimezone(tz).date()
        self.last_day = self.today - timedelta(days=1)
        self.first_day = self.today - timedelta(days=DAYS)
        self.end = datetime(self.today.year, self.today.month, self.today.day, tzinfo=tz)  # nothing from today on
        days = [self.first_day + timedelta(days=n) for n in range(DAYS)]
        weights = [_day_weight(day, self.first_day) for day in days]
        store_weight = sum(
            weight * STORE_WEEKDAY[day.weekday()] * sum(s.weight for s in self.world.stores if s.open_on(day))
            for day, weight in zip(days, weights, strict=True)
        )
        online_weight = sum(weight * ONLINE_WEEKDAY[day.weekday()] for day, weight in zip(days, weights, strict=True))
        orders = lines / LINES_PER_ORDER
        self.online_rate = orders * ONLINE_SHARE / online_weight
        self.store_rate = orders * (1 - ONLINE_SHARE) / store_weight if store_weight else 0
        if not store_weight:
            self.online_rate = orders / online_weight

    def orders(self) -> Iterator[OrderInput]:
        for number in range(DAYS):
            yield from self.day_orders(self.first_day + timedelta(days=number))

    def day_orders(self, day: date) -> Iterator[OrderInput]:
        world = self.world
        rng = random.Random(f"{self.seed}-{day.isoformat()}")
        weight = _day_weight(day, self.first_day)
        stem = day.strftime("%Y%m%d")
        # Online, in the merchant's time zone.
        for number in range(_count(rng, self.online_rate * weight * ONLINE_WEEKDAY[day.weekday()])):
            hour = bisect.bisect(ONLINE_HOURS_CUM, rng.random() * ONLINE_HOURS_CUM[-1])
            placed_at = datetime(
                day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=world.merchant_tz
            )
            customer = rng.choice(world.online_customers) if world.online_customers else None
            yield from self._order(rng, f"W{stem}-{number:05d}", Channel.ONLINE, None, placed_at, day, customer)
        # In stores, in each store's time zone and opening hours.
        for store in world.stores:
            if not store.open_on(day):
                continue
            expected = self.store_rate * weight * STORE_WEEKDAY[day.weekday()] * store.weight
            for number in range(_count(rng, expected)):
                placed_at = store.moment(rng, day)
                customer = None
                if rng.random() >= ANONYMOUS_IN_STORE:
                    regulars = world.store_customers.get(store.code)
                    pool = regulars if regulars and rng.random() < 0.85 else world.any_store_customers
                    customer = rng.choice(pool) if pool else None
                yield from self._order(
                    rng, f"S{stem}-{store.code}-{number:04d}", Channel.OFFLINE, store, placed_at, day, customer
                )

    # -- one order and what follows from it --

    def _order(self, rng, external_id, channel, store, placed_at, day, customer) -> Iterator[OrderInput]:
        world = self.world
        size = rng.choices(BASKET_SIZES, BASKET_WEIGHTS)[0]
        skus = self._basket(rng, size, store)
        discount_rate = self._discount_rate(rng, day)
        lines = [self._sale_line(world.products[sku], discount_rate) for sku in skus]
        status = OrderStatus.COMPLETED
        if channel == Channel.ONLINE and rng.random() < CANCEL_RATE:
            status = OrderStatus.CANCELLED
        order = OrderInput(
            source=SOURCE,
            external_id=external_id,
            channel=channel,
            placed_at=placed_at,
            currency=world.currency,
            store=store.code if store else None,
            status=status,
            lines=lines,
            shipping=Decimal("4.90")
            if channel == Channel.ONLINE and sum(line.unit_price for line in lines) < 60
            else ZERO,
        )
        if channel == Channel.ONLINE and customer and customer.in_store and rng.random() < 0.15:
            home = world.store_by_code.get(customer.home)
            if home and home.open_on(day):
                order.store = home.code  # click and collect
        if customer:
            order.identifiers = customer.identifiers(channel)
            order.customer_name = customer.name
            order.customer_email = customer.email if channel == Channel.ONLINE or customer.email_in_store else ""
            if rng.random() < 0.05 and sum(line.unit_price for line in lines) > 50:
                order.order_discount = Decimal("5.00")  # a loyalty voucher
        refund = None
        if status == OrderStatus.COMPLETED and rng.random() < REFUND_RATE:
            refund = self._refund(rng, order, store, day)
        yield order
        if refund is not None:
            yield refund
        if customer and status == OrderStatus.COMPLETED:
            yield from self._follow_up(rng, order, customer, day)

    def _basket(self, rng: random.Random, size: int, store: DemoStore | None) -> list[str]:
        world = self.world
        city_pairs = world.city_pairs.get(store.city) if store else None
        if city_pairs and rng.random() < 0.25:
            anchor = rng.choice(list(city_pairs))  # the city's favourites sell a lot there
        else:
            anchor = world.popular_item(rng)
        basket = [anchor]
        if city_pairs and anchor in city_pairs and rng.random() < P_CITY_PAIR:
            basket.append(city_pairs[anchor])
        attempts = 0
        while len(basket) < size and attempts < 20:
            attempts += 1
            if rng.random() < P_COMPLEMENT:
                source = world.products[rng.choice(basket)]
                candidate = (
                    source.together[0] if rng.random() < 0.75 or len(source.together) < 2 else source.together[1]
                )
            else:
                candidate = world.popular_item(rng)
            if candidate not in basket:
                basket.append(candidate)
        return basket

    @staticmethod
    def _discount_rate(rng: random.Random, day: date) -> Decimal:
        if _sale_period(day):
            return rng.choice((ZERO, Decimal("0.2"), Decimal("0.3"), Decimal("0.4"))) if rng.random() < 0.6 else ZERO
        if _black_friday_week(day):
            return Decimal("0.25") if rng.random() < 0.5 else ZERO
        return Decimal("0.1") if rng.random() < 0.04 else ZERO

    @staticmethod
    def _sale_line(product: DemoProduct, discount_rate: Decimal) -> LineInput:
        discount = (product.price * discount_rate).quantize(CENT, ROUND_HALF_UP) if discount_rate else ZERO
        return LineInput(sku=product.sku, quantity=ONE, unit_price=product.price, discount=discount)

    def _refund(self, rng, order: OrderInput, store: DemoStore | None, day: date) -> OrderInput | None:
        """Online: a return line on the order, days later. In store: a separate refund order, in opening hours."""
        line = rng.choice(order.lines)
        if store is None:
            occurred_at = order.placed_at + timedelta(days=rng.randint(3, 20), hours=rng.randint(0, 8))
            if occurred_at >= self.end:
                return None
            order.lines.append(
                LineInput(
                    sku=line.sku,
                    quantity=-ONE,
                    unit_price=line.unit_price,
                    discount=line.discount,
                    kind=LineKind.RETURN,
                    occurred_at=occurred_at,
                )
            )
            return None
        refund_day = self._open_day(store, day + timedelta(days=rng.randint(1, 14)))
        if refund_day is None:
            return None
        return OrderInput(
            source=SOURCE,
            external_id=f"{order.external_id}-R",
            channel=Channel.OFFLINE,
            placed_at=store.moment(rng, refund_day),
            currency=order.currency,
            store=store.code,
            lines=[
                LineInput(
                    sku=line.sku,
                    quantity=-ONE,
                    unit_price=line.unit_price,
                    discount=line.discount,
                    kind=LineKind.RETURN,
                )
            ],
            identifiers=list(order.identifiers),
            customer_name=order.customer_name,
            customer_email=order.customer_email,
        )

    def _open_day(self, store: DemoStore, day: date) -> date | None:
        for offset in range(8):
            candidate = day + timedelta(days=offset)
            if candidate > self.last_day:
                return None
            if store.open_on(candidate):
                return candidate
        return None

    def _follow_up(self, rng, order: OrderInput, customer: DemoCustomer, day: date) -> Iterator[OrderInput]:
        """Journeys: X online, then X's "later" product in the home store within 30 days (or a later order in
        the same channel for everyone else)."""
        world = self.world
        journey = order.channel == Channel.ONLINE and customer.in_store
        if rng.random() >= (P_JOURNEY_OMNI if journey else P_FOLLOW_UP):
            return
        first = world.products[order.lines[0].sku]
        later = world.products[first.later]
        skus = [later.sku]
        if rng.random() < 0.4 and later.together[0] != first.sku:
            skus.append(later.together[0])
        follow_day = day + timedelta(days=rng.randint(1, 23))  # + up to 7 to an open day: within 30
        channel = Channel.OFFLINE if journey else order.channel
        store = None
        if channel == Channel.OFFLINE:
            store = world.store_by_code.get(customer.home if journey else order.store or "")
            follow_day = self._open_day(store, follow_day) if store else None
            if follow_day is None:
                return
            placed_at = store.moment(rng, follow_day)
        else:
            if follow_day > self.last_day:
                return
            hour = bisect.bisect(ONLINE_HOURS_CUM, rng.random() * ONLINE_HOURS_CUM[-1])
            placed_at = datetime(
                follow_day.year, follow_day.month, follow_day.day, hour, rng.randrange(60), tzinfo=world.merchant_tz
            )
        rate = self._discount_rate(rng, follow_day)
        yield OrderInput(
            source=SOURCE,
            external_id=f"{order.external_id}-F",
            channel=channel,
            placed_at=placed_at,
            currency=order.currency,
            store=store.code if store else None,
            lines=[self._sale_line(world.products[sku], rate) for sku in skus],
            identifiers=customer.identifiers(channel),
            customer_name=customer.name,
            customer_email=customer.email if channel == Channel.ONLINE or customer.email_in_store else "",
        )


# --- loading them -------------------------------------------------------------------------------


@dataclass
class DemoSalesResult:
    orders: int = 0
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    skipped: bool = False
    customers: int = 0
    omnichannel_customers: int = 0
    refund_orders: int = 0
    cancelled: int = 0
    online_share: float = 0.0
    generate_seconds: float = 0.0
    ingest_seconds: float = 0.0
    seconds: float = 0.0
    first_errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            head = f"Sales: {self.lines} demo order lines already there, nothing generated"
        else:
            head = (
                f"Sales: {self.orders} orders, {self.lines} lines generated "
                f"({self.created} created, {self.updated} updated, {self.unchanged} unchanged, {self.errors} errors) "
                f"in {self.seconds:.1f}s (generating {self.generate_seconds:.1f}s, ingesting {self.ingest_seconds:.1f}s)"
            )
        return (
            f"{head}; in the database: {self.customers} customers, {self.omnichannel_customers} buying online and "
            f"in stores, {self.refund_orders} orders with refunds, {self.cancelled} cancelled, "
            f"{self.online_share:.0%} of orders online."
        )


def demo_lines_count(merchant) -> int:
    return OrderLine.objects.for_merchant(merchant).filter(order__source=SOURCE).count()


def demo_sales_load(
    *,
    merchant,
    lines: int = DEFAULT_LINES,
    today: date | None = None,
    seed: int = DEFAULT_SEED,
    actor=None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[DemoSalesResult], None] | None = None,
) -> DemoSalesResult:
    """Generate the demo sales and send them through ``orders_ingest`` in batches, one ``IngestContext``."""
    started = time.monotonic()
    result = DemoSalesResult()
    generator = DemoSales(merchant, lines=lines, today=today, seed=seed)
    context = IngestContext(merchant)
    batch: list[OrderInput] = []
    orders = generator.orders()
    while True:
        tick = time.monotonic()
        batch = list(itertools.islice(orders, batch_size))
        result.generate_seconds += time.monotonic() - tick
        if not batch:
            break
        result.orders += len(batch)
        result.lines += sum(len(order.lines) for order in batch)
        tick = time.monotonic()
        outcomes = orders_ingest(merchant=merchant, orders=batch, context=context, actor=actor)
        result.ingest_seconds += time.monotonic() - tick
        for outcome in outcomes:
            if outcome.result == "error":
                result.errors += 1
                if len(result.first_errors) < 5:
                    result.first_errors.append(
                        f"{outcome.external_id}: "
                        + "; ".join(f"{e.column} {e.value!r}: {e.reason}" for e in outcome.errors)
                    )
            else:
                setattr(result, outcome.result, getattr(result, outcome.result) + 1)
        if progress:
            progress(result)
    result.seconds = time.monotonic() - started
    demo_sales_stats(merchant, result)
    return result


def demo_sales_stats(merchant, result: DemoSalesResult) -> DemoSalesResult:
    """Fill in what the database now holds for the demo source."""
    orders = Order.objects.for_merchant(merchant).filter(source=SOURCE)
    counts = orders.aggregate(
        total=Count("id"),
        online=Count("id", filter=Q(channel=Channel.ONLINE)),
        refunds=Count("id", filter=Q(refunds__gt=0)),
        cancelled=Count("id", filter=Q(status=OrderStatus.CANCELLED)),
    )
    result.refund_orders = counts["refunds"]
    result.cancelled = counts["cancelled"]
    result.online_share = counts["online"] / counts["total"] if counts["total"] else 0.0
    channels = (
        orders.filter(customer__isnull=False)
        .values("customer_id")
        .annotate(channels=Count("channel", distinct=True))
        .values_list("channels", flat=True)
    )
    counted = Counter(channels)
    result.customers = sum(counted.values())
    result.omnichannel_customers = counted[2]
    return result


def merchant_sales_delete(merchant) -> int:
    """Delete every sale of ``merchant`` (lines, orders, customers) in a few set-based statements, so that the
    merchant itself can be deleted (orders protect stores and products; merged customers protect their survivor).
    Used by ``seed_demo --reset``; returns the number of orders deleted."""
    from django.db import connection, transaction

    from sales.models import CustomerIdentifier, CustomerMerge

    with transaction.atomic(), connection.cursor() as cursor:
        for model in (OrderLine, Order, CustomerMerge, CustomerIdentifier):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE merchant_id = %s", [merchant.pk])  # noqa: S608
            if model is Order:
                deleted = cursor.rowcount
        table = Customer._meta.db_table
        cursor.execute(f"UPDATE {table} SET merged_into_id = NULL WHERE merchant_id = %s", [merchant.pk])  # noqa: S608
        cursor.execute(f"DELETE FROM {table} WHERE merchant_id = %s", [merchant.pk])  # noqa: S608
    return deleted
