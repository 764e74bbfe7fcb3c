"""Every number of the dashboard, the analytics API and the reports comes from here (DESIGN.md, "What the
numbers mean"). Selectors read the rollup tables (``analytics.models``), never raw order lines, take a
``Filters`` (``analytics.filters``) and return plain dataclasses; money is ``Decimal`` in the merchant's
currency. Pages, API serializers, Plotly figure builders and report writers only format what these return.

CONTRACT (other code is written against these names and shapes; change them only together with their users).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from analytics.filters import Filters


@dataclass(frozen=True)
class Kpis:
    net_sales: Decimal
    gross_sales: Decimal
    discounts: Decimal
    refunds: Decimal
    orders: int
    average_order_value: Decimal | None  # None when orders == 0
    units: Decimal  # sold minus returned
    units_per_order: Decimal | None
    customers: int  # identified customers with an order in the range
    returning_customers: int  # of those, had an order before the range
    returning_share: Decimal | None  # returning / customers
    new_customers: int
    omnichannel_customers: int  # bought online and offline within the range
    omnichannel_sales: Decimal  # net sales of those customers in the range
    omnichannel_sales_share: Decimal | None
    online_sales: Decimal
    online_share: Decimal | None  # online net / net


@dataclass(frozen=True)
class Summary:
    current: Kpis
    comparison: Kpis | None  # None when compare is "none"
    date_from: date
    date_to: date
    comparison_from: date | None
    comparison_to: date | None


def summary(filters: Filters) -> Summary:
    raise NotImplementedError


@dataclass(frozen=True)
class SeriesPoint:
    period: date  # first day of the bucket (day, ISO week starting Monday, or month)
    group: str  # "online"/"offline", a store code, a category name, or "all"
    value: Decimal


METRICS = ("net_sales", "gross_sales", "discounts", "refunds", "orders", "units", "customers", "average_order_value")


def timeseries(
    filters: Filters, *, metric: str = "net_sales", interval: str = "day", group_by: str | None = "channel"
) -> list[SeriesPoint]:
    """``interval``: day | week | month; ``group_by``: None | channel | store | category. Every bucket of the
    range is present (zero-filled) for every group that has data, in period order."""
    raise NotImplementedError


@dataclass(frozen=True)
class StoreRow:
    store_id: int
    code: str
    name: str
    region: str
    latitude: float | None
    longitude: float | None
    net_sales: Decimal
    gross_sales: Decimal
    refunds: Decimal
    orders: int
    units: Decimal
    average_order_value: Decimal | None
    online_fulfilled_sales: Decimal  # online orders fulfilled by this store (click-and-collect, ship-from-store)
    comparison_net_sales: Decimal | None = None
    change: Decimal | None = None  # (net - comparison) / comparison, None without a comparison base


def stores(filters: Filters) -> list[StoreRow]:
    """Every store with sales in the range (or in the comparison range), by net sales descending."""
    raise NotImplementedError


@dataclass(frozen=True)
class ProductRow:
    product_id: int
    sku: str
    name: str
    category: str
    units: Decimal
    gross_sales: Decimal
    discounts: Decimal
    refunds: Decimal
    net_sales: Decimal
    online_net_sales: Decimal
    offline_net_sales: Decimal
    rank: int


def products(filters: Filters, *, limit: int | None = 20, offset: int = 0) -> list[ProductRow]:
    """Products by net sales descending (``limit=None``: all, for reports)."""
    raise NotImplementedError


@dataclass(frozen=True)
class CategoryRow:
    category: str
    online_net_sales: Decimal
    offline_net_sales: Decimal
    net_sales: Decimal
    units: Decimal


def categories(filters: Filters) -> list[CategoryRow]:
    raise NotImplementedError


@dataclass(frozen=True)
class HourCell:
    weekday: int  # 0 = Monday, in the store's local time
    hour: int  # 0-23, local
    net_sales: Decimal
    orders: int


def hour_by_weekday(filters: Filters) -> list[HourCell]:
    """In-store (and click-and-collect) sales by the store's local hour and weekday."""
    raise NotImplementedError


@dataclass(frozen=True)
class BehaviourRow:
    behaviour: str  # "online_only" | "offline_only" | "both"
    customers: int
    net_sales: Decimal


def customer_behaviour(filters: Filters) -> list[BehaviourRow]:
    raise NotImplementedError


@dataclass(frozen=True)
class NewReturningPoint:
    period: date
    new_customers: int
    returning_customers: int


def new_vs_returning(filters: Filters, *, interval: str = "day") -> list[NewReturningPoint]:
    raise NotImplementedError


@dataclass(frozen=True)
class SummaryRow:
    """One row of the ``sales-summary`` report: a period × store × channel with every KPI."""

    period: date
    store_code: str  # "" for online sales without a store
    channel: str
    kpis: Kpis = field(repr=False)


def summary_rows(filters: Filters, *, interval: str = "day") -> list[SummaryRow]:
    raise NotImplementedError
