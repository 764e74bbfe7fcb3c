"""Reads behind the product drill-down page: one product's sales by channel, by store and over time, from the
``ProductStoreDay`` rollup (merchant × day × product × store × channel), for the dashboard's ``Filters``.

Kept apart from ``analytics.selectors`` (the contract shared by the dashboard, the API and the reports) because
only the product page uses it; same conventions: keyword-only, rollups only, plain dataclasses, ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from analytics.filters import Filters
from analytics.models import ProductStoreDay
from analytics.selectors import SeriesPoint
from stores.models import Store

ZERO = Decimal(0)


@dataclass(frozen=True)
class ProductChannelRow:
    channel: str
    gross_sales: Decimal
    discounts: Decimal
    refunds: Decimal
    net_sales: Decimal
    units: Decimal
    orders: int


@dataclass(frozen=True)
class ProductStoreRow:
    store_id: int | None
    code: str  # "" for online sales that no store fulfilled
    name: str
    online_net_sales: Decimal
    offline_net_sales: Decimal
    net_sales: Decimal
    units: Decimal


@dataclass(frozen=True)
class ProductSales:
    channels: list[ProductChannelRow]  # online then offline, both always present
    stores: list[ProductStoreRow]  # by net sales descending
    series: list[SeriesPoint]  # net sales per bucket and channel, zero-filled

    @property
    def net_sales(self) -> Decimal:
        return sum((row.net_sales for row in self.channels), ZERO)

    @property
    def units(self) -> Decimal:
        return sum((row.units for row in self.channels), ZERO)


def _rows(filters: Filters, product_id: int):
    rows = ProductStoreDay.objects.filter(
        merchant_id=filters.merchant_id,
        product_id=product_id,
        local_date__gte=filters.date_from,
        local_date__lte=filters.date_to,
    )
    if filters.channel:
        rows = rows.filter(channel=filters.channel)
    if filters.store_ids is not None:
        rows = rows.filter(store_id__in=filters.store_ids)
    return rows


def _buckets(filters: Filters, interval: str) -> list[date]:
    start = filters.date_from
    if interval == "week":
        start = start - timedelta(days=start.weekday())
    elif interval == "month":
        start = start.replace(day=1)
    buckets = []
    day = start
    while day <= filters.date_to:
        buckets.append(day)
        if interval == "day":
            day = day + timedelta(days=1)
        elif interval == "week":
            day = day + timedelta(days=7)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return buckets


def product_sales(filters: Filters, *, product_id: int, interval: str = "day") -> ProductSales:
    """Three queries: totals per channel, per store (names looked up in one more), per bucket and channel."""
    rows = _rows(filters, product_id)
    metrics = {
        "gross_sales": Sum("gross"),
        "discounts": Sum("discounts"),
        "refunds": Sum("refunds"),
        "net_sales": Sum("net"),
        "units": Sum("units"),
        "orders": Sum("orders"),
    }
    by_channel = {row["channel"]: row for row in rows.values("channel").annotate(**metrics).order_by()}
    channels = []
    for channel in ("online", "offline"):
        row = by_channel.get(channel, {})
        channels.append(
            ProductChannelRow(
                channel,
                row.get("gross_sales") or ZERO,
                row.get("discounts") or ZERO,
                row.get("refunds") or ZERO,
                row.get("net_sales") or ZERO,
                row.get("units") or ZERO,
                row.get("orders") or 0,
            )
        )

    per_store: dict[int | None, dict[str, Decimal]] = {}
    for row in rows.values("store_id", "channel").annotate(net=Sum("net"), units=Sum("units")).order_by():
        entry = per_store.setdefault(row["store_id"], {"online": ZERO, "offline": ZERO, "units": ZERO})
        entry[row["channel"]] += row["net"]
        entry["units"] += row["units"]
    names = {
        store.pk: store
        for store in Store.objects.filter(
            merchant_id=filters.merchant_id, pk__in=[pk for pk in per_store if pk is not None]
        ).only("code", "name")
    }
    stores = [
        ProductStoreRow(
            store_id,
            names[store_id].code if store_id in names else "",
            names[store_id].name if store_id in names else "Online, no store",
            entry["online"],
            entry["offline"],
            entry["online"] + entry["offline"],
            entry["units"],
        )
        for store_id, entry in per_store.items()
    ]
    stores.sort(key=lambda row: (-row.net_sales, row.code))

    if interval == "day":
        bucketed = rows.values("channel", period=F("local_date"))
    else:
        trunc = TruncWeek if interval == "week" else TruncMonth
        bucketed = rows.annotate(period=trunc("local_date")).values("channel", "period")
    values: dict[tuple, Decimal] = {}
    for row in bucketed.annotate(value=Sum("net")).order_by():
        period = row["period"]
        period = period.date() if isinstance(period, datetime) else period
        values[(period, row["channel"])] = row["value"]
    groups = [channel for channel in ("online", "offline") if any(key[1] == channel for key in values)]
    series = [
        SeriesPoint(period, channel, values.get((period, channel), ZERO))
        for period in _buckets(filters, interval)
        for channel in groups
    ]
    return ProductSales(channels, stores, series)
