"""The correctness oracle of the analytics: every KPI straight from raw ``Order``/``OrderLine`` rows, in plain
Python, with nothing shared with ``analytics.services``/``analytics.selectors`` but the definitions
(DESIGN.md, "What the numbers mean"), and a generator of sales with the edge cases that break rollups.

Definitions, as the oracle applies them:
- cancelled orders count nothing; every other line counts on its own ``local_date`` (a refund on its day);
- gross/discounts: sale lines; plus each order's order-level discount (``Order.discounts`` − its sale lines'
  discounts) on the order's day, store and channel, which belongs to no product or category;
- refunds: −net of return lines; net = gross − discounts − refunds; units: Σ quantity (returns negative);
- orders: distinct orders with a sale line among the lines counted;
- customers: identified customers (``Order.customer``, after merges) with a sale line among the lines counted;
  returning: their first non-cancelled order with a sale line (anywhere) is before the range (for buckets:
  before the bucket, or the range if it starts later); omnichannel: sale lines online and offline.
"""

from __future__ import annotations

import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from analytics.filters import Filters
from analytics.selectors import (
    BehaviourRow,
    CategoryRow,
    HourCell,
    Kpis,
    NewReturningPoint,
    ProductRow,
    SeriesPoint,
    StoreRow,
    Summary,
    SummaryRow,
)
from catalog.models import Category, Product
from sales.ingest.service import orders_ingest
from sales.ingest.types import IdentifierInput, LineInput, OrderInput
from sales.models import Order, OrderLine
from stores.models import Store
from tests.factories import CategoryFactory, ProductFactory, StoreFactory

CENT, SHARE, ZERO = Decimal("0.01"), Decimal("0.0001"), Decimal("0")


@dataclass(frozen=True)
class Entry:
    """One counted amount: a line, or an order-level discount (``product_id`` None, ``line`` False)."""

    local_date: date
    channel: str
    store_id: int | None
    product_id: int | None
    category_id: int | None
    customer_id: int | None
    order_id: int
    sale: bool
    gross: Decimal
    discount: Decimal
    refund: Decimal
    units: Decimal
    weekday: int
    hour: int
    line: bool = True

    @property
    def net(self) -> Decimal:
        return self.gross - self.discount - self.refund


def entries(merchant) -> list[Entry]:
    zones = {store.pk: zoneinfo.ZoneInfo(store.timezone) for store in Store.objects.filter(merchant=merchant)}
    merchant_zone = zoneinfo.ZoneInfo(merchant.timezone)
    categories = dict(Product.objects.filter(merchant=merchant).values_list("pk", "category_id"))
    orders = {order.pk: order for order in Order.objects.filter(merchant=merchant)}
    result: list[Entry] = []
    line_discounts: dict[int, Decimal] = defaultdict(Decimal)
    for line in OrderLine.objects.filter(merchant=merchant):
        order = orders[line.order_id]
        if order.status == "cancelled":
            continue
        local = line.occurred_at.astimezone(zones.get(line.store_id, merchant_zone))
        sale = line.kind == "sale"
        if sale:
            line_discounts[order.pk] += line.discount
        result.append(
            Entry(
                local_date=line.local_date,
                channel=line.channel,
                store_id=line.store_id,
                product_id=line.product_id,
                category_id=categories.get(line.product_id),
                customer_id=order.customer_id,
                order_id=order.pk,
                sale=sale,
                gross=line.gross if sale else ZERO,
                discount=line.discount if sale else ZERO,
                refund=ZERO if sale else -line.net,
                units=line.quantity,
                weekday=local.weekday(),
                hour=local.hour,
            )
        )
    for order in orders.values():
        extra = order.discounts - line_discounts[order.pk]
        if order.status == "cancelled" or not extra:
            continue
        local = order.placed_at.astimezone(zones.get(order.store_id, merchant_zone))
        result.append(
            Entry(
                local_date=order.local_date,
                channel=order.channel,
                store_id=order.store_id,
                product_id=None,
                category_id=None,
                customer_id=order.customer_id,
                order_id=order.pk,
                sale=False,
                gross=ZERO,
                discount=extra,
                refund=ZERO,
                units=ZERO,
                weekday=local.weekday(),
                hour=local.hour,
                line=False,
            )
        )
    return result


def first_order_dates(all_entries: list[Entry]) -> dict[int, date]:
    first: dict[int, date] = {}
    for entry in all_entries:
        if entry.sale and entry.customer_id is not None:
            first[entry.customer_id] = min(first.get(entry.customer_id, entry.local_date), entry.local_date)
    return first


def matching(all_entries: list[Entry], filters: Filters, *, start: date | None = None, end: date | None = None):
    start, end = start or filters.date_from, end or filters.date_to
    for entry in all_entries:
        if not start <= entry.local_date <= end:
            continue
        if filters.channel and entry.channel != filters.channel:
            continue
        if filters.store_ids is not None and entry.store_id not in filters.store_ids:
            continue
        if filters.category_id is not None and (not entry.line or entry.category_id != filters.category_id):
            continue
        yield entry


def _divide(numerator, denominator, quantum) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(quantum, ROUND_HALF_UP)


def kpis(all_entries: list[Entry], filters: Filters, *, start=None, end=None, where=None) -> Kpis:
    """The KPIs of the entries in the filters (narrowed to [start, end] and ``where`` when given); returning
    customers are those whose first order is before ``start`` (default: the range's start)."""
    chosen = [e for e in matching(all_entries, filters, start=start, end=end) if where is None or where(e)]
    gross = sum((e.gross for e in chosen), ZERO)
    discounts = sum((e.discount for e in chosen), ZERO)
    refunds = sum((e.refund for e in chosen), ZERO)
    net = gross - discounts - refunds
    units = sum((e.units for e in chosen), ZERO)
    orders = len({e.order_id for e in chosen if e.sale})
    online = sum((e.net for e in chosen if e.channel == "online"), ZERO)
    bought: dict[int, set[str]] = defaultdict(set)
    spent: dict[int, Decimal] = defaultdict(Decimal)
    for e in chosen:
        if e.customer_id is None:
            continue
        spent[e.customer_id] += e.net
        if e.sale:
            bought[e.customer_id].add(e.channel)
    first = first_order_dates(all_entries)
    customers = set(bought)
    returning = {c for c in customers if first[c] < (start or filters.date_from)}
    both = {c for c in customers if bought[c] == {"online", "offline"}}
    omni_sales = sum((spent[c] for c in both), ZERO)
    return Kpis(
        net_sales=net,
        gross_sales=gross,
        discounts=discounts,
        refunds=refunds,
        orders=orders,
        average_order_value=_divide(net, orders, CENT),
        units=units,
        units_per_order=_divide(units, orders, CENT),
        customers=len(customers),
        returning_customers=len(returning),
        returning_share=_divide(len(returning), len(customers), SHARE),
        new_customers=len(customers) - len(returning),
        omnichannel_customers=len(both),
        omnichannel_sales=omni_sales,
        omnichannel_sales_share=_divide(omni_sales, net, SHARE),
        online_sales=online,
        online_share=_divide(online, net, SHARE),
    )


def summary(all_entries: list[Entry], filters: Filters) -> Summary:
    comparison = filters.comparison()
    return Summary(
        current=kpis(all_entries, filters),
        comparison=kpis(all_entries, comparison) if comparison else None,
        date_from=filters.date_from,
        date_to=filters.date_to,
        comparison_from=comparison.date_from if comparison else None,
        comparison_to=comparison.date_to if comparison else None,
    )


def summary_rows(all_entries: list[Entry], filters: Filters, interval: str) -> list[SummaryRow]:
    codes = dict(Store.objects.filter(merchant_id=filters.merchant_id).values_list("pk", "code"))
    groups = {(_bucket(e.local_date, interval), e.store_id, e.channel) for e in matching(all_entries, filters)}
    rows = []
    for bucket, store_id, channel in groups:
        start = max(bucket, filters.date_from)
        end = min(_bucket_end(bucket, interval), filters.date_to)
        figures = kpis(
            all_entries,
            filters,
            start=start,
            end=end,
            where=lambda e, s=store_id, c=channel: (e.store_id, e.channel) == (s, c),
        )
        rows.append(SummaryRow(bucket, codes[store_id] if store_id else "", channel, figures))
    rows.sort(key=lambda row: (row.period, row.store_code, row.channel))
    return rows


def _bucket_end(bucket: date, interval: str) -> date:
    if interval == "week":
        return bucket + timedelta(days=6)
    if interval == "month":
        return (bucket.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return bucket


def customer_behaviour(all_entries: list[Entry], filters: Filters) -> list[BehaviourRow]:
    bought: dict[int, set[str]] = defaultdict(set)
    spent: dict[int, Decimal] = defaultdict(Decimal)
    for e in matching(all_entries, filters):
        if e.customer_id is not None:
            spent[e.customer_id] += e.net
            if e.sale:
                bought[e.customer_id].add(e.channel)
    rows = []
    behaviours = (("online_only", {"online"}), ("offline_only", {"offline"}), ("both", {"online", "offline"}))
    for label, channels in behaviours:
        chosen = [c for c in bought if bought[c] == channels]
        rows.append(BehaviourRow(label, len(chosen), sum((spent[c] for c in chosen), ZERO)))
    return rows


def _bucket(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _buckets(filters: Filters, interval: str) -> list[date]:
    buckets, day = [], filters.date_from
    while day <= filters.date_to:
        if not buckets or buckets[-1] != _bucket(day, interval):
            buckets.append(_bucket(day, interval))
        day += timedelta(days=1)
    return buckets


def new_vs_returning(all_entries: list[Entry], filters: Filters, interval: str) -> list[NewReturningPoint]:
    first = first_order_dates(all_entries)
    per_bucket: dict[date, set[int]] = defaultdict(set)
    for e in matching(all_entries, filters):
        if e.sale and e.customer_id is not None:
            per_bucket[_bucket(e.local_date, interval)].add(e.customer_id)
    points = []
    for bucket in _buckets(filters, interval):
        threshold = max(bucket, filters.date_from)
        returning = {c for c in per_bucket[bucket] if first[c] < threshold}
        points.append(NewReturningPoint(bucket, len(per_bucket[bucket]) - len(returning), len(returning)))
    return points


def timeseries(all_entries: list[Entry], filters: Filters, metric: str, interval: str, group_by: str | None):
    stores = dict(Store.objects.filter(merchant_id=filters.merchant_id).values_list("pk", "code"))
    names = dict(Category.objects.filter(merchant_id=filters.merchant_id).values_list("pk", "name"))

    def group_of(e: Entry) -> str:
        if group_by == "channel":
            return e.channel
        if group_by == "store":
            return stores[e.store_id] if e.store_id else ""
        if group_by == "category":
            return names[e.category_id] if e.category_id else "Uncategorised"
        return "all"

    cells: dict[tuple[date, str], list[Entry]] = defaultdict(list)
    for e in matching(all_entries, filters):
        if group_by == "category" and not e.line:
            cells[(_bucket(e.local_date, interval), "Uncategorised")].append(e)  # order-level discounts
            continue
        cells[(_bucket(e.local_date, interval), group_of(e))].append(e)
    groups = sorted({group for _, group in cells})
    points = []
    for bucket in _buckets(filters, interval):
        for group in groups:
            chosen = cells.get((bucket, group), [])
            net = sum((e.net for e in chosen), ZERO)
            orders = len({e.order_id for e in chosen if e.sale})
            values = {
                "net_sales": net,
                "gross_sales": sum((e.gross for e in chosen), ZERO),
                "refunds": sum((e.refund for e in chosen), ZERO),
                "discounts": sum((e.discount for e in chosen), ZERO),
                "units": sum((e.units for e in chosen), ZERO),
                "orders": Decimal(orders),
                "customers": Decimal(len({e.customer_id for e in chosen if e.sale and e.customer_id})),
                "average_order_value": _divide(net, orders, CENT) or ZERO,
            }
            value = values[metric]
            points.append(SeriesPoint(bucket, group, value))
    return points


def stores(all_entries: list[Entry], filters: Filters) -> list[StoreRow]:
    comparison = filters.comparison()
    current = defaultdict(list)
    compared = defaultdict(list)
    for e in matching(all_entries, filters):
        if e.store_id is not None:
            current[e.store_id].append(e)
    if comparison:
        for e in matching(all_entries, comparison):
            if e.store_id is not None:
                compared[e.store_id].append(e)
    rows = []
    for store in Store.objects.filter(pk__in=set(current) | set(compared)):
        chosen = current.get(store.pk, [])
        net = sum((e.net for e in chosen), ZERO)
        orders = len({e.order_id for e in chosen if e.sale})
        base = sum((e.net for e in compared.get(store.pk, [])), ZERO) if comparison else None
        rows.append(
            StoreRow(
                store_id=store.pk,
                code=store.code,
                name=store.name,
                region=store.region,
                latitude=float(store.latitude) if store.latitude is not None else None,
                longitude=float(store.longitude) if store.longitude is not None else None,
                net_sales=net,
                gross_sales=sum((e.gross for e in chosen), ZERO),
                refunds=sum((e.refund for e in chosen), ZERO),
                orders=orders,
                units=sum((e.units for e in chosen), ZERO),
                average_order_value=_divide(net, orders, CENT),
                online_fulfilled_sales=sum((e.net for e in chosen if e.channel == "online"), ZERO),
                comparison_net_sales=base,
                change=_divide(net - base, base, SHARE) if base else None,
            )
        )
    rows.sort(key=lambda row: (-row.net_sales, row.code))
    return rows


def products(all_entries: list[Entry], filters: Filters) -> list[ProductRow]:
    per_product: dict[int, list[Entry]] = defaultdict(list)
    for e in matching(all_entries, filters):
        if e.product_id is not None:
            per_product[e.product_id].append(e)
    info = {p.pk: p for p in Product.objects.filter(pk__in=per_product).select_related("category")}
    rows = []
    for product_id, chosen in per_product.items():
        product = info[product_id]
        rows.append(
            ProductRow(
                product_id=product_id,
                sku=product.sku,
                name=product.name,
                category=product.category.name if product.category else "",
                units=sum((e.units for e in chosen), ZERO),
                gross_sales=sum((e.gross for e in chosen), ZERO),
                discounts=sum((e.discount for e in chosen), ZERO),
                refunds=sum((e.refund for e in chosen), ZERO),
                net_sales=sum((e.net for e in chosen), ZERO),
                online_net_sales=sum((e.net for e in chosen if e.channel == "online"), ZERO),
                offline_net_sales=sum((e.net for e in chosen if e.channel == "offline"), ZERO),
                rank=0,
            )
        )
    rows.sort(key=lambda row: (-row.net_sales, row.product_id))
    return [ProductRow(**{**row.__dict__, "rank": rank}) for rank, row in enumerate(rows, 1)]


def categories(all_entries: list[Entry], filters: Filters) -> list[CategoryRow]:
    names = dict(Category.objects.filter(merchant_id=filters.merchant_id).values_list("pk", "name"))
    per: dict[str, list[Entry]] = defaultdict(list)
    for e in matching(all_entries, filters):
        per[names[e.category_id] if e.category_id else "Uncategorised"].append(e)
    rows = [
        CategoryRow(
            category=name,
            online_net_sales=sum((e.net for e in chosen if e.channel == "online"), ZERO),
            offline_net_sales=sum((e.net for e in chosen if e.channel == "offline"), ZERO),
            net_sales=sum((e.net for e in chosen), ZERO),
            units=sum((e.units for e in chosen), ZERO),
        )
        for name, chosen in per.items()
    ]
    rows.sort(key=lambda row: (-row.net_sales, row.category))
    return rows


def hour_by_weekday(all_entries: list[Entry], filters: Filters) -> list[HourCell]:
    per: dict[tuple[int, int], list[Entry]] = defaultdict(list)
    for e in matching(all_entries, filters):
        if e.store_id is not None:
            per[(e.weekday, e.hour)].append(e)
    return [
        HourCell(
            weekday,
            hour,
            sum((e.net for e in per[(weekday, hour)]), ZERO),
            len({e.order_id for e in per[(weekday, hour)] if e.sale}),
        )
        for weekday in range(7)
        for hour in range(24)
    ]


# --- the data ---------------------------------------------------------------------------------------------

# Europe's DST change (Sunday 2024-03-31) and the US one (2024-03-10) both fall in the generated range.
FIRST_DAY = date(2024, 1, 20)
LAST_DAY = date(2024, 4, 12)
STORES = (  # code, time zone, region
    ("PAR-01", "Europe/Paris", "Île-de-France"),
    ("PAR-02", "Europe/Paris", "Île-de-France"),
    ("LON-01", "Europe/London", "England"),
    ("NYC-01", "America/New_York", "New York"),
)
CATEGORIES = ("Tops", "Shoes", "Bags")


@dataclass
class Dataset:
    merchant: object
    stores: dict[str, Store]
    categories: dict[str, Category]
    products: list[Product]


def dataset_create(merchant) -> Dataset:
    stores = {
        code: StoreFactory(merchant=merchant, code=code, timezone=tz, region=region) for code, tz, region in STORES
    }
    categories = {name: CategoryFactory(merchant=merchant, name=name) for name in CATEGORIES}
    products = [
        ProductFactory(merchant=merchant, sku=f"P-{n:02d}", category=categories[CATEGORIES[n % 3]], price=None)
        for n in range(9)
    ]
    products.append(ProductFactory(merchant=merchant, sku="P-NOCAT", category=None, price=None))
    return Dataset(merchant, stores, categories, products)


class OrderGenerator:
    """Deterministic orders with the edge cases: refunds on later days (and whole-order refunds without item
    detail), orders near midnight in stores of three time zones around both DST changes, click-and-collect,
    cancelled orders, order-level discounts, anonymous sales, and customers who get merged later."""

    def __init__(self, dataset: Dataset, seed: int = 7):
        self.dataset = dataset
        self.rng = random.Random(seed)
        self.counter = 0

    def _moment(self, day: date, tz: str) -> datetime:
        # A quarter of the orders land within 40 minutes of local midnight (either side).
        rng = self.rng
        if rng.random() < 0.25:
            local = datetime.combine(day, time(23, 59), tzinfo=zoneinfo.ZoneInfo(tz)) - timedelta(
                minutes=rng.randint(0, 40)
            )
            if rng.random() < 0.5:
                local = datetime.combine(day, time(0, 0), tzinfo=zoneinfo.ZoneInfo(tz)) + timedelta(
                    minutes=rng.randint(0, 40)
                )
        else:
            local = datetime.combine(day, time(rng.randint(8, 21), rng.randint(0, 59)), tzinfo=zoneinfo.ZoneInfo(tz))
        return local.astimezone(UTC)

    def order(self, day: date, *, customer: str | None = None, extra_identifier: IdentifierInput | None = None):
        rng, dataset = self.rng, self.dataset
        self.counter += 1
        channel = rng.choice(["online", "offline", "offline"])
        store_code = None
        if channel == "offline" or rng.random() < 0.3:  # click-and-collect for some online orders
            store_code = rng.choice(list(dataset.stores))
        tz = dataset.stores[store_code].timezone if store_code else dataset.merchant.timezone
        placed_at = self._moment(day, tz)
        lines = []
        for _ in range(rng.randint(1, 3)):
            product = rng.choice(dataset.products)
            quantity = Decimal(rng.randint(1, 3))
            price = Decimal(rng.randint(500, 9000)) / 100
            discount = Decimal(rng.choice([0, 0, 0, 150, 333])) / 100
            lines.append(LineInput(sku=product.sku, quantity=quantity, unit_price=price, discount=discount))
        roll = rng.random()
        if roll < 0.15:  # a refund of one item a few days later (maybe across a month edge)
            first = lines[0]
            lines.append(
                LineInput(
                    sku=first.sku, quantity=Decimal(-1), unit_price=first.unit_price, kind="return",
                    occurred_at=placed_at + timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 5)),
                )
            )  # fmt: skip
        elif roll < 0.2:  # an order-level refund without item detail
            lines.append(
                LineInput(
                    sku="", quantity=Decimal(0), unit_price=Decimal(0), kind="return", amount=Decimal("4.20"),
                    occurred_at=placed_at + timedelta(days=rng.randint(0, 3)),
                )
            )  # fmt: skip
        identifiers = []
        if customer:
            identifiers.append(IdentifierInput(kind="email", value=f"{customer}@example.com"))
        if extra_identifier:
            identifiers.append(extra_identifier)
        return OrderInput(
            source="api",
            external_id=f"O-{self.counter:05d}",
            channel=channel,
            store=store_code,
            placed_at=placed_at,
            currency="EUR",
            status="cancelled" if rng.random() < 0.06 else "completed",
            lines=lines,
            order_discount=Decimal("2.50") if rng.random() < 0.1 else ZERO,
            identifiers=identifiers,
        )

    def days(self, first: date, last: date, per_day: int = 3) -> list[OrderInput]:
        orders, day = [], first
        while day <= last:
            for _ in range(per_day):
                # The pool of shoppers grows over time: every range has new and returning customers.
                pool = 5 + (day - FIRST_DAY).days // 2
                customer = f"c{self.rng.randint(1, pool)}" if self.rng.random() < 0.8 else None
                orders.append(self.order(day, customer=customer))
            day += timedelta(days=1)
        return orders


def ingest(merchant, orders: list[OrderInput]) -> None:
    outcomes = orders_ingest(merchant=merchant, orders=orders)
    errors = [(o.ref, o.errors) for o in outcomes if o.result == "error"]
    assert not errors, errors


def merge_orders(generator: OrderGenerator, day: date) -> list[OrderInput]:
    """Orders whose identifiers link two existing customers (c1 + c2's phone, c3 + c4's phone): they merge."""
    first = generator.order(day, customer="c1", extra_identifier=IdentifierInput(kind="phone", value="+33612000002"))
    second = generator.order(day, customer="c2", extra_identifier=IdentifierInput(kind="phone", value="+33612000002"))
    third = generator.order(day, customer="c3", extra_identifier=IdentifierInput(kind="phone", value="+33612000004"))
    fourth = generator.order(day, customer="c4", extra_identifier=IdentifierInput(kind="phone", value="+33612000004"))
    return [first, second, third, fourth]
