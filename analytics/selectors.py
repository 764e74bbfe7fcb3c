"""Every number of the dashboard, the analytics API and the reports comes from here (DESIGN.md, "What the
numbers mean"). Selectors read the rollup tables (``analytics.models``), never raw order lines, take a
``Filters`` (``analytics.filters``) and return plain dataclasses; money is ``Decimal`` in the merchant's
currency. Pages, API serializers, Plotly figure builders and report writers only format what these return.

CONTRACT (other code is written against these names and shapes; change them only together with their users).

Each selector runs a small, fixed number of queries (said in its docstring), whatever the range. Rounding:
money sums are exact; averages (``average_order_value``) are rounded to the cent, ``units_per_order`` to
0.01, shares and changes to 0.0001 (half up). Filters: ``channel`` and ``store_ids`` apply to every figure;
``category_id`` too (then money is at line level: order-level discounts belong to no category).
"""

# ruff: noqa: S608 -- SQL here is built from constant table/column names only; values are always parameters.
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction

from analytics.cache import cached
from analytics.filters import Filters, Preset
from catalog.models import Category, Product
from stores.models import Store

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")
ZERO_MONEY = Decimal("0.00")
ZERO_UNITS = Decimal("0.000")
INTERVALS = ("day", "week", "month")
GROUP_BYS = (None, "channel", "store", "category")
UNCATEGORISED = "Uncategorised"


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
    """KPIs of the range and of the comparison period. Two queries per period (sales, customers)."""
    comparison = filters.comparison()
    return Summary(
        current=_kpis(filters),
        comparison=_kpis(comparison) if comparison else None,
        date_from=filters.date_from,
        date_to=filters.date_to,
        comparison_from=comparison.date_from if comparison else None,
        comparison_to=comparison.date_to if comparison else None,
    )


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
    range is present (zero-filled) for every group that has data, in period order (then group label).
    ``group`` is "" for online sales fulfilled by no store (group_by store) and "Uncategorised" for what has no
    category. One query, plus one for store codes or category names."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    _check_interval(interval)
    if group_by not in GROUP_BYS:
        raise ValueError(f"unknown group_by {group_by!r}: use channel, store, category or none")
    group_column = {None: "'all'", "channel": "channel", "store": "store_id", "category": "category_id"}[group_by]
    category_table = group_by == "category" or filters.category_id is not None
    bucket = _bucket_sql(interval, "local_date")
    values: dict[tuple[date, object], Decimal] = {}
    if metric == "customers":
        table = "analytics_customercategoryday" if category_table else "analytics_customerday"
        where, params = _where(filters, category_table)
        sql = (
            f"SELECT {bucket}, {group_column}, count(DISTINCT customer_id) FROM {table} "
            f"WHERE {where} AND orders > 0 GROUP BY 1, 2"
        )
        for period, key, count in _fetch(sql, params):
            values[(_as_date(period), key)] = Decimal(count)
    else:
        columns = ("local_date", "channel", *SALES_COLUMNS)
        if group_by in {"store", "category"}:
            columns = ("local_date", "channel", f"{group_by}_id", *SALES_COLUMNS)
        source, params = _sales_source(
            filters, columns, by_store=group_by == "store", by_category=category_table, months=interval == "month"
        )
        sql = (
            f"SELECT {bucket}, {group_column}, sum(gross), sum(discounts), sum(refunds), sum(net), sum(units), "
            f"sum(orders) FROM {source} AS sales_rows GROUP BY 1, 2"
        )
        for row in _fetch(sql, params):
            figures = _sales_figures(row[2:])
            if metric == "average_order_value":
                value = _divide(figures.net, figures.orders, CENT) or ZERO_MONEY
            else:
                value = {
                    "gross_sales": figures.gross,
                    "discounts": figures.discounts,
                    "refunds": figures.refunds,
                    "net_sales": figures.net,
                    "units": figures.units,
                    "orders": Decimal(figures.orders),
                }[metric]
            values[(_as_date(row[0]), row[1])] = value
    labels = _group_labels(filters.merchant_id, group_by, {key for _, key in values})
    zero = ZERO_UNITS if metric == "units" else Decimal(0) if metric in {"orders", "customers"} else ZERO_MONEY
    keys = sorted(labels, key=lambda key: labels[key])
    return [
        SeriesPoint(period=period, group=labels[key], value=values.get((period, key), zero))
        for period in _periods(filters.date_from, filters.date_to, interval)
        for key in keys
    ]


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
    """Every store with sales in the range (or in the comparison range), by net sales descending. Two queries."""
    comparison = filters.comparison()
    columns = ("store_id", "channel", "gross", "refunds", "net", "units", "orders")
    current, params = _sales_source(filters, columns, by_store=True)
    # Each range from its own rows (whole months of one range need not be whole in the other): tagged 1, 2.
    source = f"SELECT 1 AS tag, * FROM {current} AS current_rows"
    if comparison:
        compared, compared_params = _sales_source(
            filters, columns, by_store=True, date_from=comparison.date_from, date_to=comparison.date_to
        )
        source += f" UNION ALL SELECT 2, * FROM {compared} AS compared_rows"
        params += compared_params
    sql = f"""
        SELECT store_id,
               sum(CASE WHEN tag = 1 THEN net ELSE 0 END), sum(CASE WHEN tag = 1 THEN gross ELSE 0 END),
               sum(CASE WHEN tag = 1 THEN refunds ELSE 0 END), sum(CASE WHEN tag = 1 THEN orders ELSE 0 END),
               sum(CASE WHEN tag = 1 THEN units ELSE 0 END),
               sum(CASE WHEN tag = 1 AND channel = 'online' THEN net ELSE 0 END),
               sum(CASE WHEN tag = 2 THEN net ELSE 0 END)
        FROM ({source}) AS store_rows
        WHERE store_id IS NOT NULL
        GROUP BY store_id
    """
    rows = _fetch(sql, params)
    info = {
        store.pk: store
        for store in Store.objects.for_merchant(filters.merchant_id).filter(pk__in=[row[0] for row in rows])
    }
    result = []
    for store_id, net, gross, refunds, orders, units, online, comparison_net in rows:
        store = info.get(store_id)
        if store is None:
            continue  # stores are never deleted; a row without its store is skipped rather than invented
        net, orders = _money(net), int(orders or 0)
        comparison_money = _money(comparison_net) if comparison else None
        result.append(
            StoreRow(
                store_id=store_id,
                code=store.code,
                name=store.name,
                region=store.region,
                latitude=float(store.latitude) if store.latitude is not None else None,
                longitude=float(store.longitude) if store.longitude is not None else None,
                net_sales=net,
                gross_sales=_money(gross),
                refunds=_money(refunds),
                orders=orders,
                units=_units(units),
                average_order_value=_divide(net, orders, CENT),
                online_fulfilled_sales=_money(online),
                comparison_net_sales=comparison_money,
                change=_divide(net - comparison_money, comparison_money, SHARE) if comparison_money else None,
            )
        )
    result.sort(key=lambda row: (-row.net_sales, row.code))
    return result


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
    """Products by net sales descending (``limit=None``: all, for reports). Two queries (one when the same page
    was read since the last refresh: ``analytics.cache``).

    Without a store restriction it reads product × month rows for the range's whole months and product × day
    rows for the days at its edges; with one, the product × store × day rows of those stores."""
    extra, extra_params = "", []
    if filters.channel:
        extra += " AND channel = %s"
        extra_params.append(filters.channel)
    if filters.category_id is not None:
        extra += " AND category_id = %s"
        extra_params.append(filters.category_id)
    columns = "product_id, channel, units, gross, discounts, refunds, net"
    params: list = []
    if filters.store_ids is not None:
        store_sql, store_params = _store_condition(filters.store_ids)
        source = (
            f"SELECT {columns} FROM analytics_productstoreday WHERE merchant_id = %s "
            f"AND local_date BETWEEN %s AND %s AND {store_sql}{extra}"
        )
        params += [filters.merchant_id, filters.date_from, filters.date_to, *store_params, *extra_params]
    else:
        day_ranges, months = _split_months(filters.date_from, filters.date_to)
        parts = []
        if day_ranges:
            ranges = " OR ".join("local_date BETWEEN %s AND %s" for _ in day_ranges)
            parts.append(f"SELECT {columns} FROM analytics_productday WHERE merchant_id = %s AND ({ranges}){extra}")
            params += [filters.merchant_id, *[day for pair in day_ranges for day in pair], *extra_params]
        if months:
            parts.append(
                f"SELECT {columns} FROM analytics_productmonth WHERE merchant_id = %s "
                f"AND month BETWEEN %s AND %s{extra}"
            )
            params += [filters.merchant_id, months[0], months[-1], *extra_params]
        source = " UNION ALL ".join(parts)
    page = ""
    if limit is not None:
        page = " LIMIT %s OFFSET %s"
        params += [limit, offset]
    elif offset:
        page = " OFFSET %s"
        params.append(offset)
    sql = f"""
        SELECT product_id, sum(units), sum(gross), sum(discounts), sum(refunds), sum(net),
               sum(CASE WHEN channel = 'online' THEN net ELSE 0 END),
               sum(CASE WHEN channel = 'offline' THEN net ELSE 0 END)
        FROM ({source}) AS product_rows
        GROUP BY product_id
        ORDER BY sum(net) DESC, product_id{page}
    """
    rows = cached(
        filters.merchant_id,
        "products",
        (_filters_key(filters), limit, offset),
        lambda: _fetch_heavy(sql, params),
        precomputed=_precomputable(filters),
    )
    info = {
        product.pk: product
        for product in Product.objects.for_merchant(filters.merchant_id)
        .filter(pk__in=[row[0] for row in rows])
        .select_related("category")
    }
    result = []
    for rank, (product_id, units, gross, discounts, refunds, net, online, offline) in enumerate(rows, offset + 1):
        product = info.get(product_id)
        result.append(
            ProductRow(
                product_id=product_id,
                sku=product.sku if product else "",
                name=product.name if product else "",
                category=product.category.name if product and product.category else "",
                units=_units(units),
                gross_sales=_money(gross),
                discounts=_money(discounts),
                refunds=_money(refunds),
                net_sales=_money(net),
                online_net_sales=_money(online),
                offline_net_sales=_money(offline),
                rank=rank,
            )
        )
    return result


@dataclass(frozen=True)
class CategoryRow:
    category: str
    online_net_sales: Decimal
    offline_net_sales: Decimal
    net_sales: Decimal
    units: Decimal


def categories(filters: Filters) -> list[CategoryRow]:
    """Categories by net sales descending. "Uncategorised" holds products without a category and what belongs
    to no product (order-level discounts, refunds without item detail), so the rows add up to the total. Two
    queries."""
    source, params = _sales_source(filters, ("category_id", "channel", "net", "units"), by_category=True)
    sql = f"""
        SELECT category_id, sum(CASE WHEN channel = 'online' THEN net ELSE 0 END),
               sum(CASE WHEN channel = 'offline' THEN net ELSE 0 END), sum(net), sum(units)
        FROM {source} AS category_rows GROUP BY category_id
    """
    rows = _fetch(sql, params)
    names = _group_labels(filters.merchant_id, "category", {row[0] for row in rows})
    result = [
        CategoryRow(
            category=names[category_id],
            online_net_sales=_money(online),
            offline_net_sales=_money(offline),
            net_sales=_money(net),
            units=_units(units),
        )
        for category_id, online, offline, net, units in rows
    ]
    result.sort(key=lambda row: (-row.net_sales, row.category))
    return result


@dataclass(frozen=True)
class HourCell:
    weekday: int  # 0 = Monday, in the store's local time
    hour: int  # 0-23, local
    net_sales: Decimal
    orders: int


def hour_by_weekday(filters: Filters) -> list[HourCell]:
    """In-store (and click-and-collect) sales by the store's local hour and weekday: all 7 × 24 cells, Monday
    0h first. One query."""
    columns = ("weekday", "hour", "net", "orders")
    if filters.store_ids is None and filters.category_id is None:  # the rows with a store, summed over them
        source, params = _day_month_source(
            filters, columns, "analytics_hourday", "analytics_hourmonth", filters.date_from, filters.date_to
        )
    else:
        category_table = filters.category_id is not None
        table = "analytics_hourcategorystoreday" if category_table else "analytics_hourstoreday"
        where, params = _where(filters, category_table)
        source = f"(SELECT {', '.join(columns)} FROM {table} WHERE {where} AND store_id IS NOT NULL)"
    sql = f"SELECT weekday, hour, sum(net), sum(orders) FROM {source} AS hour_rows GROUP BY weekday, hour"
    cells = {(weekday, hour): (_money(net), int(orders or 0)) for weekday, hour, net, orders in _fetch(sql, params)}
    empty = (ZERO_MONEY, 0)
    return [HourCell(weekday, hour, *cells.get((weekday, hour), empty)) for weekday in range(7) for hour in range(24)]


@dataclass(frozen=True)
class BehaviourRow:
    behaviour: str  # "online_only" | "offline_only" | "both"
    customers: int
    net_sales: Decimal


def customer_behaviour(filters: Filters) -> list[BehaviourRow]:
    """The range's customers by where they bought (online only, in store only, both) with their net sales in
    the range (their refunds in the range included). Always the three rows. One query."""
    figures = _customer_figures(filters).get((None, None)) or CustomerFigures()
    return [
        BehaviourRow("online_only", figures.online_only, figures.online_only_net),
        BehaviourRow("offline_only", figures.offline_only, figures.offline_only_net),
        BehaviourRow("both", figures.omnichannel, figures.omnichannel_net),
    ]


@dataclass(frozen=True)
class NewReturningPoint:
    period: date
    new_customers: int
    returning_customers: int


def new_vs_returning(filters: Filters, *, interval: str = "day") -> list[NewReturningPoint]:
    """Per bucket, its customers who had ordered before the bucket (returning: for a first bucket that starts
    before the range, before the range) and the others (new). Every bucket, zero-filled. One query."""
    _check_interval(interval)
    figures = _customer_figures(filters, interval=interval)
    points = []
    for period in _periods(filters.date_from, filters.date_to, interval):
        bucket = figures.get((period, None)) or CustomerFigures()
        points.append(NewReturningPoint(period, bucket.customers - bucket.returning, bucket.returning))
    return points


@dataclass(frozen=True)
class SummaryRow:
    """One row of the ``sales-summary`` report: a period × store × channel with every KPI."""

    period: date
    store_code: str  # "" for online sales without a store
    channel: str
    kpis: Kpis = field(repr=False)


def summary_rows(filters: Filters, *, interval: str = "day") -> list[SummaryRow]:
    """Period × store × channel rows with every KPI, for the rows that have sales (customer figures are within
    the row: nobody is omnichannel in a one-channel row). One query, ``summary_rows_sql``: the ``sales-summary``
    report streams the same SQL out with ``COPY``, so the report and this function cannot disagree."""
    sql, params = summary_rows_sql(filters, interval=interval)
    rows = []
    for period, store_code, channel, *values in _fetch_heavy(sql, params):
        if connection.vendor == "postgresql":  # exact numerics, rounded by the SQL as ``_kpis_from`` rounds
            kpis = Kpis(*values)
        else:  # SQLite (development): float sums, so the ratios are taken again in Decimal
            kpis = _kpis_from(
                _sales_figures([values[1], values[2], values[3], values[0], values[6], values[4], values[15]]),
                CustomerFigures(
                    customers=int(values[8]),
                    returning=int(values[9]),
                    omnichannel=int(values[12]),
                    omnichannel_net=_money(values[13]),
                ),
            )
        rows.append(SummaryRow(period=_as_date(period), store_code=store_code, channel=channel, kpis=kpis))
    rows.sort(key=lambda row: (row.period, row.store_code, row.channel))
    return rows


def summary_rows_sql(filters: Filters, *, interval: str = "day") -> tuple[str, list]:
    """The SQL of ``summary_rows``: ``period``, ``store_code`` ("" without a store), ``channel``, then every field
    of ``Kpis`` in its order, named as it is, each computed and rounded as ``_kpis_from`` does (money to the cent,
    ratios ``ROUND_HALF_UP`` to the cent or to ``SHARE``: PostgreSQL's ``round(numeric)`` rounds ties away from
    zero too). Not ordered: ``summary_rows`` sorts, and the report adds its own ``ORDER BY``."""
    _check_interval(interval)
    category_table = filters.category_id is not None
    table = "analytics_categorystoreday" if category_table else "analytics_storeday"
    where, sales_params = _where(filters, category_table)
    bucket = _bucket_sql(interval, "local_date")
    customers_sql, customer_params, _ = _customer_figures_sql(filters, interval=interval, by_store_channel=True)

    def ratio(numerator: str, denominator: str, places: int) -> str:
        return f"CASE WHEN {denominator} = 0 THEN NULL ELSE round({numerator} * 1.0 / {denominator}, {places}) END"

    customers = "coalesce(c.customers, 0)"
    returning = "coalesce(c.returning_customers, 0)"
    omnichannel_net = "round(coalesce(c.omnichannel_net, 0), 2)"
    kpis = {
        "net_sales": "s.net",
        "gross_sales": "s.gross",
        "discounts": "s.discounts",
        "refunds": "s.refunds",
        "orders": "s.orders",
        "average_order_value": ratio("s.net", "s.orders", 2),
        "units": "s.units",
        "units_per_order": ratio("s.units", "s.orders", 2),
        "customers": customers,
        "returning_customers": returning,
        "returning_share": ratio(returning, customers, 4),
        "new_customers": f"{customers} - {returning}",
        "omnichannel_customers": "coalesce(c.omnichannel, 0)",
        "omnichannel_sales": omnichannel_net,
        "omnichannel_sales_share": ratio(omnichannel_net, "s.net", 4),
        "online_sales": "s.online_net",
        "online_share": ratio("s.online_net", "s.net", 4),
    }
    select = ", ".join(f"{expression} AS {name}" for name, expression in kpis.items())
    if interval == "day":  # the rollup is unique on (day, store, channel) (and the one category filtered on)
        sales_sql = f"""
            SELECT local_date AS period, store_id, channel, gross, discounts, refunds, net,
                   round(units, 3) AS units, orders, CASE WHEN channel = 'online' THEN net ELSE 0.00 END AS online_net
            FROM {table} WHERE {where}
        """  # noqa: S608 - fixed identifiers; values are bound parameters
    else:
        sales_sql = f"""
            SELECT {bucket} AS period, store_id, channel, sum(gross) AS gross, sum(discounts) AS discounts,
                   sum(refunds) AS refunds, sum(net) AS net, round(sum(units), 3) AS units, sum(orders) AS orders,
                   CASE WHEN channel = 'online' THEN sum(net) ELSE 0.00 END AS online_net
            FROM {table} WHERE {where} GROUP BY 1, 2, 3
        """  # noqa: S608 - fixed identifiers; values are bound parameters
    sql = f"""
        SELECT s.period AS period, coalesce(st.code, '') AS store_code, s.channel AS channel, {select}
        FROM ({sales_sql}) AS s
        LEFT JOIN ({customers_sql}) AS c
            ON c.period = s.period AND coalesce(c.store_id, 0) = coalesce(s.store_id, 0) AND c.channel = s.channel
        LEFT JOIN stores_store AS st ON st.id = s.store_id AND st.merchant_id = %s
    """  # noqa: S608 - fixed identifiers; values are bound parameters
    return sql, [*sales_params, *customer_params, filters.merchant_id]


# --- internals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesFigures:
    gross: Decimal = ZERO_MONEY
    discounts: Decimal = ZERO_MONEY
    refunds: Decimal = ZERO_MONEY
    net: Decimal = ZERO_MONEY
    units: Decimal = ZERO_UNITS
    orders: int = 0
    online_net: Decimal = ZERO_MONEY


@dataclass(frozen=True)
class CustomerFigures:
    customers: int = 0
    returning: int = 0
    omnichannel: int = 0
    omnichannel_net: Decimal = ZERO_MONEY
    online_only: int = 0
    online_only_net: Decimal = ZERO_MONEY
    offline_only: int = 0
    offline_only_net: Decimal = ZERO_MONEY


def _kpis(filters: Filters) -> Kpis:
    source, params = _sales_source(filters, ("channel", *SALES_COLUMNS))
    sql = (
        "SELECT sum(gross), sum(discounts), sum(refunds), sum(net), sum(units), sum(orders), "
        f"sum(CASE WHEN channel = 'online' THEN net ELSE 0 END) FROM {source} AS sales_rows"
    )
    sales = _sales_figures(_fetch(sql, params)[0])
    customers = _customer_figures(filters).get((None, None)) or CustomerFigures()
    return _kpis_from(sales, customers)


def _kpis_from(sales: SalesFigures, customers: CustomerFigures) -> Kpis:
    return Kpis(
        net_sales=sales.net,
        gross_sales=sales.gross,
        discounts=sales.discounts,
        refunds=sales.refunds,
        orders=sales.orders,
        average_order_value=_divide(sales.net, sales.orders, CENT),
        units=sales.units,
        units_per_order=_divide(sales.units, sales.orders, CENT),
        customers=customers.customers,
        returning_customers=customers.returning,
        returning_share=_divide(Decimal(customers.returning), customers.customers, SHARE),
        new_customers=customers.customers - customers.returning,
        omnichannel_customers=customers.omnichannel,
        omnichannel_sales=customers.omnichannel_net,
        omnichannel_sales_share=_divide(customers.omnichannel_net, sales.net, SHARE),
        online_sales=sales.online_net,
        online_share=_divide(sales.online_net, sales.net, SHARE),
    )


def _sales_figures(row) -> SalesFigures:
    gross, discounts, refunds, net, units, orders, *online = row
    return SalesFigures(
        gross=_money(gross),
        discounts=_money(discounts),
        refunds=_money(refunds),
        net=_money(net),
        units=_units(units),
        orders=int(orders or 0),
        online_net=_money(online[0]) if online else ZERO_MONEY,
    )


def _filters_key(filters: Filters) -> tuple:
    stores = None if filters.store_ids is None else tuple(sorted(filters.store_ids))
    return (filters.date_from, filters.date_to, filters.channel, stores, filters.category_id)


def _precomputable(filters: Filters) -> bool:
    """Whether ``analytics.precompute`` may hold answers for these filters (a preset range, or its comparison,
    merchant-wide or for one store, any channel): only then is the precomputed table looked at first."""
    one_store = filters.store_ids is None or len(filters.store_ids) == 1
    return filters.preset != Preset.CUSTOM and one_store and filters.category_id is None


def _customer_figures(
    filters: Filters, *, interval: str | None = None, by_store_channel: bool = False
) -> dict[tuple[date | None, object], CustomerFigures]:
    """Distinct-customer figures, keyed by (bucket start or None, (store_id, channel) or None). One query
    (none when the same question was answered since the last refresh: ``analytics.cache``): one row per
    customer (and bucket/group) from the customer × day rollup, then counted; a customer is returning when their
    first order (``first_date`` on their rows: ``CustomerFirstOrder``, any channel or store) is before the
    bucket."""
    return cached(
        filters.merchant_id,
        "customers",
        (_filters_key(filters), interval, by_store_channel),
        lambda: _customer_figures_query(filters, interval=interval, by_store_channel=by_store_channel),
        precomputed=_precomputable(filters) and not by_store_channel,
    )


def _customer_figures_query(
    filters: Filters, *, interval: str | None, by_store_channel: bool
) -> dict[tuple[date | None, object], CustomerFigures]:
    sql, params, key_count = _customer_figures_sql(filters, interval=interval, by_store_channel=by_store_channel)
    result: dict[tuple[date | None, object], CustomerFigures] = {}
    for row in _fetch_heavy(sql, params):
        keys, values = row[:key_count], row[key_count:]
        customers = int(values[0] or 0)
        if not customers:
            continue
        period = _as_date(keys[0]) if interval else None
        group = tuple(keys[1:] if interval else keys) if by_store_channel else None
        result[(period, group)] = CustomerFigures(
            customers=customers,
            returning=int(values[1] or 0),
            omnichannel=int(values[2] or 0),
            omnichannel_net=_money(values[3]),
            online_only=int(values[4] or 0),
            online_only_net=_money(values[5]),
            offline_only=int(values[6] or 0),
            offline_only_net=_money(values[7]),
        )
    return result


CUSTOMER_FIGURE_COLUMNS = (
    "customers",
    "returning_customers",
    "omnichannel",
    "omnichannel_net",
    "online_only",
    "online_only_net",
    "offline_only",
    "offline_only_net",
)


def _customer_figures_sql(filters: Filters, *, interval: str | None, by_store_channel: bool) -> tuple[str, list, int]:
    """The distinct-customer figures' SQL: the keys (``period`` when ``interval``, ``store_id`` and ``channel`` when
    ``by_store_channel``), then ``CUSTOMER_FIGURE_COLUMNS``; with its parameters and the number of key columns."""
    category_table = filters.category_id is not None
    table = "analytics_customercategoryday" if category_table else "analytics_customerday"
    where, params = _where(filters, category_table)
    figure_names = ", ".join(CUSTOMER_FIGURE_COLUMNS)
    if interval == "day" and by_store_channel:
        # One pass: the customer rollups are unique on (day, customer, channel, store) (and category, which the
        # filter then fixes to one value), so a bucket's customers are its rows with an order: no grouping by
        # customer. Within one channel nobody is omnichannel; everyone is online-only or offline-only in it.
        sql = f"""
            SELECT period, store_id, channel, {figure_names} FROM (
                SELECT local_date AS period, store_id, channel, count(*) AS customers,
                       sum(CASE WHEN first_date >= local_date THEN 0 ELSE 1 END) AS returning_customers,
                       0 AS omnichannel, 0.00 AS omnichannel_net,
                       CASE WHEN channel = 'online' THEN count(*) ELSE 0 END AS online_only,
                       CASE WHEN channel = 'online' THEN sum(net) ELSE 0.00 END AS online_only_net,
                       CASE WHEN channel = 'online' THEN 0 ELSE count(*) END AS offline_only,
                       CASE WHEN channel = 'online' THEN 0.00 ELSE sum(net) END AS offline_only_net
                FROM {table} WHERE {where} AND orders > 0
                GROUP BY 1, 2, 3
            ) AS day_figures
        """  # noqa: S608 - fixed identifiers; values are bound parameters
        return sql, params, 3
    inner_keys, outer_keys = [], []
    if interval:
        inner_keys.append(f"{_bucket_sql(interval, 'local_date')} AS period")
        outer_keys.append("c.period")
        threshold = "CASE WHEN c.period < %s THEN %s ELSE c.period END"
        threshold_params = [filters.date_from, filters.date_from]
    else:
        threshold, threshold_params = "%s", [filters.date_from]
    if by_store_channel:
        inner_keys += ["store_id", "channel"]
        outer_keys += ["c.store_id", "c.channel"]
    inner_select = "".join(f"{key}, " for key in inner_keys)
    inner_group = ", ".join(str(n + 1) for n in range(len(inner_keys) + 1))
    outer_select = "".join(f"{key}, " for key in outer_keys)
    outer_group = f" GROUP BY {', '.join(outer_keys)}" if outer_keys else ""
    both = "c.bought_online = 1 AND c.bought_offline = 1"
    online_only = "c.bought_online = 1 AND c.bought_offline = 0"
    offline_only = "c.bought_online = 0 AND c.bought_offline = 1"
    # Returning: first order before the range, and for a bucket, before the bucket (None counts as returning,
    # as a customer without a first order row did when this was a join).
    sql = f"""
        SELECT {outer_select}count(*) AS customers,
               sum(CASE WHEN c.first_date >= {threshold} THEN 0 ELSE 1 END) AS returning_customers,
               sum(CASE WHEN {both} THEN 1 ELSE 0 END) AS omnichannel,
               sum(CASE WHEN {both} THEN c.net ELSE 0 END) AS omnichannel_net,
               sum(CASE WHEN {online_only} THEN 1 ELSE 0 END) AS online_only,
               sum(CASE WHEN {online_only} THEN c.net ELSE 0 END) AS online_only_net,
               sum(CASE WHEN {offline_only} THEN 1 ELSE 0 END) AS offline_only,
               sum(CASE WHEN {offline_only} THEN c.net ELSE 0 END) AS offline_only_net
        FROM (
            SELECT {inner_select}customer_id,
                   max(CASE WHEN channel = 'online' AND orders > 0 THEN 1 ELSE 0 END) AS bought_online,
                   max(CASE WHEN channel = 'offline' AND orders > 0 THEN 1 ELSE 0 END) AS bought_offline,
                   sum(net) AS net, max(first_date) AS first_date
            FROM {table} WHERE {where}
            GROUP BY {inner_group}
            HAVING max(orders) > 0
        ) AS c
        {outer_group}
    """  # noqa: S608 - fixed identifiers; values are bound parameters
    return sql, [*threshold_params, *params], len(outer_keys)


def _where(filters: Filters, table_has_category: bool, *, with_dates: bool = True) -> tuple[str, list]:
    """The filter conditions on a rollup table (``merchant_id``, ``local_date``, ``channel``, ``store_id``,
    ``category_id`` columns)."""
    conditions, params = ["merchant_id = %s"], [filters.merchant_id]
    if with_dates:
        conditions.append("local_date BETWEEN %s AND %s")
        params += [filters.date_from, filters.date_to]
    if filters.channel:
        conditions.append("channel = %s")
        params.append(filters.channel)
    if filters.store_ids is not None:
        store_sql, store_params = _store_condition(filters.store_ids)
        conditions.append(store_sql)
        params += store_params
    if table_has_category and filters.category_id is not None:
        conditions.append("category_id = %s")
        params.append(filters.category_id)
    return " AND ".join(conditions), params


SALES_COLUMNS = ("gross", "discounts", "refunds", "net", "units", "orders")


def _sales_source(
    filters: Filters,
    columns: tuple[str, ...],
    *,
    by_store: bool = False,
    by_category: bool = False,
    months: bool = True,
    date_from: date | None = None,
    date_to: date | None = None,
) -> tuple[str, list]:
    """A subquery of sales rows (``columns`` of the store/category day rollups: ``local_date``, ``channel``,
    ``store_id``, ``category_id`` and the sums) for the range (the filters' by default) under the filters, read
    from the coarsest grain that answers: without a store filter or grouping, the tables without the store
    (``ChannelDay``, ``CategoryDay``); and, when ``months`` (nothing buckets by day or week), the month tables
    for the range's whole months (their rows' ``local_date`` is then the first day of the month) plus the day
    rows of its edges."""
    date_from = date_from or filters.date_from
    date_to = date_to or filters.date_to
    by_category = by_category or filters.category_id is not None
    by_store = by_store or filters.store_ids is not None
    if by_store:
        day_table = "analytics_categorystoreday" if by_category else "analytics_storeday"
        month_table = None if by_category else "analytics_storemonth"
    elif by_category:
        day_table, month_table = "analytics_categoryday", "analytics_categorymonth"
    else:
        day_table, month_table = "analytics_channelday", None  # ~2 rows a day: months would not help
    return _day_month_source(filters, columns, day_table, month_table if months else None, date_from, date_to)


def _day_month_source(
    filters: Filters, columns: tuple[str, ...], day_table: str, month_table: str | None, date_from: date, date_to: date
) -> tuple[str, list]:
    where, where_params = _where(filters, "category" in day_table, with_dates=False)
    edges, months = _split_months(date_from, date_to) if month_table else ([(date_from, date_to)], [])
    parts, params = [], []
    if edges:
        ranges = " OR ".join("local_date BETWEEN %s AND %s" for _ in edges)
        parts.append(f"SELECT {', '.join(columns)} FROM {day_table} WHERE {where} AND ({ranges})")
        params += [*where_params, *[day for pair in edges for day in pair]]
    if months:
        month_columns = ", ".join("month AS local_date" if column == "local_date" else column for column in columns)
        parts.append(f"SELECT {month_columns} FROM {month_table} WHERE {where} AND month BETWEEN %s AND %s")
        params += [*where_params, months[0], months[-1]]
    return f"({' UNION ALL '.join(parts)})", params


def _store_condition(store_ids: frozenset[int]) -> tuple[str, list]:
    if not store_ids:
        return "1 = 0", []  # a store manager without stores sees nothing
    ordered = sorted(store_ids)
    return f"store_id IN ({', '.join(['%s'] * len(ordered))})", ordered


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _fetch_heavy(sql: str, params: list) -> list[tuple]:
    """A query that groups many rows (by customer, by product): with ``ANALYTICS_WORK_MEM`` and without JIT for
    this transaction on PostgreSQL, so its hash aggregate stays in memory (the server default, 4MB, makes it
    spill to disk)."""
    if connection.vendor != "postgresql":
        return _fetch(sql, params)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # No JIT either: compiling costs more than these sub-second aggregates gain from it.
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)", [settings.ANALYTICS_WORK_MEM]
        )
        cursor.execute(sql, params)
        return cursor.fetchall()


def _bucket_sql(interval: str, column: str) -> str:
    _check_interval(interval)
    if interval == "day":
        return column
    if connection.vendor == "postgresql":  # date arithmetic: date_trunc() would go through timestamptz per row
        if interval == "week":
            return f"({column} - (extract(isodow FROM {column})::int - 1))"
        return f"({column} - (extract(day FROM {column})::int - 1))"
    if interval == "month":
        return f"date({column}, 'start of month')"
    return f"date({column}, '-' || ((CAST(strftime('%%w', {column}) AS INTEGER) + 6) %% 7) || ' days')"


def _check_interval(interval: str) -> None:
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}: use one of {', '.join(INTERVALS)}")


def _bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _periods(date_from: date, date_to: date, interval: str) -> list[date]:
    periods, current = [], _bucket_start(date_from, interval)
    while current <= date_to:
        periods.append(current)
        if interval == "day":
            current += timedelta(days=1)
        elif interval == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return periods


def _split_months(date_from: date, date_to: date) -> tuple[list[tuple[date, date]], list[date]]:
    """The whole months inside [from, to] (their first days) and the day ranges left at the edges."""
    first = date_from if date_from.day == 1 else (date_from.replace(day=28) + timedelta(days=4)).replace(day=1)
    after_end = date_to + timedelta(days=1)
    end = after_end.replace(day=1)  # first day of the month after the last whole month
    if first >= end:
        return [(date_from, date_to)], []
    months = _periods(first, end - timedelta(days=1), "month")
    edges = []
    if date_from < first:
        edges.append((date_from, first - timedelta(days=1)))
    if end <= date_to:
        edges.append((end, date_to))
    return edges, months


def _group_labels(merchant_id: int, group_by: str | None, keys: set) -> dict[object, str]:
    if group_by == "store":
        codes = dict(
            Store.objects.for_merchant(merchant_id)
            .filter(pk__in=[key for key in keys if key is not None])
            .values_list("pk", "code")
        )
        return {key: codes.get(key, "") if key is not None else "" for key in keys}
    if group_by == "category":
        names = dict(
            Category.objects.for_merchant(merchant_id)
            .filter(pk__in=[key for key in keys if key is not None])
            .values_list("pk", "name")
        )
        return {key: names.get(key, UNCATEGORISED) if key is not None else UNCATEGORISED for key in keys}
    return {key: str(key) for key in keys}


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _money(value) -> Decimal:
    if value is None:
        return ZERO_MONEY
    if not isinstance(value, Decimal):  # SQLite sums are floats: development only
        value = Decimal(str(value))
    return value.quantize(CENT, ROUND_HALF_UP)


def _units(value) -> Decimal:
    if value is None:
        return ZERO_UNITS
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(Decimal("0.001"), ROUND_HALF_UP)


def _divide(numerator: Decimal, denominator, quantum: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(quantum, ROUND_HALF_UP)
