"""Upkeep of the rollup tables (``analytics.models``): incremental refresh, rebuild from scratch, check.

One code path for all three. The raw lines of the days to compute (non-cancelled orders only) are first copied,
with what every rollup needs (category, customer, local hour, money split by the DESIGN.md definitions), into
a temporary table ``nr_rollup_source``; each rollup is then one ``INSERT ... SELECT ... GROUP BY`` over it.
Order-level discounts (``Order.discounts`` minus its sale lines' discounts) enter as extra rows without a
product, on the order's day, store and channel.

- :func:`rollups_refresh` consumes the merchant's ``sales.DirtyDay`` rows (claimed by ``DELETE ... RETURNING``
  in the transaction that rewrites those days, under a per-merchant advisory lock, so concurrent refreshes
  queue up and the later ones find nothing left to do) plus the days of customers merged away since the last
  refresh. It recomputes those days from all their lines but writes only the rows that differ from the stored
  ones (a batch changes a sliver of each day it touches), then the product months and first-order days of the
  keys that changed, and the derived tables of ``DERIVED`` for those days and months (see :func:`_days_refresh`).
- :func:`rollups_rebuild` recomputes one merchant from scratch (``manage.py rebuild_rollups`` loops over them);
  :func:`rollups_rebuild_derived` only the derived tables (or the customer rows' first dates) named.
- :func:`rollups_check` recomputes into temporary tables and lists the rows that differ.

Refreshes and rebuilds replace the merchant's version in the selectors' result cache (``analytics.cache``).

PostgreSQL does everything in SQL. SQLite (the no-server development default) fills the source table from
Python (time zones) and runs the same aggregate statements; exact cents are only promised on PostgreSQL.
"""

# ruff: noqa: S608 -- SQL here is built from constant table/column names only; values are always parameters.
from __future__ import annotations

import logging
import time
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from merchants.models import Merchant
from sales.models import CustomerMerge, DirtyDay

from .cache import rollups_version_bump
from .models import RollupState

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x4A11  # first key of pg_advisory_xact_lock(int, int): "analytics rollups"; second: merchant id
MERGE_LOOKBACK = timedelta(minutes=10)  # merges committed late (long transactions) are still caught
SOURCE = "nr_rollup_source"

SOURCE_COLUMNS = """
    local_date date NOT NULL, channel varchar(8) NOT NULL, store_id bigint, product_id bigint, category_id bigint,
    customer_id bigint, order_id bigint, gross numeric(16,2) NOT NULL, discounts numeric(16,2) NOT NULL,
    refunds numeric(16,2) NOT NULL, net numeric(16,2) NOT NULL, units numeric(16,3) NOT NULL,
    weekday smallint NOT NULL, hour smallint NOT NULL
"""
SOURCE_FIELDS = (
    "local_date, channel, store_id, product_id, category_id, customer_id, order_id, gross, discounts, refunds, "
    "net, units, weekday, hour"
)

# PostgreSQL: the source rows of a set of days (``{days}`` is a condition on ``l.local_date``/``o.local_date``).
# ``order_id`` is set on sale lines only: ``count(DISTINCT order_id)`` is then "orders with a sold item".
_PG_SOURCE_LINES = """
INSERT INTO {source} ({fields})
SELECT l.local_date, l.channel, l.store_id, l.product_id, p.category_id, o.customer_id,
       CASE WHEN l.kind = 'sale' THEN l.order_id END,
       CASE WHEN l.kind = 'sale' THEN l.gross ELSE 0 END,
       CASE WHEN l.kind = 'sale' THEN l.discount ELSE 0 END,
       CASE WHEN l.kind = 'return' THEN -l.net ELSE 0 END,
       CASE WHEN l.kind = 'sale' THEN l.gross - l.discount ELSE l.net END,
       l.quantity,
       extract(isodow FROM l.occurred_at AT TIME ZONE coalesce(s.timezone, %(tz)s))::smallint - 1,
       extract(hour FROM l.occurred_at AT TIME ZONE coalesce(s.timezone, %(tz)s))::smallint
FROM sales_orderline l
JOIN sales_order o ON o.id = l.order_id
LEFT JOIN catalog_product p ON p.id = l.product_id
LEFT JOIN stores_store s ON s.id = l.store_id
WHERE l.merchant_id = %(merchant)s AND o.status <> 'cancelled' {line_days}
"""
# Order-level discounts, from the orders of those days and their sale lines' discounts already in the source
# (an order's sale lines share its local day, so they are all there).
_PG_SOURCE_ORDER_DISCOUNTS = """
INSERT INTO {source} ({fields})
SELECT o.local_date, o.channel, o.store_id, NULL, NULL, o.customer_id, NULL,
       0, o.discounts - coalesce(d.line_discounts, 0), 0, coalesce(d.line_discounts, 0) - o.discounts, 0,
       extract(isodow FROM o.placed_at AT TIME ZONE coalesce(s.timezone, %(tz)s))::smallint - 1,
       extract(hour FROM o.placed_at AT TIME ZONE coalesce(s.timezone, %(tz)s))::smallint
FROM sales_order o
LEFT JOIN (
    SELECT order_id, sum(discounts) AS line_discounts FROM {source} WHERE order_id IS NOT NULL GROUP BY order_id
) d ON d.order_id = o.id
LEFT JOIN stores_store s ON s.id = o.store_id
WHERE o.merchant_id = %(merchant)s AND o.status <> 'cancelled' AND o.discounts <> coalesce(d.line_discounts, 0)
      {order_days}
"""

_SALES_SUMS = (
    "sum(gross), sum(discounts), sum(refunds), sum(net), sum(units), count(DISTINCT order_id)",
    "gross, discounts, refunds, net, units, orders",
)
_NET_ORDERS = ("sum(net), count(DISTINCT order_id)", "net, orders")


@dataclass(frozen=True)
class Rollup:
    """One day-grain rollup table: its key columns (besides merchant) and measures, and which rows it takes."""

    table: str
    keys: tuple[str, ...]
    measures: tuple[str, str]  # (aggregate expressions over the source, target columns)
    where: str = ""
    extra_keys: tuple[tuple[str, str], ...] = field(default=())  # (target column, expression) not in GROUP BY
    first_dates: bool = False  # also ``first_date``: the customer's ``CustomerFirstOrder`` row, as it is now

    def select_sql(self) -> str:
        keys = ", ".join(self.keys)
        extra = "".join(f", max({expression})" for _, expression in self.extra_keys)
        where = f" WHERE {self.where}" if self.where else ""
        return f"SELECT %(merchant)s, {keys}{extra}, {self.measures[0]} FROM {SOURCE}{where} GROUP BY {keys}"

    @property
    def values(self) -> tuple[str, ...]:
        """The target columns that are not keys: what a refresh compares to find the rows that changed."""
        return (*(column for column, _ in self.extra_keys), *self.measures[1].split(", "))

    def columns(self) -> str:
        extra = "".join(f", {column}" for column, _ in self.extra_keys)
        return f"merchant_id, {', '.join(self.keys)}{extra}, {self.measures[1]}"

    def insert_sql(self) -> str:
        # Rows written in day order: a range read then touches few, contiguous pages.
        if self.first_dates:
            order = ", ".join(f"r.{key}" for key in self.keys)
            return (
                f"INSERT INTO {self.table} ({self.columns()}, first_date) SELECT r.*, f.first_date "
                f"FROM ({self.select_sql()}) AS r LEFT JOIN analytics_customerfirstorder f "
                f"ON f.merchant_id = %(merchant)s AND f.customer_id = r.customer_id ORDER BY {order}"
            )
        return f"INSERT INTO {self.table} ({self.columns()}) {self.select_sql()} ORDER BY {', '.join(self.keys)}"


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("analytics_storeday", ("local_date", "store_id", "channel"), _SALES_SUMS),
    Rollup("analytics_categorystoreday", ("local_date", "store_id", "channel", "category_id"), _SALES_SUMS),
    Rollup(
        "analytics_productday",
        ("local_date", "product_id", "channel"),
        _SALES_SUMS,
        "product_id IS NOT NULL",
        (("category_id", "category_id"),),
    ),
    Rollup(
        "analytics_productstoreday",
        ("local_date", "product_id", "store_id", "channel"),
        _SALES_SUMS,
        "product_id IS NOT NULL",
        (("category_id", "category_id"),),
    ),
    Rollup("analytics_hourstoreday", ("local_date", "store_id", "channel", "weekday", "hour"), _NET_ORDERS),
    Rollup(
        "analytics_hourcategorystoreday",
        ("local_date", "store_id", "channel", "weekday", "hour", "category_id"),
        _NET_ORDERS,
    ),
    Rollup(
        "analytics_customerday",
        ("local_date", "customer_id", "channel", "store_id"),
        _NET_ORDERS,
        "customer_id IS NOT NULL",
        first_dates=True,
    ),
    Rollup(
        "analytics_customercategoryday",
        ("local_date", "customer_id", "channel", "store_id", "category_id"),
        _NET_ORDERS,
        "customer_id IS NOT NULL",
        first_dates=True,
    ),
)


@dataclass(frozen=True)
class Derived:
    """A rollup summed from another rollup table (no store, or by month): rewritten from it after it, for the
    same days (or their months). ``keys[0]`` is ``local_date`` or ``month``."""

    table: str
    source: str
    keys: tuple[str, ...]
    measures: tuple[str, ...]
    where: str = ""

    @property
    def monthly(self) -> bool:
        return self.keys[0] == "month"

    def columns(self) -> str:
        return f"merchant_id, {', '.join(self.keys)}, {', '.join(self.measures)}"

    def select_sql(self, condition: str = "", source: str | None = None) -> str:
        """``condition``: more conditions on the source's ``local_date`` (" AND ..."); ``source``: another table
        with the source's columns (the check's recomputed rows)."""
        first = _month_sql("local_date") if self.monthly else "local_date"
        keys = ", ".join((first, *self.keys[1:]))
        sums = ", ".join(f"sum({measure})" for measure in self.measures)
        where = f" AND {self.where}" if self.where else ""
        return (
            f"SELECT merchant_id, {keys}, {sums} FROM {source or self.source} "
            f"WHERE merchant_id = %(merchant)s{where}{condition} GROUP BY merchant_id, {keys}"
        )

    def insert_sql(self, condition: str = "") -> str:
        return f"INSERT INTO {self.table} ({self.columns()}) {self.select_sql(condition)} ORDER BY 2"


_SALES_MEASURES = ("gross", "discounts", "refunds", "net", "units", "orders")
# In dependency order: a month table after the day table it sums.
DERIVED: tuple[Derived, ...] = (
    Derived("analytics_channelday", "analytics_storeday", ("local_date", "channel"), _SALES_MEASURES),
    Derived("analytics_storemonth", "analytics_storeday", ("month", "store_id", "channel"), _SALES_MEASURES),
    Derived(
        "analytics_categoryday", "analytics_categorystoreday", ("local_date", "channel", "category_id"), _SALES_MEASURES
    ),
    Derived("analytics_categorymonth", "analytics_categoryday", ("month", "channel", "category_id"), _SALES_MEASURES),
    Derived(
        "analytics_hourday",
        "analytics_hourstoreday",
        ("local_date", "channel", "weekday", "hour"),
        ("net", "orders"),
        "store_id IS NOT NULL",
    ),
    Derived("analytics_hourmonth", "analytics_hourday", ("month", "channel", "weekday", "hour"), ("net", "orders")),
)
DERIVED_NAMES = {derived.table.removeprefix("analytics_"): derived for derived in DERIVED}
FIRST_DATES = "first_dates"  # ``rebuild_rollups --only first_dates``: copy first orders onto the customer rows
ONLY_NAMES = (*DERIVED_NAMES, FIRST_DATES)


def _derived_rewrite(cursor, merchant_id: int, days: Sequence[date]) -> None:
    """Rewrite the derived rows of ``days`` (and of their months) from the rollups already rewritten."""
    condition, params = _in_days("local_date", days)
    params["merchant"] = merchant_id
    months = _months_of(days)
    for derived in DERIVED:
        if not derived.monthly:
            cursor.execute(f"DELETE FROM {derived.table} WHERE merchant_id = %(merchant)s {condition}", params)
            cursor.execute(derived.insert_sql(condition), params)
            continue
        for month in months:
            bounds = {"merchant": merchant_id, "start": month, "end": _month_end(month)}
            delete = f"DELETE FROM {derived.table} WHERE merchant_id = %(merchant)s AND month = %(start)s"
            cursor.execute(delete, bounds)
            cursor.execute(derived.insert_sql(" AND local_date BETWEEN %(start)s AND %(end)s"), bounds)


PRODUCT_MONTH_COLUMNS = (
    "merchant_id, month, product_id, channel, category_id, gross, discounts, refunds, net, units, orders"
)
FIRST_ORDER_COLUMNS = "merchant_id, customer_id, first_date"


def _month_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"date_trunc('month', {column})::date"
    return f"date({column}, 'start of month')"


def _month_end_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"(date_trunc('month', {column}) + interval '1 month - 1 day')::date"
    return f"date({column}, 'start of month', '+1 month', '-1 day')"


def _product_month_select(where: str) -> str:
    month = _month_sql("local_date")
    return (
        f"SELECT merchant_id, {month}, product_id, channel, max(category_id), sum(gross), sum(discounts), "
        f"sum(refunds), sum(net), sum(units), sum(orders) FROM analytics_productday "
        f"WHERE merchant_id = %(merchant)s {where} GROUP BY merchant_id, {month}, product_id, channel"
    )


FIRST_DATE_TABLES = ("analytics_customerday", "analytics_customercategoryday")
# The first order days of the customers of the source table (= of their customer × day rows with an order).
_SOURCE_FIRST_ORDERS = (
    f"SELECT customer_id, min(local_date) AS first_date FROM {SOURCE} "
    "WHERE customer_id IS NOT NULL AND order_id IS NOT NULL GROUP BY customer_id"
)


def _first_dates_copy(cursor, merchant_id: int, customers: str | None) -> None:
    """Copy ``CustomerFirstOrder.first_date`` onto the customer × day rows (of the customers selected by the
    subquery ``customers``; None: all of them, set-based)."""
    params = {"merchant": merchant_id}
    current = (
        "(SELECT f.first_date FROM analytics_customerfirstorder f "
        "WHERE f.merchant_id = %(merchant)s AND f.customer_id = {table}.customer_id)"
    )
    for table in FIRST_DATE_TABLES:
        if customers is not None:
            cursor.execute(
                f"UPDATE {table} SET first_date = {current.format(table=table)} "
                f"WHERE merchant_id = %(merchant)s AND customer_id IN ({customers})",
                params,
            )
            continue
        cursor.execute(
            f"UPDATE {table} SET first_date = f.first_date FROM analytics_customerfirstorder f "
            f"WHERE {table}.merchant_id = %(merchant)s AND f.merchant_id = %(merchant)s "
            f"AND f.customer_id = {table}.customer_id AND {table}.first_date IS DISTINCT FROM f.first_date",
            params,
        )
        cursor.execute(
            f"UPDATE {table} SET first_date = NULL WHERE merchant_id = %(merchant)s AND first_date IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM analytics_customerfirstorder f "
            f"WHERE f.merchant_id = %(merchant)s AND f.customer_id = {table}.customer_id)",
            params,
        )


def _first_order_select(where: str) -> str:
    return (
        "SELECT merchant_id, customer_id, min(local_date) FROM analytics_customerday "
        f"WHERE merchant_id = %(merchant)s AND orders > 0 {where} GROUP BY merchant_id, customer_id"
    )


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    merchant_id: int
    days: tuple[date, ...]  # the local days rewritten (dirty + those of customers merged away)
    merged_customers: int
    seconds: float
    rows_written: int = 0  # day-grain rollup rows deleted or inserted (only those that changed)


@dataclass(frozen=True)
class RebuildResult:
    merchant_id: int
    source_rows: int
    seconds: float
    steps: tuple[tuple[str, float], ...] = ()  # (step, seconds): where the time went


@dataclass(frozen=True)
class TableDifference:
    table: str
    missing: int  # rows the raw lines give that the rollup lacks (or holds with other values)
    unexpected: int  # rows the rollup holds that the raw lines do not give
    samples: tuple[str, ...]


# --- helpers ----------------------------------------------------------------------------------


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _merchant_lock(cursor, merchant_id: int) -> None:
    """Serialise refreshes and rebuilds of one merchant until the end of the transaction (PostgreSQL)."""
    if _is_postgres():
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, merchant_id])


def _in_days(column: str, days: Sequence[date] | None) -> tuple[str, dict]:
    if days is None:
        return "", {}
    if _is_postgres():
        return f" AND {column} = ANY(%(days)s)", {"days": list(days)}
    placeholders = ", ".join(f"%(day{n})s" for n in range(len(days)))
    return f" AND {column} IN ({placeholders})", {f"day{n}": day for n, day in enumerate(days)}


def _source_create(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {SOURCE}")
    cursor.execute(f"CREATE TEMPORARY TABLE {SOURCE} ({SOURCE_COLUMNS})")


def _source_drop(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {SOURCE}")


def _source_fill(cursor, merchant: Merchant, days: Sequence[date] | None) -> int:
    """Copy the source rows of ``days`` (None: every day) into the temporary table; returns how many."""
    if _is_postgres():
        line_days, params = _in_days("l.local_date", days)
        order_days, _ = _in_days("o.local_date", days)
        params |= {"merchant": merchant.pk, "tz": merchant.timezone}
        cursor.execute(_PG_SOURCE_LINES.format(source=SOURCE, fields=SOURCE_FIELDS, line_days=line_days), params)
        count = cursor.rowcount
        cursor.execute(
            _PG_SOURCE_ORDER_DISCOUNTS.format(source=SOURCE, fields=SOURCE_FIELDS, order_days=order_days), params
        )
        count += cursor.rowcount
        if days is None:  # a rebuild: the aggregates over millions of rows deserve statistics
            cursor.execute(f"ANALYZE {SOURCE}")
        return count
    rows = _python_source_rows(merchant, days)
    if rows:
        placeholders = ", ".join(["%s"] * 14)
        cursor.executemany(f"INSERT INTO {SOURCE} ({SOURCE_FIELDS}) VALUES ({placeholders})", rows)
    return len(rows)


def _python_source_rows(merchant: Merchant, days: Sequence[date] | None) -> list[tuple]:
    """The portable (SQLite) path of :func:`_source_fill`: the same rows, built in Python."""
    from sales.models import LineKind, Order, OrderLine, OrderStatus
    from stores.models import Store

    zones = {
        pk: zoneinfo.ZoneInfo(name) for pk, name in Store.objects.for_merchant(merchant).values_list("pk", "timezone")
    }
    merchant_zone = zoneinfo.ZoneInfo(merchant.timezone)

    def moment(at: datetime, store_id: int | None) -> tuple[int, int]:
        local = at.astimezone(zones.get(store_id, merchant_zone))
        return local.weekday(), local.hour

    lines = OrderLine.objects.for_merchant(merchant).exclude(order__status=OrderStatus.CANCELLED)
    orders = Order.objects.for_merchant(merchant).exclude(status=OrderStatus.CANCELLED)
    if days is not None:
        lines = lines.filter(local_date__in=days)
        orders = orders.filter(local_date__in=days)
    rows = []
    for line in lines.values(
        "local_date", "channel", "store_id", "product_id", "product__category_id", "order__customer_id", "order_id",
        "kind", "gross", "discount", "net", "quantity", "occurred_at",
    ):  # fmt: skip
        sale = line["kind"] == LineKind.SALE
        gross = line["gross"] if sale else Decimal(0)
        discount = line["discount"] if sale else Decimal(0)
        refund = Decimal(0) if sale else -line["net"]
        rows.append(
            (
                line["local_date"], line["channel"], line["store_id"], line["product_id"],
                line["product__category_id"], line["order__customer_id"], line["order_id"] if sale else None,
                gross, discount, refund, gross - discount - refund, line["quantity"],
                *moment(line["occurred_at"], line["store_id"]),
            )
        )  # fmt: skip
    line_discounts: dict[int, Decimal] = {}
    for order_id, discount in lines.filter(kind=LineKind.SALE).values_list("order_id", "discount"):
        line_discounts[order_id] = line_discounts.get(order_id, Decimal(0)) + discount
    for order in orders.values("id", "local_date", "channel", "store_id", "customer_id", "discounts", "placed_at"):
        extra = order["discounts"] - line_discounts.get(order["id"], Decimal(0))
        if extra:
            rows.append(
                (
                    order["local_date"], order["channel"], order["store_id"], None, None, order["customer_id"],
                    None, Decimal(0), extra, Decimal(0), -extra, Decimal(0),
                    *moment(order["placed_at"], order["store_id"]),
                )
            )  # fmt: skip
    return rows


def _months_of(days: Iterable[date]) -> list[date]:
    return sorted({day.replace(day=1) for day in days})


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _rollup_state(merchant_id: int) -> RollupState:
    state, _ = RollupState.objects.select_for_update().get_or_create(merchant_id=merchant_id)
    return state


# --- refresh ----------------------------------------------------------------------------------


def _cache_invalidate(merchant_id: int) -> None:
    """New cache version now (for readers inside this transaction) and again at commit (for answers computed
    from the old rows meanwhile by other sessions). Every rollup writer calls it in its transaction, which also
    writes a new version of the merchant's ``RollupState`` row (even when nothing of it changes, as in
    ``rollups_rebuild_derived``): the precompute's check that no rollup write committed since its snapshot
    (``analytics.precompute.presets_precompute``, ``FOR UPDATE`` of that row) then fails."""
    state = _rollup_state(merchant_id)
    RollupState.objects.filter(pk=state.pk).update(days_refreshed=F("days_refreshed"))
    rollups_version_bump(merchant_id)
    transaction.on_commit(lambda: rollups_version_bump(merchant_id))


def rollups_refresh(*, merchant_id: int) -> RefreshResult:
    """Rewrite the rollups of the merchant's dirty days (and of the days of customers merged away since the
    last refresh). Safe to run concurrently and repeatedly: a refresh that finds nothing to do writes nothing."""
    started = time.perf_counter()
    merchant = Merchant.objects.get(pk=merchant_id)
    with transaction.atomic(), connection.cursor() as cursor:
        _merchant_lock(cursor, merchant_id)
        state = _rollup_state(merchant_id)
        now = timezone.now()
        days = set(_dirty_days_claim(cursor, merchant_id))
        merged = _merged_customers_since(merchant_id, state.merges_checked_at)
        if merged:
            days |= _customer_days(cursor, merchant_id, merged)
        if not days:  # nothing to do, nothing written (the merges seen are looked at again next time: cheap)
            return RefreshResult(merchant_id, (), len(merged), time.perf_counter() - started)
        ordered = sorted(days)
        _cache_invalidate(merchant_id)
        if _is_postgres():
            # A few days out of years: index lookups (orders by id, rows by day) beat the full scans the planner
            # picks with the spinning-disk default random_page_cost, and JIT compiling costs more than it saves.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
            # The comparisons of recomputed and stored rows (tens of thousands a day, temporary tables without
            # statistics) are hash anti-joins; the planner's merge joins sorted both sides: 4-7x slower.
            cursor.execute("SET LOCAL enable_mergejoin = off")
        written = _days_refresh(cursor, merchant, ordered)
        state.refreshed_at = now
        state.merges_checked_at = now
        state.days_refreshed += len(ordered)
        state.save(update_fields=["refreshed_at", "merges_checked_at", "days_refreshed"])
    seconds = time.perf_counter() - started
    logger.info(
        "rollups of merchant %s: %s day(s) refreshed, %s row(s) written in %.2fs",
        merchant_id, len(ordered), written, seconds,
    )  # fmt: skip
    return RefreshResult(merchant_id, tuple(ordered), len(merged), seconds, written)


def _dirty_days_claim(cursor, merchant_id: int) -> list[date]:
    """Take the merchant's dirty days: deleted in this transaction (rolled back with it if the refresh fails;
    an ingest marking one of them again meanwhile waits for this commit, then leaves a fresh row)."""
    if _is_postgres():
        cursor.execute("DELETE FROM sales_dirtyday WHERE merchant_id = %s RETURNING local_date", [merchant_id])
        return [row[0] for row in cursor.fetchall()]
    rows = DirtyDay.objects.for_merchant(merchant_id)
    days = list(rows.values_list("local_date", flat=True))
    rows.delete()
    return days


def _merged_customers_since(merchant_id: int, since: datetime | None) -> list[int]:
    merges = CustomerMerge.objects.for_merchant(merchant_id)
    if since is not None:
        merges = merges.filter(created_at__gte=since - MERGE_LOOKBACK)
    return sorted(set(merges.values_list("merged_id", flat=True)))


def _customer_days(cursor, merchant_id: int, customer_ids: Sequence[int]) -> set[date]:
    """The days on which the rollups still hold rows of these (merged-away) customers."""
    placeholders = ", ".join(["%s"] * len(customer_ids))
    cursor.execute(
        f"SELECT DISTINCT local_date FROM analytics_customerday "
        f"WHERE merchant_id = %s AND customer_id IN ({placeholders})",
        [merchant_id, *customer_ids],
    )
    return {row[0] if isinstance(row[0], date) else date.fromisoformat(row[0]) for row in cursor.fetchall()}


def _days_refresh(cursor, merchant: Merchant, days: Sequence[date]) -> int:
    """Bring the rollups of ``days`` to what their raw lines give, writing only the rows that change; returns
    how many rows were deleted or inserted in the day-grain tables.

    A batch of 1,000 orders touches a sliver of each day it lands on (a day of a large merchant holds tens of
    thousands of product × store, customer and hour × category rows): rewriting whole days cost seconds of
    index maintenance per table. Each day-grain rollup is recomputed into a temporary table from the source (or,
    when exact, from a finer one's recomputed rows: ``_expected_select``) (all
    lines of the days, so every figure of those days is exact whatever changed: new, updated, cancelled or
    re-pointed orders, merged customers; a recategorised product marks no day, so its other days keep the old
    category until ``rebuild_rollups``), compared with the stored rows, and only the differences are
    written (``_rollup_sync``). What depends on them is then updated for the keys that changed only: the product
    months (``_product_months_sync``) and the customers' first order days (``_first_orders_sync``); the derived
    tables without the store are small and rewritten for the days and months (``_derived_rewrite``).
    """
    merchant_id = merchant.pk
    temporary = [SOURCE]
    _source_create(cursor)
    try:
        _source_fill(cursor, merchant, days)
        condition, params = _in_days("t.local_date", days)
        params["merchant"] = merchant_id
        written = 0
        for rollup in sorted(ROLLUPS, key=lambda rollup: rollup.table in _FROM_FINER):  # the finer tables first
            temporary += _sync_tables(rollup.table)
            written += _rollup_sync(cursor, rollup, condition, params)
        temporary += ["nr_rollup_product_months", "nr_rollup_ids"]
        _product_months_sync(cursor, merchant_id)
        _derived_rewrite(cursor, merchant_id, days)
        temporary += ["nr_rollup_customers", "nr_rollup_first", "nr_rollup_changed"]
        _first_orders_sync(cursor, merchant_id)
    finally:
        for table in temporary:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return written


# Key columns that may be NULL (online sales without a store, uncategorised products): compared with a
# sentinel so that the comparison stays an equality (hashable) and NULL matches NULL. Ids are positive.
_NULLABLE_IDS = frozenset({"store_id", "category_id"})


def _same(column: str) -> str:
    if column in _NULLABLE_IDS:
        return f"coalesce(t.{column}, -1) = coalesce(e.{column}, -1)"
    return f"t.{column} = e.{column}"


# Day-grain rollups whose recomputed rows are summed from those of a finer one (``nr_expected_*``) rather than
# from the source: exact when every order counted in a row of the coarser table is in exactly one row of the
# finer one. An order's sale lines share its store and channel (``OrderLine``'s denormalised fields), so the
# orders of a product × day are the sum of its product × store × day ones (34,000 rows from 75,000 instead of
# 135,000 lines, 3 days: 0.10 s instead of 0.14 s).
_FROM_FINER = {"analytics_productday": "analytics_productstoreday"}


# Day-grain rollups whose orders are counted by grouping by key and order first, then counting the groups (two
# hash aggregations) instead of ``count(DISTINCT order_id)`` (a sort of the source, then a sort per group).
# Measured on the three busiest days (135,000 lines): hour × store 0.095 -> 0.077 s, hour × category × store
# 0.20 -> 0.16 s, customer 0.09 -> 0.08 s. Not the others: the tables with five money sums lose more summing
# twice than the sort costs (2x slower), customer × category gained nothing (0.12 -> 0.12-0.14 s).
_BY_ORDER_FIRST = frozenset({"analytics_hourstoreday", "analytics_hourcategorystoreday", "analytics_customerday"})


def _expected_select(rollup: Rollup) -> str:
    """The ``SELECT`` of the recomputed rows of ``rollup`` (``rollup.columns()``) for the refresh: the same rows
    as ``rollup.select_sql()`` (which ``rollups_check`` and the rebuild keep using), computed faster."""
    finer = _FROM_FINER.get(rollup.table)
    if finer is not None:
        name = f"nr_expected_{finer.removeprefix('analytics_')}"
        keys = ", ".join(rollup.keys)
        extra = "".join(f", max({column})" for column, _ in rollup.extra_keys)
        sums = ", ".join(f"sum({column})" for column in rollup.measures[1].split(", "))
        return f"SELECT %(merchant)s, {keys}{extra}, {sums} FROM {name} GROUP BY {keys}"
    if rollup.table in _BY_ORDER_FIRST:  # measures: net sales and orders only, no extra keys
        keys = ", ".join(rollup.keys)
        where = f" WHERE {rollup.where}" if rollup.where else ""
        return (
            f"SELECT %(merchant)s, {keys}, sum(net), count(order_id) FROM (SELECT {keys}, order_id, sum(net) AS net "
            f"FROM {SOURCE}{where} GROUP BY {keys}, order_id) AS by_order GROUP BY {keys}"
        )
    return rollup.select_sql()


def _sync_tables(table: str) -> list[str]:
    """The temporary tables of :func:`_rollup_sync` for ``table``: recomputed rows, stale rows, fresh rows."""
    name = table.removeprefix("analytics_")
    return [f"nr_expected_{name}", f"nr_stale_{name}", f"nr_fresh_{name}"]


def _rollup_sync(cursor, rollup: Rollup, condition: str, params: dict) -> int:
    """Make the stored rows of the source's days (``condition`` on ``t.local_date``) equal to the rows the source
    gives: delete the stored rows the recomputation does not give as they are (``nr_stale_*``: id and key),
    insert the recomputed rows whose key is then missing (``nr_fresh_*``). The result is the same as deleting
    the days and inserting them again, for a fraction of the writes. Returns the number of rows written."""
    expected, stale, fresh = _sync_tables(rollup.table)
    table = rollup.table
    keys = ", ".join(rollup.keys)
    same_key = " AND ".join(_same(column) for column in rollup.keys)
    same_row = " AND ".join(_same(column) for column in (*rollup.keys, *rollup.values))
    for temporary in (expected, stale, fresh):
        cursor.execute(f"DROP TABLE IF EXISTS {temporary}")
    cursor.execute(f"CREATE TEMPORARY TABLE {expected} AS SELECT {rollup.columns()} FROM {table} WHERE 1 = 0")
    cursor.execute(f"INSERT INTO {expected} ({rollup.columns()}) {_expected_select(rollup)}", params)
    cursor.execute(f"CREATE TEMPORARY TABLE {stale} AS SELECT id, {keys} FROM {table} WHERE 1 = 0")
    stored_keys = ", ".join(f"t.{column}" for column in rollup.keys)
    cursor.execute(
        f"INSERT INTO {stale} (id, {keys}) SELECT t.id, {stored_keys} FROM {table} t "
        f"WHERE t.merchant_id = %(merchant)s {condition} "
        f"AND NOT EXISTS (SELECT 1 FROM {expected} e WHERE {same_row})",
        params,
    )
    deleted = max(cursor.rowcount, 0)
    if deleted:
        cursor.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {stale})")
    cursor.execute(f"CREATE TEMPORARY TABLE {fresh} AS SELECT * FROM {expected} WHERE 1 = 0")
    if _is_postgres():  # a hash anti-join: the planner's index lookup per recomputed row took 2-3x longer
        cursor.execute("SET LOCAL enable_nestloop = off")
    cursor.execute(
        f"INSERT INTO {fresh} SELECT e.* FROM {expected} e WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} t WHERE t.merchant_id = %(merchant)s {condition} AND {same_key})",
        params,
    )
    inserted = max(cursor.rowcount, 0)
    if _is_postgres():
        cursor.execute("SET LOCAL enable_nestloop = on")
    if inserted and rollup.first_dates:
        # With the customer's first order day as it is now; :func:`_first_orders_sync` updates the rows of the
        # customers whose first order day this refresh changes.
        cursor.execute(
            f"INSERT INTO {table} ({rollup.columns()}, first_date) SELECT r.*, f.first_date FROM {fresh} r "
            "LEFT JOIN analytics_customerfirstorder f "
            "ON f.merchant_id = %(merchant)s AND f.customer_id = r.customer_id",
            params,
        )
    elif inserted:
        cursor.execute(f"INSERT INTO {table} ({rollup.columns()}) SELECT * FROM {fresh}")
    return deleted + inserted


def _product_months_sync(cursor, merchant_id: int) -> None:
    """Recompute the product × month rows of the (month, product, channel) keys whose product × day rows the
    refresh changed (``nr_stale_productday``/``nr_fresh_productday``), from the product × day rows."""
    params = {"merchant": merchant_id}
    month = _month_sql("local_date")
    cursor.execute("DROP TABLE IF EXISTS nr_rollup_product_months")
    cursor.execute(
        "CREATE TEMPORARY TABLE nr_rollup_product_months "
        "(month date NOT NULL, month_end date NOT NULL, product_id bigint NOT NULL, channel varchar(8) NOT NULL)"
    )
    cursor.execute(
        f"INSERT INTO nr_rollup_product_months (month, month_end, product_id, channel) "
        f"SELECT DISTINCT {month}, {_month_end_sql('local_date')}, product_id, channel FROM ("
        "SELECT local_date, product_id, channel FROM nr_stale_productday "
        "UNION ALL SELECT local_date, product_id, channel FROM nr_fresh_productday) AS changed"
    )
    if not cursor.rowcount:
        return
    cursor.execute("DROP TABLE IF EXISTS nr_rollup_ids")
    cursor.execute("CREATE TEMPORARY TABLE nr_rollup_ids (id bigint NOT NULL)")
    cursor.execute(
        "INSERT INTO nr_rollup_ids (id) SELECT m.id FROM nr_rollup_product_months c "
        "JOIN analytics_productmonth m ON m.merchant_id = %(merchant)s AND m.month = c.month "
        "AND m.product_id = c.product_id AND m.channel = c.channel",
        params,
    )
    if cursor.rowcount:
        cursor.execute("DELETE FROM analytics_productmonth WHERE id IN (SELECT id FROM nr_rollup_ids)")
    cursor.execute(
        f"INSERT INTO analytics_productmonth ({PRODUCT_MONTH_COLUMNS}) "
        "SELECT d.merchant_id, c.month, d.product_id, d.channel, max(d.category_id), sum(d.gross), "
        "sum(d.discounts), sum(d.refunds), sum(d.net), sum(d.units), sum(d.orders) "
        "FROM nr_rollup_product_months c JOIN analytics_productday d "
        "ON d.merchant_id = %(merchant)s AND d.product_id = c.product_id AND d.channel = c.channel "
        "AND d.local_date >= c.month AND d.local_date <= c.month_end "
        "GROUP BY d.merchant_id, c.month, d.product_id, d.channel",
        params,
    )


def _first_orders_sync(cursor, merchant_id: int) -> None:
    """Recompute the first order day of the customers whose customer × day rows the refresh changed (no other
    customer's can move), and copy it onto every row of those whose first order day did change (new customers,
    earlier or later first orders, customers merged away or left without an order: None)."""
    params = {"merchant": merchant_id}
    for table in ("nr_rollup_customers", "nr_rollup_first", "nr_rollup_changed"):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute("CREATE TEMPORARY TABLE nr_rollup_customers (customer_id bigint NOT NULL, first_date date)")
    cursor.execute(
        "INSERT INTO nr_rollup_customers (customer_id, first_date) SELECT c.customer_id, f.first_date FROM ("
        "SELECT customer_id FROM nr_stale_customerday UNION SELECT customer_id FROM nr_fresh_customerday) AS c "
        "LEFT JOIN analytics_customerfirstorder f ON f.merchant_id = %(merchant)s AND f.customer_id = c.customer_id",
        params,
    )
    if not cursor.rowcount:
        return
    cursor.execute("CREATE TEMPORARY TABLE nr_rollup_first (customer_id bigint NOT NULL, first_date date NOT NULL)")
    cursor.execute(
        "INSERT INTO nr_rollup_first (customer_id, first_date) SELECT customer_id, min(local_date) "
        "FROM analytics_customerday WHERE merchant_id = %(merchant)s AND orders > 0 "
        "AND customer_id IN (SELECT customer_id FROM nr_rollup_customers) GROUP BY customer_id",
        params,
    )
    cursor.execute("CREATE TEMPORARY TABLE nr_rollup_changed (customer_id bigint NOT NULL)")
    cursor.execute(
        "INSERT INTO nr_rollup_changed (customer_id) SELECT c.customer_id FROM nr_rollup_customers c "
        "LEFT JOIN nr_rollup_first n ON n.customer_id = c.customer_id "
        "WHERE (n.first_date IS NULL) <> (c.first_date IS NULL) OR n.first_date <> c.first_date"
    )
    if not cursor.rowcount:
        return
    changed = "SELECT customer_id FROM nr_rollup_changed"
    cursor.execute(
        f"DELETE FROM analytics_customerfirstorder WHERE merchant_id = %(merchant)s AND customer_id IN ({changed})",
        params,
    )
    cursor.execute(
        f"INSERT INTO analytics_customerfirstorder ({FIRST_ORDER_COLUMNS}) SELECT %(merchant)s, customer_id, "
        f"first_date FROM nr_rollup_first WHERE customer_id IN ({changed})",
        params,
    )
    _first_dates_copy(cursor, merchant_id, changed)


# --- rebuild ----------------------------------------------------------------------------------


ALL_TABLES = (
    *(rollup.table for rollup in ROLLUPS),
    "analytics_productmonth",
    "analytics_customerfirstorder",
    *(derived.table for derived in DERIVED),
)


def rollups_rebuild(*, merchant_id: int) -> RebuildResult:
    """Recompute every rollup of the merchant from its raw lines (one ``INSERT ... SELECT`` per table); its
    pending dirty days are consumed."""
    started = time.perf_counter()
    merchant = Merchant.objects.get(pk=merchant_id)
    with transaction.atomic(), connection.cursor() as cursor:
        _merchant_lock(cursor, merchant_id)
        if _is_postgres():
            # Whole-history statements: minutes at 10M lines, beyond DB_STATEMENT_TIMEOUT_MS (meant for requests).
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SET LOCAL work_mem = '256MB'")
        state = _rollup_state(merchant_id)
        now = timezone.now()
        _cache_invalidate(merchant_id)
        DirtyDay.objects.for_merchant(merchant_id).delete()
        params = {"merchant": merchant_id}
        steps: list[tuple[str, float]] = []
        mark = time.perf_counter()

        def step(name: str) -> None:
            nonlocal mark
            steps.append((name, round(time.perf_counter() - mark, 2)))
            mark = time.perf_counter()

        for table in ALL_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE merchant_id = %(merchant)s", params)
        step("delete")
        _source_create(cursor)
        try:
            rows = _source_fill(cursor, merchant, None)
            step("source")
            # First, from the source (the same days as ``_first_order_select`` over the customer rows): the
            # customer rollups copy each customer's first order day as they are written.
            cursor.execute(
                # In first-order order: "the new customers since D" is then a contiguous range of the table.
                f"INSERT INTO analytics_customerfirstorder ({FIRST_ORDER_COLUMNS}) "
                f"SELECT %(merchant)s, customer_id, first_date FROM ({_SOURCE_FIRST_ORDERS}) AS s ORDER BY 3",
                params,
            )
            step("analytics_customerfirstorder")
            for rollup in ROLLUPS:
                cursor.execute(rollup.insert_sql(), params)
                step(rollup.table)
        finally:
            _source_drop(cursor)
        cursor.execute(
            f"INSERT INTO analytics_productmonth ({PRODUCT_MONTH_COLUMNS}) {_product_month_select('')}", params
        )
        step("analytics_productmonth")
        for derived in DERIVED:
            cursor.execute(derived.insert_sql(), params)
            step(derived.table)
        if _is_postgres():
            for table in ALL_TABLES:
                cursor.execute(f"ANALYZE {table}")
            step("analyze")
        state.rebuilt_at = state.refreshed_at = state.merges_checked_at = now
        state.save(update_fields=["rebuilt_at", "refreshed_at", "merges_checked_at"])
    seconds = time.perf_counter() - started
    logger.info("rollups of merchant %s rebuilt from %s source rows in %.1fs", merchant_id, rows, seconds)
    return RebuildResult(merchant_id, rows, seconds, tuple(steps))


def rollups_rebuild_derived(*, merchant_id: int, names: Sequence[str]) -> RebuildResult:
    """Recompute only the derived tables named (``DERIVED_NAMES``: "channelday", "storemonth", ...) from the
    rollups they sum, which must be up to date: seconds where a full rebuild takes many minutes (a new derived
    table, or one found wrong by the check). Pending dirty days are left to the next refresh."""
    unknown = sorted(set(names) - set(ONLY_NAMES))
    if unknown:
        raise ValueError(f"unknown derived table(s) {', '.join(unknown)}: use {', '.join(ONLY_NAMES)}")
    started = time.perf_counter()
    steps: list[tuple[str, float]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        _merchant_lock(cursor, merchant_id)
        if _is_postgres():
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SET LOCAL work_mem = '256MB'")
        _cache_invalidate(merchant_id)
        params = {"merchant": merchant_id}
        for derived in DERIVED:  # dependency order, whatever the order of ``names``
            if derived.table.removeprefix("analytics_") not in names:
                continue
            mark = time.perf_counter()
            cursor.execute(f"DELETE FROM {derived.table} WHERE merchant_id = %(merchant)s", params)
            cursor.execute(derived.insert_sql(), params)
            if _is_postgres():
                cursor.execute(f"ANALYZE {derived.table}")
            steps.append((derived.table, round(time.perf_counter() - mark, 2)))
        if FIRST_DATES in names:
            mark = time.perf_counter()
            _first_dates_copy(cursor, merchant_id, None)
            if _is_postgres():
                for table in FIRST_DATE_TABLES:
                    cursor.execute(f"ANALYZE {table}")
            steps.append((FIRST_DATES, round(time.perf_counter() - mark, 2)))
    return RebuildResult(merchant_id, 0, time.perf_counter() - started, tuple(steps))


# --- check ------------------------------------------------------------------------------------


_SUMMED_COLUMNS = frozenset(("gross", "discounts", "refunds", "net", "units"))


def _float_tolerant(columns: str, query: str) -> str:
    """SQLite (development) sums money and units as floats, in whatever order a query adds them: compare them
    rounded to the 3 decimals they have (else 254.47 and 254.47000000000003 would differ)."""
    rounded = ", ".join(
        f"round({name}, 3) AS {name}" if name in _SUMMED_COLUMNS else name for name in columns.split(", ")
    )
    # The query's own output names may differ from ``columns`` (a constant merchant id): name them.
    return f"SELECT * FROM (WITH float_rows({columns}) AS ({query}) SELECT {rounded} FROM float_rows)"  # noqa: S608


def rollups_check(*, merchant_id: int, samples: int = 5) -> list[TableDifference]:
    """Recompute every rollup of the merchant from raw lines (in temporary tables, nothing is written) and
    compare with the stored rows. An empty list means they agree exactly."""
    merchant = Merchant.objects.get(pk=merchant_id)
    differences: list[TableDifference] = []
    params = {"merchant": merchant_id}
    with transaction.atomic(), connection.cursor() as cursor:
        if _is_postgres():
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SET LOCAL work_mem = '256MB'")
        _source_create(cursor)
        try:
            _source_fill(cursor, merchant, None)
            checks = [(rollup.table, rollup.columns(), rollup.select_sql()) for rollup in ROLLUPS]
            # The derived tables, from a recomputed product × day / customer × day.
            materialised = {"analytics_productday", *FIRST_DATE_TABLES} | {d.source for d in DERIVED}
            for rollup in ROLLUPS:
                if rollup.table in materialised:
                    expected = f"nr_expected_{rollup.table}"
                    cursor.execute(f"DROP TABLE IF EXISTS {expected}")
                    cursor.execute(
                        f"CREATE TEMPORARY TABLE {expected} AS "
                        f"SELECT {rollup.columns()} FROM {rollup.table} WHERE 1 = 0"
                    )
                    cursor.execute(f"INSERT INTO {expected} ({rollup.columns()}) {rollup.select_sql()}", params)
            checks.append(
                (
                    "analytics_productmonth",
                    PRODUCT_MONTH_COLUMNS,
                    _product_month_select("").replace("analytics_productday", "nr_expected_analytics_productday"),
                )
            )
            checks.append(
                (
                    "analytics_customerfirstorder",
                    FIRST_ORDER_COLUMNS,
                    _first_order_select("").replace("analytics_customerday", "nr_expected_analytics_customerday"),
                )
            )
            for derived in DERIVED:  # from the recomputed rows they sum (in dependency order)
                select = derived.select_sql(source=f"nr_expected_{derived.source}")
                expected = f"nr_expected_{derived.table}"
                cursor.execute(f"DROP TABLE IF EXISTS {expected}")
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {expected} AS SELECT {derived.columns()} FROM {derived.table} WHERE 1 = 0"
                )
                cursor.execute(f"INSERT INTO {expected} ({derived.columns()}) {select}", params)
                checks.append((derived.table, derived.columns(), select))
            # Every customer row carries its customer's first order day (None without an order).
            expected_first = (
                "SELECT customer_id, min(CASE WHEN orders > 0 THEN local_date END) AS first_date "
                "FROM nr_expected_analytics_customerday GROUP BY customer_id"
            )
            for table in FIRST_DATE_TABLES:
                checks.append(
                    (
                        f"{table} (first_date)",
                        "customer_id, first_date",
                        f"SELECT DISTINCT e.customer_id, e.first_date FROM ({expected_first}) AS e "
                        f"WHERE e.customer_id IN (SELECT customer_id FROM nr_expected_{table})",
                    )
                )
            for table, columns, select in checks:
                stored = f"SELECT {columns} FROM {table} WHERE merchant_id = %(merchant)s"
                if table.endswith(" (first_date)"):
                    stored = f"SELECT DISTINCT {columns} FROM {table.split()[0]} WHERE merchant_id = %(merchant)s"
                if connection.vendor != "postgresql":
                    select, stored = _float_tolerant(columns, select), _float_tolerant(columns, stored)
                cursor.execute(f"SELECT count(*) FROM ({select} EXCEPT {stored}) AS missing", params)
                missing = cursor.fetchone()[0]
                cursor.execute(f"SELECT count(*) FROM ({stored} EXCEPT {select}) AS unexpected", params)
                unexpected = cursor.fetchone()[0]
                if missing or unexpected:
                    found: list[str] = []
                    for label, query in (
                        ("expected", f"{select} EXCEPT {stored}"),
                        ("stored", f"{stored} EXCEPT {select}"),
                    ):
                        cursor.execute(f"SELECT * FROM ({query}) AS rows LIMIT {int(samples)}", params)
                        names = columns.split(", ")
                        found += [
                            f"{label}: " + " ".join(f"{name}={value}" for name, value in zip(names, row, strict=False))
                            for row in cursor.fetchall()
                        ]
                    differences.append(TableDifference(table, missing, unexpected, tuple(found)))
        finally:
            expected_tables = {rollup.table for rollup in ROLLUPS} | {derived.table for derived in DERIVED}
            for table in sorted(expected_tables):
                cursor.execute(f"DROP TABLE IF EXISTS nr_expected_{table}")
            _source_drop(cursor)
    return differences
