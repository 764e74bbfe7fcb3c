"""The report catalogue: what each kind takes, its columns, and how its rows are read.

Two shapes of export:
- :class:`SqlExport` (``order-lines``, ``import-errors``, ``customers``): SQL run on the export's own
  REPEATABLE READ connection. CSV comes straight out of PostgreSQL with ``COPY (...) TO STDOUT`` (text columns
  neutralised in SQL; in a worker, read by ``psql`` processes on the same snapshot: ``services._copy_parallel``);
  XLSX rows are rendered by PostgreSQL too (``writers.XlsxStreamWriter``). Big ones are cut into chunks
  (``order-lines``: ranges of order ids of about ``REPORTS_CHUNK_ROWS`` lines, in (order, line) order, so a
  re-run writes the same bytes), and between chunks the job's progress is saved and its cancel flag read.
- :class:`RowsExport` (``sales-summary``, ``product-performance``, ``store-performance``): the dashboard's own
  selectors (``analytics.selectors``) with the same ``Filters``, so every total matches the dashboard.

``resolve_params`` turns a request's ``params`` (the dashboard's query keys) into ``resolved`` ids once, when the
job is created; the worker reads only ``resolved``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError

from analytics.filters import Compare, Filters
from merchants.models import Role
from merchants.tenancy import Tenant

from .models import ReportKind
from .writers import DATE, DATETIME, INTEGER, MONEY, NUMBER, PERCENT, TEXT, Column, sql_text_safe, sql_xlsx_row

INTERVALS = ("day", "week", "month")
CHANNELS = ("online", "offline")
FILTER_KINDS = frozenset(
    {
        ReportKind.SALES_SUMMARY,
        ReportKind.PRODUCT_PERFORMANCE,
        ReportKind.STORE_PERFORMANCE,
        ReportKind.CUSTOMERS,
        ReportKind.ORDER_LINES,
    }
)
DESCRIPTIONS = {
    ReportKind.SALES_SUMMARY: "Every dashboard KPI by day, week or month × store × channel.",
    ReportKind.PRODUCT_PERFORMANCE: "Per product: units, gross, discounts, refunds, net, online vs in store, rank.",
    ReportKind.STORE_PERFORMANCE: "Per store: the KPIs, the comparison period and the change.",
    ReportKind.CUSTOMERS: "Per identified customer: orders and net sales online and in store, first and last order, "
    "online-only / in-store-only / both.",
    ReportKind.ORDER_LINES: "Every order line with its order's fields, for warehouses and accountants (CSV for "
    "more than 3 million rows).",
    ReportKind.IMPORT_ERRORS: "The row-level errors of one sales import.",
}


# --- parameters ----------------------------------------------------------------------------------


def _as_list(value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(item).strip() for item in value if str(item).strip()]


def clean_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters as stored and shown: only the keys the kind takes, empty ones left out."""
    keys = ["import_job"] if kind == ReportKind.IMPORT_ERRORS else ["from", "to", "preset", "channel", "store"]
    if kind != ReportKind.IMPORT_ERRORS:
        keys += ["region", "category", "compare"]
    if kind == ReportKind.SALES_SUMMARY:
        keys.append("interval")
    cleaned: dict[str, Any] = {}
    for key in keys:
        value = params.get(key)
        if key == "store":
            value = _as_list(value)
        elif isinstance(value, list):
            value = value[-1] if value else None
        if value not in (None, "", []):
            cleaned[key] = value if key == "store" else str(value).strip()
    return cleaned


def _filters(tenant: Tenant, params: dict[str, Any], today: date | None) -> Filters:
    """The dashboard's filter parser (``analytics.filters.filters_from_params``), errors as a ValidationError."""
    from analytics import filters as analytics_filters

    try:
        return analytics_filters.filters_from_params(tenant, params, today=today)
    except analytics_filters.FilterError as error:
        raise ValidationError(error.errors) from None


def resolve_params(tenant: Tenant, kind: str, params: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """Validate ``params`` for ``kind`` and turn them into ids (raises ValidationError field → message)."""
    if kind not in ReportKind.values:
        raise ValidationError({"kind": f"Unknown report {kind!r}: use one of {', '.join(ReportKind.values)}."})
    if kind == ReportKind.IMPORT_ERRORS:
        from sales.models import ImportJob

        raw = params.get("import_job")
        try:
            import_job_id = int(raw)
        except (TypeError, ValueError):
            raise ValidationError({"import_job": "Give the number of the import whose errors you want."}) from None
        if not tenant.scope(ImportJob).filter(pk=import_job_id).exists():
            raise ValidationError({"import_job": f"There is no import #{import_job_id}."})
        store_ids = sorted(tenant.store_ids) if tenant.store_ids is not None else None
        return {"import_job_id": import_job_id, "store_ids": store_ids}
    filters = _filters(tenant, params, today)
    if tenant.store_ids is not None and params.get("store"):
        from stores.models import Store
        from stores.validation import normalize_store_code

        codes = [normalize_store_code(code) for code in _as_list(params["store"])]
        outside = sorted(
            Store.objects.for_merchant(tenant.merchant)
            .filter(code__in=codes)
            .exclude(pk__in=tenant.store_ids)
            .values_list("code", flat=True)
        )
        if outside:
            raise ValidationError(
                {"store": f"You can only order reports on your own stores, not {', '.join(outside)}."}
            )
    interval = str(params.get("interval") or "day")
    if kind == ReportKind.SALES_SUMMARY and interval not in INTERVALS:
        raise ValidationError({"interval": f"Use one of {', '.join(INTERVALS)}."})
    return {
        "date_from": filters.date_from.isoformat(),
        "date_to": filters.date_to.isoformat(),
        "channel": filters.channel,
        "store_ids": sorted(filters.store_ids) if filters.store_ids is not None else None,
        "category_id": filters.category_id,
        "compare": str(filters.compare),
        "interval": interval if kind == ReportKind.SALES_SUMMARY else None,
        # Names and e-mails of customers: for the roles that see people (not store managers, not API keys).
        "personal_data": kind == ReportKind.CUSTOMERS and tenant.role in (Role.OWNER, Role.ADMIN, Role.ANALYST),
    }


def filters_from_resolved(merchant_id: int, resolved: dict[str, Any]) -> Filters:
    store_ids = resolved.get("store_ids")
    return Filters(
        merchant_id=merchant_id,
        date_from=date.fromisoformat(resolved["date_from"]),
        date_to=date.fromisoformat(resolved["date_to"]),
        channel=resolved.get("channel"),
        store_ids=frozenset(store_ids) if store_ids is not None else None,
        category_id=resolved.get("category_id"),
        compare=Compare(resolved.get("compare") or Compare.NONE),
    )


# --- exports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    merchant_id: int
    merchant_timezone: str
    currency: str
    resolved: dict[str, Any]
    chunk_rows: int

    @property
    def filters(self) -> Filters:
        return filters_from_resolved(self.merchant_id, self.resolved)


@dataclass(frozen=True)
class SqlColumn:
    name: str
    type: str
    expression: str
    # For COPY (CSV): an expression already neutralised (e.g. computed once per product in a CTE) instead of
    # ``sql_text_safe(expression)`` per row.
    csv_expression: str | None = None


class SqlExport:
    """A report read by SQL. ``plan`` returns (rows expected or None, chunk parameters); ``query`` the SQL."""

    sql_columns: list[SqlColumn] = []
    # ``SET LOCAL`` planner settings for the export's queries (on its snapshot connection and every ``psql``).
    session_settings: tuple[str, ...] = ()

    def sql_columns_for(self, ctx: Context) -> list[SqlColumn]:
        return self.sql_columns

    def columns(self, ctx: Context) -> list[Column]:
        return [Column(column.name, column.type) for column in self.sql_columns_for(ctx)]

    def select_list(self, ctx: Context, *, for_copy: bool, styles: dict | None = None) -> str:
        if styles is not None:  # one column: the row's XLSX XML (see writers.XlsxStreamWriter)
            columns = [(column.expression, column.type) for column in self.sql_columns_for(ctx)]
            return f"{sql_xlsx_row(columns, styles)} AS row_xml"
        parts = []
        for column in self.sql_columns_for(ctx):
            expression = column.expression
            if for_copy and column.type == TEXT:
                expression = column.csv_expression or sql_text_safe(expression)
            elif not for_copy and column.type in (NUMBER, MONEY, PERCENT):
                expression = f"({expression})::float8"  # XLSX numbers are doubles anyway: skip Decimal
            parts.append(f"{expression} AS {column.name}")
        return ", ".join(parts)

    def plan(self, cursor, ctx: Context) -> tuple[int | None, list[dict]]:
        raise NotImplementedError

    def query(self, ctx: Context, chunk: dict, *, for_copy: bool, styles: dict | None = None) -> tuple[str, dict]:
        raise NotImplementedError


def _line_filters(ctx: Context, alias: str = "l") -> tuple[str, dict]:
    resolved = ctx.resolved
    where = [
        f"{alias}.merchant_id = %(merchant_id)s",
        f"{alias}.local_date BETWEEN %(date_from)s AND %(date_to)s",
    ]
    params: dict[str, Any] = {
        "merchant_id": ctx.merchant_id,
        "date_from": date.fromisoformat(resolved["date_from"]),
        "date_to": date.fromisoformat(resolved["date_to"]),
    }
    if resolved.get("channel"):
        where.append(f"{alias}.channel = %(channel)s")
        params["channel"] = resolved["channel"]
    if resolved.get("store_ids") is not None:
        where.append(f"{alias}.store_id = ANY(%(store_ids)s)")
        params["store_ids"] = list(resolved["store_ids"])
    if resolved.get("category_id"):
        where.append(
            f"EXISTS (SELECT 1 FROM catalog_product cp WHERE cp.id = {alias}.product_id "  # noqa: S608 - fixed identifiers; values are bound parameters
            "AND cp.category_id = %(category_id)s)"
        )
        params["category_id"] = resolved["category_id"]
    return " AND ".join(where), params


class OrderLinesExport(SqlExport):
    """Every line with its order's fields, in chunks of order ids, in (order, line) order.

    The small tables are read once per chunk into two materialised CTEs: ``st`` (the merchant's stores: code, time
    zone) and ``pr`` (its products with their category), their text already neutralised for CSV, so a line costs
    two hash probes and no per-row CASE on those columns. The line and order ranges are merge-joined on the order id.
    """

    sql_columns = [
        SqlColumn("order_source", TEXT, "o.source"),
        SqlColumn("order_external_id", TEXT, "o.external_id"),
        SqlColumn("order_status", TEXT, "o.status"),
        SqlColumn("channel", TEXT, "l.channel"),
        SqlColumn("store_code", TEXT, "st.code", "st.code_csv"),
        SqlColumn("local_date", DATE, "l.local_date"),
        SqlColumn(
            "local_time",
            DATETIME,
            "(l.occurred_at AT TIME ZONE (CASE WHEN l.channel = 'offline' AND st.timezone IS NOT NULL "
            "THEN st.timezone ELSE %(merchant_timezone)s END))::timestamp(0)",
        ),
        SqlColumn("line_number", INTEGER, "l.line_number"),
        SqlColumn("line_kind", TEXT, "l.kind"),
        SqlColumn("sku", TEXT, "pr.sku", "pr.sku_csv"),
        SqlColumn("product_name", TEXT, "pr.name", "pr.name_csv"),
        SqlColumn("category", TEXT, "pr.category", "pr.category_csv"),
        SqlColumn("quantity", NUMBER, "l.quantity"),
        SqlColumn("unit_price", MONEY, "l.unit_price"),
        SqlColumn("gross", MONEY, "l.gross"),
        SqlColumn("discount", MONEY, "l.discount"),
        SqlColumn("net", MONEY, "l.net"),
        SqlColumn("customer_key", INTEGER, "o.customer_id"),
    ]
    # The two order-id ranges make the planner expect ~40x too few rows (the ranges' selectivities multiply):
    # it then picks merge joins that sort the whole chunk by product id. Hash joins on a chunk: ~1.5x faster.
    # A chunk's sort (~250,000 wide rows) and its order hash table fit in memory with this: at the server's
    # default 4MB the sort spilled ~40MB to disk and the hash went to two batches (~20% slower per chunk).
    session_settings = ("enable_mergejoin = off", "work_mem = '256MB'")

    def plan(self, cursor, ctx: Context) -> tuple[int | None, list[dict]]:
        where, params = _line_filters(ctx)
        sql = f"SELECT count(*), min(l.order_id), max(l.order_id) FROM sales_orderline l WHERE {where}"  # noqa: S608
        cursor.execute(sql, params)
        count, low, high = cursor.fetchone()
        if not count:
            return 0, []
        chunks = max(1, math.ceil(count / ctx.chunk_rows))
        step = max(1, math.ceil((high - low + 1) / chunks))
        return count, [{"low": start, "high": min(high, start + step - 1)} for start in range(low, high + 1, step)]

    def query(self, ctx: Context, chunk: dict, *, for_copy: bool, styles: dict | None = None) -> tuple[str, dict]:
        where, params = _line_filters(ctx)
        params.update(chunk, merchant_timezone=ctx.merchant_timezone)
        sql = (
            "WITH st AS MATERIALIZED ("  # noqa: S608 - fixed identifiers; values are bound parameters
            f"SELECT s.id, s.code, {sql_text_safe('s.code')} AS code_csv, s.timezone "
            "FROM stores_store s WHERE s.merchant_id = %(merchant_id)s), "
            "pr AS MATERIALIZED ("
            f"SELECT p.id, p.sku, {sql_text_safe('p.sku')} AS sku_csv, p.name, {sql_text_safe('p.name')} AS name_csv, "
            f"c.name AS category, {sql_text_safe('c.name')} AS category_csv "
            "FROM catalog_product p LEFT JOIN catalog_category c ON c.id = p.category_id "
            "WHERE p.merchant_id = %(merchant_id)s) "
            f"SELECT {self.select_list(ctx, for_copy=for_copy, styles=styles)} "
            "FROM sales_orderline l "
            "JOIN sales_order o ON o.id = l.order_id "
            "LEFT JOIN st ON st.id = l.store_id "
            "LEFT JOIN pr ON pr.id = l.product_id "
            # The order id range on both tables: each chunk reads two index ranges instead of every order.
            f"WHERE {where} AND l.order_id BETWEEN %(low)s AND %(high)s AND o.id BETWEEN %(low)s AND %(high)s "
            "AND o.merchant_id = %(merchant_id)s "
            "ORDER BY l.order_id, l.line_number"
        )
        return sql, params


class ImportErrorsExport(SqlExport):
    sql_columns = [
        SqlColumn("row", INTEGER, "e.row"),
        SqlColumn("column", TEXT, "e.column"),
        SqlColumn("value", TEXT, "e.value"),
        SqlColumn("reason", TEXT, "e.reason"),
    ]

    def _params(self, ctx: Context) -> dict:
        return {"merchant_id": ctx.merchant_id, "job_id": ctx.resolved["import_job_id"]}

    def plan(self, cursor, ctx: Context) -> tuple[int | None, list[dict]]:
        cursor.execute(
            "SELECT count(*) FROM sales_importrowerror WHERE merchant_id = %(merchant_id)s AND job_id = %(job_id)s",
            self._params(ctx),
        )
        return cursor.fetchone()[0], [{}]

    def query(self, ctx: Context, chunk: dict, *, for_copy: bool, styles: dict | None = None) -> tuple[str, dict]:
        sql = (
            f"SELECT {self.select_list(ctx, for_copy=for_copy, styles=styles)} FROM sales_importrowerror e "  # noqa: S608 - fixed identifiers; values are bound parameters
            "WHERE e.merchant_id = %(merchant_id)s AND e.job_id = %(job_id)s ORDER BY e.row, e.id"
        )
        return sql, self._params(ctx)


class CustomersExport(SqlExport):
    """Per identified customer, from the dashboard's customer rollups (``analytics.CustomerDay``, or
    ``CustomerCategoryDay`` under a category filter): the same definitions as the customer KPIs."""

    base_columns = [
        SqlColumn("customer_key", INTEGER, "d.customer_id"),
        SqlColumn("online_orders", INTEGER, "coalesce(sum(d.orders) FILTER (WHERE d.channel = 'online'), 0)"),
        SqlColumn("in_store_orders", INTEGER, "coalesce(sum(d.orders) FILTER (WHERE d.channel = 'offline'), 0)"),
        SqlColumn("online_net_sales", MONEY, "coalesce(sum(d.net) FILTER (WHERE d.channel = 'online'), 0.00)"),
        SqlColumn("in_store_net_sales", MONEY, "coalesce(sum(d.net) FILTER (WHERE d.channel = 'offline'), 0.00)"),
        SqlColumn("net_sales", MONEY, "sum(d.net)"),
        SqlColumn("first_order_in_range", DATE, "min(d.local_date) FILTER (WHERE d.orders > 0)"),
        SqlColumn("last_order_in_range", DATE, "max(d.local_date) FILTER (WHERE d.orders > 0)"),
        SqlColumn("first_order_ever", DATE, "min(f.first_date)"),
        SqlColumn(
            "behaviour",
            TEXT,
            "CASE WHEN bool_or(d.orders > 0 AND d.channel = 'online') AND bool_or(d.orders > 0 AND d.channel = "
            "'offline') THEN 'both' WHEN bool_or(d.orders > 0 AND d.channel = 'online') THEN 'online_only' "
            "ELSE 'in_store_only' END",
        ),
    ]
    personal_columns = [
        SqlColumn("name", TEXT, "min(cu.display_name)"),
        SqlColumn("email", TEXT, "min(cu.email)"),
    ]

    def sql_columns_for(self, ctx: Context) -> list[SqlColumn]:
        if ctx.resolved.get("personal_data"):
            return self.base_columns[:1] + self.personal_columns + self.base_columns[1:]
        return self.base_columns

    def plan(self, cursor, ctx: Context) -> tuple[int | None, list[dict]]:
        return None, [{}]

    def query(self, ctx: Context, chunk: dict, *, for_copy: bool, styles: dict | None = None) -> tuple[str, dict]:
        resolved = ctx.resolved
        table = "analytics_customercategoryday" if resolved.get("category_id") else "analytics_customerday"
        where = ["d.merchant_id = %(merchant_id)s", "d.local_date BETWEEN %(date_from)s AND %(date_to)s"]
        params: dict[str, Any] = {
            "merchant_id": ctx.merchant_id,
            "date_from": date.fromisoformat(resolved["date_from"]),
            "date_to": date.fromisoformat(resolved["date_to"]),
        }
        if resolved.get("channel"):
            where.append("d.channel = %(channel)s")
            params["channel"] = resolved["channel"]
        if resolved.get("store_ids") is not None:
            where.append("d.store_id = ANY(%(store_ids)s)")
            params["store_ids"] = list(resolved["store_ids"])
        if resolved.get("category_id"):
            where.append("d.category_id = %(category_id)s")
            params["category_id"] = resolved["category_id"]
        sql = (
            f"SELECT {self.select_list(ctx, for_copy=for_copy, styles=styles)} FROM {table} d "  # noqa: S608 - fixed identifiers; values are bound parameters
            "LEFT JOIN sales_customer cu ON cu.id = d.customer_id AND cu.merchant_id = d.merchant_id "
            "LEFT JOIN analytics_customerfirstorder f ON f.merchant_id = d.merchant_id "
            "AND f.customer_id = d.customer_id "
            f"WHERE {' AND '.join(where)} GROUP BY d.customer_id HAVING sum(d.orders) > 0 "
            "ORDER BY sum(d.net) DESC, d.customer_id"
        )
        return sql, params


class RowsExport:
    """A report built from the dashboard's selectors: ``rows`` returns every row (they are aggregates)."""

    def columns(self, ctx: Context) -> list[Column]:
        raise NotImplementedError

    def rows(self, ctx: Context) -> list[tuple]:
        raise NotImplementedError


def _kpi_type(name: str, annotation) -> str:
    if name.endswith("_share"):
        return PERCENT
    if name in ("units", "units_per_order"):
        return NUMBER
    if "int" in str(annotation):
        return INTEGER
    return MONEY


class SalesSummaryExport(SqlExport, RowsExport):
    """Period × store × channel with every KPI: ``analytics.selectors.summary_rows_sql``, the very SQL behind
    ``selectors.summary_rows``, streamed out with ``COPY`` on PostgreSQL (no Python object per row: a two-year day ×
    store × channel summary is ~200,000 rows of 20 columns). On SQLite (development) ``rows`` builds it instead."""

    # Measured on the 10M-line merchant (two years by day: 207,000 rows out of 2.7M customer-day rows): the customer
    # aggregate and the two hash tables stay in memory; a parallel plan ran the customer aggregate once in every
    # worker, and merge joins sorted both sides by a collated text key first (1.6-2.0 s, against 1.5 s like this).
    session_settings = ("work_mem = '256MB'", "max_parallel_workers_per_gather = 0", "enable_mergejoin = off")

    def _kpi_fields(self):
        from analytics.selectors import Kpis

        return [(field.name, _kpi_type(field.name, field.type)) for field in dataclasses.fields(Kpis)]

    def sql_columns_for(self, ctx: Context) -> list[SqlColumn]:
        head = [
            SqlColumn("period", DATE, "r.period"),
            SqlColumn("store_code", TEXT, "r.store_code"),
            SqlColumn("channel", TEXT, "r.channel"),
        ]
        return head + [SqlColumn(name, kind, f"r.{name}") for name, kind in self._kpi_fields()]

    def plan(self, cursor, ctx: Context) -> tuple[int | None, list[dict]]:
        return None, [{}]  # one statement; its row count is known when it has run

    def query(self, ctx: Context, chunk: dict, *, for_copy: bool, styles: dict | None = None) -> tuple[str, list]:
        from analytics import selectors

        sql, params = selectors.summary_rows_sql(ctx.filters, interval=ctx.resolved.get("interval") or "day")
        # The order of ``summary_rows`` (Python sorts strings by code point: so does the "C" collation).
        return (
            f"SELECT {self.select_list(ctx, for_copy=for_copy, styles=styles)} FROM ({sql}) AS r "  # noqa: S608 - fixed identifiers; values are bound parameters
            'ORDER BY r.period, r.store_code COLLATE "C", r.channel COLLATE "C"',
            params,
        )

    def rows(self, ctx: Context) -> list[tuple]:
        from analytics import selectors

        names = [name for name, _ in self._kpi_fields()]
        return [
            (row.period, row.store_code, row.channel, *(getattr(row.kpis, name) for name in names))
            for row in selectors.summary_rows(ctx.filters, interval=ctx.resolved.get("interval") or "day")
        ]


class ProductPerformanceExport(RowsExport):
    fields = [
        ("rank", INTEGER),
        ("sku", TEXT),
        ("name", TEXT),
        ("category", TEXT),
        ("units", NUMBER),
        ("gross_sales", MONEY),
        ("discounts", MONEY),
        ("refunds", MONEY),
        ("net_sales", MONEY),
        ("online_net_sales", MONEY),
        ("offline_net_sales", MONEY),
    ]

    def columns(self, ctx: Context) -> list[Column]:
        return [Column(name, kind) for name, kind in self.fields]

    def rows(self, ctx: Context) -> list[tuple]:
        from analytics import selectors

        return [
            tuple(getattr(row, name) for name, _ in self.fields) for row in selectors.products(ctx.filters, limit=None)
        ]


class StorePerformanceExport(RowsExport):
    fields = [
        ("code", TEXT),
        ("name", TEXT),
        ("region", TEXT),
        ("net_sales", MONEY),
        ("gross_sales", MONEY),
        ("refunds", MONEY),
        ("orders", INTEGER),
        ("units", NUMBER),
        ("average_order_value", MONEY),
        ("online_fulfilled_sales", MONEY),
        ("comparison_net_sales", MONEY),
        ("change", PERCENT),
    ]

    def columns(self, ctx: Context) -> list[Column]:
        return [Column(name, kind) for name, kind in self.fields]

    def rows(self, ctx: Context) -> list[tuple]:
        from analytics import selectors

        return [tuple(getattr(row, name) for name, _ in self.fields) for row in selectors.stores(ctx.filters)]


EXPORTS: dict[str, SqlExport | RowsExport] = {
    ReportKind.ORDER_LINES: OrderLinesExport(),
    ReportKind.IMPORT_ERRORS: ImportErrorsExport(),
    ReportKind.CUSTOMERS: CustomersExport(),
    ReportKind.SALES_SUMMARY: SalesSummaryExport(),
    ReportKind.PRODUCT_PERFORMANCE: ProductPerformanceExport(),
    ReportKind.STORE_PERFORMANCE: StorePerformanceExport(),
}
