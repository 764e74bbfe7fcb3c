"""The write path of ``orders_ingest``: a constant number of set-based statements per batch.

On PostgreSQL (production, tests, benchmarks):

1. ``SELECT`` the existing orders' ``(id, content_hash, local_date)`` by ``(source, external_id)`` (one query,
   :func:`orders_existing`, before any transaction: an unchanged batch only reads).
2. In the write transaction: lock the referenced customers ``FOR SHARE`` (a concurrent merge waits for this
   batch, then moves its orders too) and map merged customers to their survivor; resolve SKUs (one ``SELECT``;
   unknown SKUs become placeholder products with one ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, plus
   their categories); ``COPY`` the orders into a temporary staging table; one
   ``INSERT ... SELECT ... ORDER BY source, external_id ON CONFLICT DO UPDATE ... WHERE content_hash IS DISTINCT
   FROM ... RETURNING`` (sorted, so two overlapping batches lock rows in the same order: no deadlock); one
   ``DELETE`` of the replaced lines (returning them); one ``COPY`` of the new lines. When the batch updates
   stored orders, their previous version is read first (``SELECT ... FOR UPDATE``, same order): the days marked
   for the rollups are then only those whose figures an update can change (:func:`_collect_dates`), e.g. a
   refund added to an old order marks the refund's day, not the sale's.

Elsewhere (SQLite in development) the same steps go through the ORM (``bulk_create``/``bulk_update``), without
the concurrency guarantees.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from catalog.models import Category, Product
from catalog.validation import normalize_category_name
from sales.models import Customer, Order, OrderLine

from . import identity
from .identity import CustomerClaim
from .pgarray import int_array, text_array

STAGE_TABLE = "nr_ingest_order_stage"
ORDER_COLUMNS = (
    "source",
    "external_id",
    "channel",
    "store_id",
    "customer_id",
    "placed_at",
    "local_date",
    "currency",
    "status",
    "gross",
    "discounts",
    "refunds",
    "tax",
    "shipping",
    "net",
    "content_hash",
    "import_job_id",
)
LINE_COLUMNS = (
    "merchant_id",
    "order_id",
    "line_number",
    "kind",
    "product_id",
    "quantity",
    "unit_price",
    "gross",
    "discount",
    "net",
    "local_date",
    "occurred_at",
    "channel",
    "store_id",
)
CREATE_STAGE_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} (
    source text, external_id text, channel text, store_id bigint, customer_id bigint,
    placed_at timestamptz, local_date date, currency text, status text,
    gross numeric, discounts numeric, refunds numeric, tax numeric, shipping numeric, net numeric,
    content_hash text, import_job_id bigint
) ON COMMIT DELETE ROWS
"""
_columns = ", ".join(ORDER_COLUMNS)
_updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in ORDER_COLUMNS[2:])
# The staging rows are deleted by the statement that upserts them: the table is empty again for the next batch
# of the same transaction (ON COMMIT DELETE ROWS is only the safety net).
UPSERT_SQL = f"""
WITH staged AS (DELETE FROM {STAGE_TABLE} RETURNING *)
INSERT INTO sales_order AS o (merchant_id, {_columns}, created_at, updated_at)
SELECT %s, {_columns}, now(), now() FROM staged ORDER BY source, external_id
ON CONFLICT (merchant_id, source, external_id) DO UPDATE SET {_updates}, updated_at = EXCLUDED.updated_at
WHERE o.content_hash IS DISTINCT FROM EXCLUDED.content_hash
RETURNING o.id, o.source, o.external_id, (o.xmax = 0) AS inserted
"""  # noqa: S608 (constant identifiers only)


# One index probe of ``order_unique_external_id`` per key, whatever the planner believes: a plain join of the
# keys with ``sales_order`` became, with the statistics of a table growing during an import, a hash join reading
# every order of the merchant for each batch (95 ms a batch at 400,000 orders, a third of a 1M-line import).
# ``LIMIT 1`` (the key is unique) keeps the subquery from being flattened into that join.
ORDERS_BY_KEY_SQL = """
SELECT k.source, k.external_id, {columns}
FROM unnest(%s::text[], %s::text[]) AS k(source, external_id)
CROSS JOIN LATERAL (
    SELECT * FROM sales_order AS s
    WHERE s.merchant_id = %s AND s.source = k.source AND s.external_id = k.external_id
    LIMIT 1
) AS o
"""


@dataclass(slots=True)
class PreparedLine:
    line_number: int
    kind: str
    sku: str
    name: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    gross: Decimal
    discount: Decimal
    net: Decimal
    local_date: date
    occurred_at: datetime
    product_id: int | None = None
    # quantity, unit price, gross, discount, net, local date, occurred at: as COPY text (set by the service)
    values_text: str = ""


@dataclass(slots=True)
class PreparedOrder:
    """A validated order, normalised for writing (money quantised, days computed, identities hashed)."""

    index: int
    source: str
    external_id: str
    channel: str
    store_id: int | None
    placed_at: datetime
    local_date: date
    currency: str
    status: str
    gross: Decimal
    discounts: Decimal
    refunds: Decimal
    tax: Decimal
    shipping: Decimal
    net: Decimal
    content_hash: str
    lines: list[PreparedLine]
    claim: CustomerClaim | None = None
    customer_id: int | None = None
    placed_text: str = ""  # placed_at.isoformat(), computed once

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.external_id)


@dataclass(slots=True)
class ExistingOrder:
    id: int
    content_hash: str
    local_date: date


@dataclass(slots=True)
class WriteResult:
    orders: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # key -> (id, result)
    dates: set[date] = field(default_factory=set)  # every local day touched (new and old)
    lines_written: int = 0


# --- reads ----------------------------------------------------------------------------------


def orders_existing(merchant_id: int, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ExistingOrder]:
    """The stored orders among ``keys`` (one query)."""
    if not keys:
        return {}
    if identity.use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                ORDERS_BY_KEY_SQL.format(columns="o.id, o.content_hash, o.local_date"),
                [text_array([key[0] for key in keys]), text_array([key[1] for key in keys]), merchant_id],
            )
            rows = cursor.fetchall()
    else:
        wanted = set(keys)
        rows = [
            row
            for row in Order.objects.filter(
                merchant_id=merchant_id,
                source__in={key[0] for key in keys},
                external_id__in={key[1] for key in keys},
            ).values_list("source", "external_id", "id", "content_hash", "local_date")
            if (row[0], row[1]) in wanted
        ]
    return {(source, external_id): ExistingOrder(pk, digest, day) for source, external_id, pk, digest, day in rows}


# --- writes (call inside a transaction) -----------------------------------------------------


def customers_survivors(merchant_id: int, customer_ids: Iterable[int]) -> dict[int, int]:
    """Lock the customers ``FOR SHARE`` until commit and map each to its survivor (itself unless merged)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    if identity.use_postgres():
        with connection.cursor() as cursor:
            # One primary-key probe per id, locked in id order (``ids`` is sorted); LATERAL ... LIMIT 1 so that a
            # lagging statistic cannot turn it into a scan of every customer of the merchant.
            cursor.execute(
                "SELECT c.id, c.survivor FROM unnest(%s::bigint[]) AS k(id) CROSS JOIN LATERAL ("
                "SELECT id, COALESCE(merged_into_id, id) AS survivor FROM sales_customer "
                "WHERE id = k.id AND merchant_id = %s LIMIT 1 FOR SHARE) AS c",
                [int_array(ids), merchant_id],
            )
            return dict(cursor.fetchall())
    return {
        pk: merged_into or pk
        for pk, merged_into in Customer.objects.filter(merchant_id=merchant_id, pk__in=ids).values_list(
            "id", "merged_into_id"
        )
    }


def products_resolve(merchant_id: int, lines: Iterable[PreparedLine], known: dict[str, int]) -> dict[str, int]:
    """The ids of the SKUs of ``lines`` that ``known`` (a cache the caller keeps between batches) lacks,
    creating placeholder products (and their categories) for unknown SKUs. The caller adds the answer to its
    cache once the transaction has succeeded (a rolled-back placeholder must not stay cached)."""
    wanted: dict[str, PreparedLine] = {}
    for line in lines:
        if line.sku and line.sku not in known and line.sku not in wanted:
            wanted[line.sku] = line
    if not wanted:
        return {}
    skus = sorted(wanted)
    learned = _products_by_sku(merchant_id, skus)
    missing = [sku for sku in skus if sku not in learned]
    if not missing:
        return learned
    category_names = {sku: _category_name(wanted[sku].category) for sku in missing}
    category_ids = _categories_resolve(merchant_id, {name for name in category_names.values() if name})
    rows = [
        (sku, (wanted[sku].name.strip() or sku)[:255], category_ids.get((category_names[sku] or "").casefold()))
        for sku in missing
    ]
    learned.update(_placeholders_insert(merchant_id, rows))
    still_missing = [sku for sku in missing if sku not in learned]
    if still_missing:  # created meanwhile by a concurrent batch (rare): read their ids
        learned.update(_products_by_sku(merchant_id, still_missing))
    return learned


def _category_name(value: str) -> str | None:
    try:
        return normalize_category_name(value)
    except ValidationError:
        return None  # too long: the placeholder goes without a category


def _products_by_sku(merchant_id: int, skus: list[str]) -> dict[str, int]:
    if identity.use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sku, id FROM catalog_product WHERE merchant_id = %s AND sku = ANY(%s::text[])",
                [merchant_id, text_array(skus)],
            )
            return dict(cursor.fetchall())
    return dict(Product.objects.filter(merchant_id=merchant_id, sku__in=skus).values_list("sku", "id"))


def _categories_resolve(merchant_id: int, names: set[str]) -> dict[str, int]:
    """casefolded name -> id, creating the missing categories (names match case-insensitively)."""
    if not names:
        return {}
    folded = sorted({name.casefold() for name in names})
    if identity.use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT lower(name), min(id) FROM catalog_category "
                "WHERE merchant_id = %s AND lower(name) = ANY(%s) GROUP BY lower(name)",
                [merchant_id, [name.lower() for name in names]],
            )
            found = {name.casefold(): pk for name, pk in cursor.fetchall()}
            missing = sorted({name for name in names if name.casefold() not in found}, key=str.casefold)
            missing = list({name.casefold(): name for name in missing}.values())
            if missing:
                cursor.execute(
                    "INSERT INTO catalog_category (merchant_id, name) SELECT %s, unnest(%s::text[]) "
                    "ON CONFLICT (merchant_id, name) DO NOTHING RETURNING name, id",
                    [merchant_id, missing],
                )
                found.update({name.casefold(): pk for name, pk in cursor.fetchall()})
                if any(name.casefold() not in found for name in missing):
                    cursor.execute(
                        "SELECT lower(name), min(id) FROM catalog_category "
                        "WHERE merchant_id = %s AND lower(name) = ANY(%s) GROUP BY lower(name)",
                        [merchant_id, [name.lower() for name in missing]],
                    )
                    found.update(
                        {name.casefold(): pk for name, pk in cursor.fetchall() if name.casefold() not in found}
                    )
        return found
    query = Q()
    for name in folded:
        query |= Q(name__iexact=name)
    found = {}
    for pk, name in Category.objects.filter(query, merchant_id=merchant_id).order_by("id").values_list("id", "name"):
        found.setdefault(name.casefold(), pk)
    missing = list({name.casefold(): name for name in names if name.casefold() not in found}.values())
    for category in Category.objects.bulk_create(
        [Category(merchant_id=merchant_id, name=name) for name in missing], ignore_conflicts=True
    ):
        if category.pk is not None:
            found[category.name.casefold()] = category.pk
    if any(name.casefold() not in found for name in missing):
        for pk, name in Category.objects.filter(merchant_id=merchant_id, name__in=missing).values_list("id", "name"):
            found.setdefault(name.casefold(), pk)
    return found


def _placeholders_insert(merchant_id: int, rows: list[tuple[str, str, int | None]]) -> dict[str, int]:
    if identity.use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO catalog_product
                    (merchant_id, sku, name, category_id, brand, price, active, is_placeholder, created_at, updated_at)
                SELECT %s, p.sku, p.name, p.category_id, '', NULL, true, true, now(), now()
                FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS p(sku, name, category_id)
                ORDER BY p.sku
                ON CONFLICT (merchant_id, sku) DO NOTHING
                RETURNING sku, id
                """,
                [
                    merchant_id,
                    text_array([row[0] for row in rows]),
                    text_array([row[1] for row in rows]),
                    [row[2] for row in rows],
                ],
            )
            return dict(cursor.fetchall())
    Product.objects.bulk_create(
        [
            Product(merchant_id=merchant_id, sku=sku, name=name, category_id=category_id, is_placeholder=True)
            for sku, name, category_id in rows
        ],
        ignore_conflicts=True,
    )
    return _products_by_sku(merchant_id, [row[0] for row in rows])


def orders_write(
    *,
    merchant_id: int,
    orders: Sequence[PreparedOrder],
    existing: dict[tuple[str, str], ExistingOrder],
    job_id: int | None,
) -> WriteResult:
    """Upsert ``orders`` (new or changed ones) and replace their lines. Call inside a transaction, with
    ``customer_id`` set on each order and ``product_id`` on each line."""
    if identity.use_postgres():
        return _orders_write_postgres(merchant_id, orders, existing, job_id)
    return _orders_write_orm(merchant_id, orders, existing, job_id)


def _orders_write_postgres(merchant_id, orders, existing, job_id) -> WriteResult:
    result = WriteResult()
    by_key = {order.key: order for order in orders}
    with connection.cursor() as cursor:
        cursor.execute(CREATE_STAGE_SQL)
        with cursor.copy(f"COPY {STAGE_TABLE} ({_columns}) FROM STDIN") as copy:
            copy.write(_orders_copy_text(orders, job_id))
        prior = _orders_prior(cursor, merchant_id, [(existing[key].id, key) for key in by_key if key in existing])
        cursor.execute(UPSERT_SQL, [merchant_id])
        written = cursor.fetchall()
        updated_ids = []
        for order_id, source, external_id, inserted in written:
            result.orders[(source, external_id)] = (order_id, "created" if inserted else "updated")
            if not inserted:
                updated_ids.append(order_id)
        replaced: dict[int, list[tuple]] = {}
        if updated_ids:
            cursor.execute(REPLACED_LINES_DELETE_SQL, [merchant_id, int_array(updated_ids)])
            for order_id, *line in cursor.fetchall():
                replaced.setdefault(order_id, []).append(tuple(line))
        with cursor.copy(f"COPY sales_orderline ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
            written_orders = [(order_id, by_key[key]) for key, (order_id, _) in result.orders.items()]
            for start in range(0, len(written_orders), COPY_CHUNK_ORDERS):
                chunk = written_orders[start : start + COPY_CHUNK_ORDERS]
                copy.write(_lines_copy_text(merchant_id, chunk))
            result.lines_written = sum(len(order.lines) for _, order in written_orders)
        skipped = [key for key in by_key if key not in result.orders]
        if skipped:  # identical content written meanwhile by a concurrent batch: nothing to do but say so
            cursor.execute(
                ORDERS_BY_KEY_SQL.format(columns="o.id"),
                [text_array([key[0] for key in skipped]), text_array([key[1] for key in skipped]), merchant_id],
            )
            for source, external_id, order_id in cursor.fetchall():
                result.orders[(source, external_id)] = (order_id, "unchanged")
    _collect_dates(result, by_key, existing, prior, replaced)
    return result


# What a line contributes to the rollups besides its order (``analytics.services``: money, units, product, day,
# local hour of ``occurred_at`` in its store's zone, channel, store). Equal tuples: equal contributions.
ROLLUP_LINE_COLUMNS = (
    "local_date", "kind", "product_id", "quantity", "unit_price", "gross", "discount", "net", "occurred_at",
    "channel", "store_id",
)  # fmt: skip
# The same for the order: cancelled orders count nothing; customer, day, moment, channel, store and the
# order-level discount are on its rollup rows.
ROLLUP_ORDER_COLUMNS = ("status", "customer_id", "local_date", "placed_at", "channel", "store_id", "discounts")
_line_columns, _order_columns = ", ".join(ROLLUP_LINE_COLUMNS), ", ".join(ROLLUP_ORDER_COLUMNS)
REPLACED_LINES_DELETE_SQL = f"""
DELETE FROM sales_orderline WHERE merchant_id = %s AND order_id = ANY(%s::bigint[])
RETURNING order_id, {_line_columns}
"""  # noqa: S608 (constant identifiers only)

# One primary-key probe per id, like ``ORDERS_BY_KEY_SQL``: ``id = ANY(...)`` could become, with the statistics of
# a table growing during an import, a scan of every order of the merchant. The keys are sorted by (source,
# external_id) in the database's collation, the upsert's order, and the nested loop locks in that order.
PRIOR_ORDERS_SQL = f"""
SELECT o.* FROM (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(id, source, external_id)
    ORDER BY source, external_id
) AS k CROSS JOIN LATERAL (
    SELECT id, {_order_columns} FROM sales_order AS s
    WHERE s.id = k.id AND s.merchant_id = %s
    LIMIT 1 FOR UPDATE
) AS o
"""  # noqa: S608 (constant identifiers only)


def _orders_prior(cursor, merchant_id: int, order_ids: list[tuple[int, tuple[str, str]]]) -> dict[int, tuple]:
    """The stored version of the orders the batch updates (``ROLLUP_ORDER_COLUMNS`` by id), locked until
    commit: nothing changes them between this read and the upsert (same lock order as the upsert). Taken before
    the upsert's locks on the batch's new orders: two overlapping batches that both update and create orders can
    now deadlock; PostgreSQL aborts one and ``orders_write_prepared`` retries it (``_retrying``)."""
    if not order_ids:
        return {}
    ids, keys = [order_id for order_id, _ in order_ids], [key for _, key in order_ids]
    cursor.execute(
        PRIOR_ORDERS_SQL,
        [int_array(ids), text_array([key[0] for key in keys]), text_array([key[1] for key in keys]), merchant_id],
    )
    return {order_id: _rollup_order(*values) for order_id, *values in cursor.fetchall()}


def _rollup_order(status, customer_id, local_date, placed_at, channel, store_id, discounts) -> tuple:
    return (status == "cancelled", customer_id, local_date, placed_at, channel, store_id, discounts)


def _rollup_lines(order: PreparedOrder) -> list[tuple]:
    return [
        (
            line.local_date, line.kind, line.product_id, line.quantity, line.unit_price, line.gross,
            line.discount, line.net, line.occurred_at, order.channel, order.store_id,
        )
        for line in order.lines
    ]  # fmt: skip


# COPY text format, written by hand: ~3x faster than psycopg's write_row for these rows, which matters at
# 50,000 lines/s. Numbers, dates and our own enumerations need no escaping; free text (source, external id)
# does.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
NULL = "\\N"
COPY_CHUNK_ORDERS = 500


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def _orders_copy_text(orders: Sequence[PreparedOrder], job_id: int | None) -> bytes:
    job = NULL if job_id is None else str(job_id)
    rows = []
    for order in orders:
        rows.append(
            "\t".join(
                (
                    _copy_text(order.source),
                    _copy_text(order.external_id),
                    order.channel,
                    NULL if order.store_id is None else str(order.store_id),
                    NULL if order.customer_id is None else str(order.customer_id),
                    order.placed_text or order.placed_at.isoformat(),
                    order.local_date.isoformat(),
                    order.currency,
                    order.status,
                    str(order.gross),
                    str(order.discounts),
                    str(order.refunds),
                    str(order.tax),
                    str(order.shipping),
                    str(order.net),
                    order.content_hash,
                    job,
                )
            )
        )
    rows.append("")
    return "\n".join(rows).encode()


def _lines_copy_text(merchant_id: int, orders: Sequence[tuple[int, PreparedOrder]]) -> bytes:
    rows = []
    merchant = str(merchant_id)
    for order_id, order in orders:
        head = f"{merchant}\t{order_id}"
        tail = f"{order.channel}\t{NULL if order.store_id is None else order.store_id}"
        for line in order.lines:
            product = NULL if line.product_id is None else str(line.product_id)
            rows.append("\t".join((head, str(line.line_number), line.kind, product, line.values_text, tail)))
    rows.append("")
    return "\n".join(rows).encode()


def _collect_dates(result: WriteResult, by_key, existing, prior=None, replaced=None) -> None:
    """The local days whose rollups the written orders change. A new order: its day and its lines' days. An
    updated one: every day of its old and new version; or, when its previous version was read (``prior``, with
    ``replaced``: its old lines, PostgreSQL) and its order-level figures are unchanged, only the days whose
    lines differ (a refund added to an old order: the refund's day)."""
    prior = prior or {}
    for key, (order_id, outcome) in result.orders.items():
        if outcome == "unchanged":
            continue
        order = by_key[key]
        if outcome == "updated" and order_id in prior:
            old_lines = replaced.get(order_id, []) if replaced is not None else None
            now = _rollup_order(order.status, order.customer_id, order.local_date, order.placed_at,
                                order.channel, order.store_id, order.discounts)  # fmt: skip
            if old_lines is not None and prior[order_id] == now:
                before, after = Counter(old_lines), Counter(_rollup_lines(order))
                result.dates.update(
                    day for day in {line[0] for line in (*before, *after)}
                    if _lines_of(before, day) != _lines_of(after, day)
                )  # fmt: skip
                continue
            result.dates.add(prior[order_id][2])
            result.dates.update(line[0] for line in (old_lines or ()))
        result.dates.add(order.local_date)
        result.dates.update(line.local_date for line in order.lines)
        if key in existing:
            result.dates.add(existing[key].local_date)
        if replaced is not None:
            result.dates.update(line[0] for line in replaced.get(order_id, ()))


def _lines_of(lines: Counter, day: date) -> Counter:
    return Counter({line: count for line, count in lines.items() if line[0] == day})


def _orders_write_orm(merchant_id, orders, existing, job_id) -> WriteResult:
    result = WriteResult()
    now = timezone.now()
    by_key = {order.key: order for order in orders}
    new_rows, changed_rows = [], []
    for order in sorted(orders, key=lambda order: order.key):
        row = Order(
            merchant_id=merchant_id,
            source=order.source,
            external_id=order.external_id,
            channel=order.channel,
            store_id=order.store_id,
            customer_id=order.customer_id,
            placed_at=order.placed_at,
            local_date=order.local_date,
            currency=order.currency,
            status=order.status,
            gross=order.gross,
            discounts=order.discounts,
            refunds=order.refunds,
            tax=order.tax,
            shipping=order.shipping,
            net=order.net,
            content_hash=order.content_hash,
            import_job_id=job_id,
            updated_at=now,
        )
        if order.key in existing:
            row.pk = existing[order.key].id
            changed_rows.append(row)
        else:
            new_rows.append(row)
    for row in Order.objects.bulk_create(new_rows):
        result.orders[(row.source, row.external_id)] = (row.pk, "created")
    if changed_rows:
        update_fields = [name for name in ORDER_COLUMNS if name not in {"source", "external_id"}] + ["updated_at"]
        Order.objects.bulk_update(changed_rows, update_fields)
        changed_ids = [row.pk for row in changed_rows]
        old_lines = OrderLine.objects.filter(merchant_id=merchant_id, order_id__in=changed_ids)
        result.dates.update(old_lines.values_list("local_date", flat=True).distinct())
        old_lines.delete()
        for row in changed_rows:
            result.orders[(row.source, row.external_id)] = (row.pk, "updated")
    lines = []
    for key, (order_id, _) in result.orders.items():
        order = by_key[key]
        for line in order.lines:
            lines.append(
                OrderLine(
                    merchant_id=merchant_id,
                    order_id=order_id,
                    line_number=line.line_number,
                    kind=line.kind,
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    gross=line.gross,
                    discount=line.discount,
                    net=line.net,
                    local_date=line.local_date,
                    occurred_at=line.occurred_at,
                    channel=order.channel,
                    store_id=order.store_id,
                )
            )
    OrderLine.objects.bulk_create(lines, batch_size=2000)
    result.lines_written = len(lines)
    _collect_dates(result, by_key, existing)
    return result
