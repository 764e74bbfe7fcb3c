"""Learning suggestions from a merchant's baskets: pure numpy/scipy over arrays read out of PostgreSQL by COPY.

Pipeline (``recommendations.services.recommendation_job_run`` drives it and writes the result):

1. ``read_baskets_postgresql``: ``COPY ... TO STDOUT (FORMAT binary)`` of fixed-width columns parsed chunk by
   chunk into numpy arrays (no ORM objects, bounded memory): (order, product) of the window's sale lines and,
   once per non-cancelled order, its channel, store, day, time and customer (identity already merged across
   channels); each line takes its order's values (a line of a cancelled order finds none and is dropped).
2. ``learn``: a basket × product 0/1 matrix (scipy CSR; baskets with more than ``max_basket_items`` distinct
   products are skipped as bulk purchases); pair counts ``Xᵀ·X`` per channel and per store, summed for the
   wider scopes (offline = Σ stores, all = online + offline: each basket is counted once); score = cosine with
   shrinkage ``c / √(nₐ·n_b) · c / (c + shrinkage)``, pairs with fewer than ``min_shared`` baskets dropped, top
   ``top_all`` per product over everything, top ``top_scope`` per product in a channel or a store where the
   product has at least ``scope_min_baskets`` baskets (elsewhere the resolver falls back to the wider list);
   bought later: (order → each of the customer's next ``later_orders`` orders within ``later_days``) pairs;
   trending: recency-weighted basket counts (half-life ``trending_half_life_days``) and bestsellers (plain
   counts) per scope.
3. ``SuggestionTable``: columnar arrays, written by ``write_suggestions`` with binary COPY.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .models import SuggestionKind, SuggestionScope

EPOCH = dt.date(2000, 1, 1)  # PostgreSQL's own date epoch: day numbers are "local_date - EPOCH"
COPY_HEADER_SIZE = 19  # "PGCOPY\n\377\r\n\0" + flags (int32) + header extension length (int32, 0)
PARSE_CHUNK_BYTES = 32 * 1024 * 1024
PIPE_CHUNK_BYTES = 4 * 1024 * 1024
READ_PARTS = 2  # parallel reads of the lines table and of the orders table (one per core of a worker)


@dataclass(frozen=True)
class ComputeParams:
    window_days: int = 365
    min_shared: int = 3  # minimum shared baskets (customers' transitions for bought later) for a pair
    max_basket_items: int = 40  # baskets with more distinct products are skipped (bulk/B2B orders)
    top_all: int = 50  # suggestions kept per product over all channels
    top_scope: int = 10  # per product in one channel or one store (the resolver fills from the wider lists)
    scope_min_baskets: int = 30  # baskets with the product in a channel/store before it gets its own list there
    shrinkage: float = 5.0
    later_days: int = 90
    later_orders: int = 3  # each order is paired with the customer's next N orders (within later_days)
    later_min_customers: int = 3  # minimum distinct customers for a bought-later pair
    trending_half_life_days: float = 14.0
    top_popular: int = 50  # trending and bestsellers kept per scope


# --- reading ----------------------------------------------------------------------------------


@dataclass
class Lines:
    """One entry per sale line (product ids, order ids as in the database)."""

    order: np.ndarray  # int64
    product: np.ndarray  # int32
    store: np.ndarray  # int32, 0 = none (online without a fulfilling store)
    online: np.ndarray  # int16, 1 online / 0 offline
    day: np.ndarray  # int16: days since the window's first day

    def __len__(self) -> int:
        return len(self.order)

    def take(self, mask: np.ndarray) -> Lines:
        return Lines(self.order[mask], self.product[mask], self.store[mask], self.online[mask], self.day[mask])


@dataclass
class CustomerOrders:
    order: np.ndarray  # int64
    customer: np.ndarray  # int64
    placed: np.ndarray  # int64, seconds since the Unix epoch


def _binary_dtype(columns: list[tuple[str, str]]) -> np.dtype:
    """Layout of one fixed-width row of PostgreSQL's binary COPY: int16 field count, then (int32 length, value)."""
    fields = [("_n", ">i2")]
    for name, kind in columns:
        fields += [(f"_l_{name}", ">i4"), (name, kind)]
    return np.dtype(fields)


class _CopyParser:
    """Parses PostgreSQL binary COPY output, fed in chunks of any size, into one array per column.

    Every column must be NOT NULL and fixed-width (coalesce in SQL): then every row has the same layout and a
    chunk of whole rows is one ``np.frombuffer`` away. Memory: the arrays plus one chunk.
    """

    def __init__(self, columns: list[tuple[str, str]]):
        self.columns = columns
        self.dtype = _binary_dtype(columns)
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name, _ in columns}
        self.pending = bytearray()
        self.header_done = False

    def feed(self, data) -> None:
        self.pending += data
        if not self.header_done and len(self.pending) >= COPY_HEADER_SIZE:
            extension = int.from_bytes(self.pending[15:19], "big")
            del self.pending[: COPY_HEADER_SIZE + extension]
            self.header_done = True
        if self.header_done and len(self.pending) >= PARSE_CHUNK_BYTES:
            self._parse(final=False)

    def _parse(self, final: bool) -> None:
        usable = len(self.pending) - (2 if final else 0)  # the trailer is int16 -1
        rows = usable // self.dtype.itemsize
        if rows <= 0:
            return
        block = np.frombuffer(self.pending, dtype=self.dtype, count=rows)
        for name, kind in self.columns:
            self.parts[name].append(block[name].astype(kind.replace(">", "="), copy=True))
        del block
        del self.pending[: rows * self.dtype.itemsize]

    def result(self) -> dict[str, np.ndarray]:
        if self.header_done:
            self._parse(final=True)
        arrays = {}
        for name, kind in self.columns:
            chunks = self.parts[name]
            arrays[name] = np.concatenate(chunks) if chunks else np.empty(0, dtype=kind.replace(">", "="))
        return arrays


def _copy_arrays(raw_connection, sql: str, params: list, columns: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """``COPY (sql) TO STDOUT (FORMAT binary)`` through the psycopg connection."""
    parser = _CopyParser(columns)
    with raw_connection.cursor() as cursor:
        # JIT compilation costs seconds on a plain scan; the read of a big merchant may outlast the web's
        # statement timeout (the task's own time limit bounds it).
        cursor.execute("SET jit = off; SET statement_timeout = 0")
        try:
            with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
                for data in copy:
                    parser.feed(data)
        finally:
            cursor.execute("RESET jit; RESET statement_timeout")
    return parser.result()


@dataclass(frozen=True)
class PsqlSource:
    """How to run ``psql`` against the database (environment variables), for parallel reads."""

    executable: str
    environment: dict[str, str]

    @classmethod
    def from_settings(cls, settings_dict: dict) -> PsqlSource | None:
        executable = shutil.which("psql")
        if executable is None:
            return None
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        options = settings_dict.get("OPTIONS") or {}
        values = {
            "PGHOST": settings_dict.get("HOST") or "",
            "PGPORT": str(settings_dict.get("PORT") or ""),
            "PGDATABASE": settings_dict.get("NAME") or "",
            "PGUSER": settings_dict.get("USER") or "",
            "PGPASSWORD": settings_dict.get("PASSWORD") or "",
            "PGSSLMODE": options.get("sslmode", ""),
            "PGOPTIONS": "-c jit=off",
        }
        environment.update({key: value for key, value in values.items() if value})
        return cls(executable, environment)

    def copy_arrays(self, sql: str, columns: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        """The same as ``_copy_arrays`` in a ``psql`` process (``sql`` has its values inlined): libpq's
        per-row work happens there, in C, and several such reads run at once on several cores."""
        command = [self.executable, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"]
        command.append(f"COPY ({sql}) TO STDOUT (FORMAT binary)")
        parser = _CopyParser(columns)
        process = subprocess.Popen(  # noqa: S603 (our own fixed command, values are ints and dates)
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.environment
        )
        while chunk := process.stdout.read(PIPE_CHUNK_BYTES):  # type: ignore[union-attr]
            parser.feed(chunk)
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if process.wait() != 0:
            raise RuntimeError(f"psql COPY failed ({process.returncode}): {stderr.strip()[:500]}")
        return parser.result()


# Lines: only (order, product); everything else a line needs is its order's (a sale line has its order's
# channel, store and local day), read once per order instead of once per line. Values in PostgreSQL's own binary
# form, no per-row conversion in SQL: a timestamptz is int8 microseconds and a date int4 days since 2000-01-01.
LINE_COLUMNS = [("order", ">i8"), ("product", ">i8")]
ORDER_COLUMNS = [
    ("order", ">i8"),
    ("customer", ">i8"),
    ("placed", ">i8"),
    ("store", ">i8"),
    ("day", ">i4"),
    ("online", "u1"),
]
PG_EPOCH_SECONDS = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())


def _ctid_range(alias: str, blocks: tuple[int, int | None] | None) -> str:
    """The condition "the row is in blocks [low, high)" (a plain sequential scan of that part of the table)."""
    if blocks is None:
        return ""
    low, high = blocks
    condition = f" AND {alias}.ctid >= '({int(low)},0)'::tid"
    if high is not None:
        condition += f" AND {alias}.ctid < '({int(high)},0)'::tid"
    return condition


def _lines_sql(merchant_id: int, start: dt.date, end: dt.date, blocks: tuple[int, int | None] | None = None) -> str:
    ctid = _ctid_range("l", blocks)
    # Values inlined (psql takes no parameters): ints and ISO dates only.
    return (
        "SELECT l.order_id, l.product_id FROM sales_orderline l"  # noqa: S608
        f" WHERE l.merchant_id = {int(merchant_id)} AND l.kind = 'sale'"
        f" AND l.product_id IS NOT NULL AND l.local_date >= DATE '{start.isoformat()}'"
        f" AND l.local_date <= DATE '{end.isoformat()}'{ctid}"
    )


def _orders_sql(merchant_id: int, start: dt.date, end: dt.date, blocks: tuple[int, int | None] | None = None) -> str:
    """Every non-cancelled order of the window (a line whose order is not read is dropped): the lines' channel,
    store and day, and identified customers (bought later), one scan."""
    return (
        "SELECT o.id, COALESCE(o.customer_id, 0), o.placed_at, COALESCE(o.store_id, 0), o.local_date,"  # noqa: S608
        " o.channel = 'online' FROM sales_order o"
        f" WHERE o.merchant_id = {int(merchant_id)} AND o.local_date >= DATE '{start.isoformat()}'"
        f" AND o.local_date <= DATE '{end.isoformat()}' AND o.status <> 'cancelled'{_ctid_range('o', blocks)}"
    )


def _join_orders(
    line_arrays: dict[str, np.ndarray], order_arrays: dict[str, np.ndarray], start: dt.date
) -> tuple[Lines, CustomerOrders]:
    """Lines with their order's store, channel and day; lines of an order not read (cancelled, or not seen by
    the separate orders read) dropped. Identified customers' orders."""
    ids = order_arrays["order"]
    row = np.arange(len(ids), dtype=np.int32)
    line_orders = line_arrays["order"]
    if len(ids) and int(ids.max()) - int(ids.min()) <= 4 * len(ids) + 1_000_000:
        # The usual case (a merchant's order ids are dense enough): one lookup table, one gather per line.
        low = int(ids.min())
        lookup = np.full(int(ids.max()) - low + 2, -1, dtype=np.int32)  # the last slot: "not an order read"
        lookup[ids - low] = row
        position = lookup[np.clip(line_orders - low, -1, len(lookup) - 1)]
    else:
        orders = _Index(ids)
        row_of_code = np.empty(len(orders), dtype=np.int32)
        row_of_code[orders.codes] = row  # order ids are unique: one row per code
        code = orders.find(line_orders)
        position = np.where(code >= 0, row_of_code[np.maximum(code, 0)], -1) if len(row_of_code) else code
    keep = position >= 0
    position = position[keep]
    first_day = (start - EPOCH).days
    lines = Lines(
        line_arrays["order"][keep],
        line_arrays["product"][keep].astype(np.int32),
        order_arrays["store"].astype(np.int32)[position],
        order_arrays["online"].astype(np.int16)[position],
        (order_arrays["day"] - first_day).astype(np.int16)[position],
    )
    identified = order_arrays["customer"] != 0
    customer_orders = CustomerOrders(
        order_arrays["order"][identified],
        order_arrays["customer"][identified],
        order_arrays["placed"][identified] // 1_000_000 + PG_EPOCH_SECONDS,
    )
    return lines, customer_orders


def read_baskets_postgresql(
    raw_connection, *, merchant_id: int, start: dt.date, end: dt.date, psql: PsqlSource | None = None
) -> tuple[Lines, CustomerOrders, dict[str, float]]:
    """Sale lines (with a product) of non-cancelled orders whose local day is in [start, end], and identified
    customers' non-cancelled orders of the same days.

    With ``psql`` the lines table and the orders table are each read in ``READ_PARTS`` block ranges (``ctid``:
    each a plain sequential scan of its part), all by as many ``psql`` processes at once; otherwise one stream
    after the other through the connection. The reads are separate snapshots: a sale ingested meanwhile may be
    in one and not the other (its lines are then left out), which is harmless for statistics.
    """
    clock = time.perf_counter()
    if psql is not None:
        with raw_connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_relation_size('sales_orderline') / current_setting('block_size')::int8,"
                " pg_relation_size('sales_order') / current_setting('block_size')::int8"
            )
            line_blocks, order_blocks = (int(value) for value in cursor.fetchone())

        def ranges(blocks: int) -> list[tuple[int, int | None]]:
            bounds = [blocks * part // READ_PARTS for part in range(READ_PARTS)]
            return [(bounds[i], bounds[i + 1] if i + 1 < READ_PARTS else None) for i in range(READ_PARTS)]

        with ThreadPoolExecutor(max_workers=2 * READ_PARTS) as pool:
            order_futures = [
                pool.submit(psql.copy_arrays, _orders_sql(merchant_id, start, end, blocks=r), ORDER_COLUMNS)
                for r in ranges(order_blocks)
            ]
            line_futures = [
                pool.submit(psql.copy_arrays, _lines_sql(merchant_id, start, end, blocks=r), LINE_COLUMNS)
                for r in ranges(line_blocks)
            ]
            order_parts = [future.result() for future in order_futures]
            line_parts = [future.result() for future in line_futures]
        order_arrays = {name: np.concatenate([part[name] for part in order_parts]) for name, _ in ORDER_COLUMNS}
        line_arrays = {name: np.concatenate([part[name] for part in line_parts]) for name, _ in LINE_COLUMNS}
        del line_parts, order_parts
    else:
        line_arrays = _copy_arrays(raw_connection, _lines_sql(merchant_id, start, end), [], LINE_COLUMNS)
        order_arrays = _copy_arrays(raw_connection, _orders_sql(merchant_id, start, end), [], ORDER_COLUMNS)
    read_seconds = time.perf_counter() - clock
    lines, orders = _join_orders(line_arrays, order_arrays, start)
    del line_arrays, order_arrays
    return (
        lines,
        orders,
        {"read": round(read_seconds, 3), "filter": round(time.perf_counter() - clock - read_seconds, 3)},
    )


# --- the result -------------------------------------------------------------------------------


@dataclass
class SuggestionGroup:
    """Rows of one (kind, scope, store): constant text widths, so binary COPY needs no per-row work."""

    kind: str
    scope: str
    store_id: int | np.ndarray | None  # one store for the group, or one per row (store scopes)
    product: np.ndarray | None  # int64 product ids (None for trending/bestsellers)
    partner: np.ndarray  # int64
    rank: np.ndarray  # int16, 1-based
    score: np.ndarray  # float64
    support: np.ndarray  # int32
    confidence: np.ndarray  # float64
    lift: np.ndarray  # float64
    baskets_offline: np.ndarray  # int32
    baskets_online: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.partner)


@dataclass
class SuggestionTable:
    groups: list[SuggestionGroup] = field(default_factory=list)
    baskets_count: int = 0
    lines_read: int = 0
    customers_count: int = 0
    products_count: int = 0
    products_with_suggestions: int = 0
    store_scopes: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(len(group) for group in self.groups)

    def lists(self, kind: str, scope: str, store_id: int | None = None) -> dict[int, list[int]]:
        """{product id: partner ids by rank} of one group (tests and evaluation)."""
        result: dict[int, list[int]] = {}
        for group in self.groups:
            if (group.kind, group.scope) != (kind, scope):
                continue
            if isinstance(group.store_id, np.ndarray):
                mask = group.store_id == store_id
            elif group.store_id == store_id:
                mask = np.ones(len(group), dtype=bool)
            else:
                continue
            products = group.product if group.product is not None else np.zeros(len(group), dtype=np.int64)
            products, partners, ranks = products[mask], group.partner[mask], group.rank[mask]
            order = np.lexsort((ranks, products))
            for product, partner in zip(products[order].tolist(), partners[order].tolist(), strict=True):
                result.setdefault(product, []).append(partner)
        return result


# --- learning ---------------------------------------------------------------------------------


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. ``np.unique`` (numpy 2.4) hashes and is ~80x slower than a sort on 5M int64."""
    if len(values) == 0:
        return values
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of each value in them), by sorting."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(values) else np.empty(0, dtype=bool)
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = np.cumsum(first) - 1
    return ordered[first], codes


class _Index:
    """Dense indexes (0..n-1) for database ids: a lookup table when ids are compact, a sort otherwise."""

    def __init__(self, ids: np.ndarray):
        if len(ids) == 0:
            self.values = np.empty(0, dtype=np.int64)
            self.codes = np.empty(0, dtype=np.int32)
            self._low, self._lookup = None, None
            return
        low, high = int(ids.min()), int(ids.max())
        if high - low <= 4 * len(ids) + 1_000_000:
            present = np.zeros(high - low + 1, dtype=bool)
            present[ids - low] = True
            self.values = np.flatnonzero(present).astype(np.int64) + low
            lookup = np.full(high - low + 1, -1, dtype=np.int32)
            lookup[self.values - low] = np.arange(len(self.values), dtype=np.int32)
            self.codes = lookup[ids - low]
            self._low, self._lookup = low, lookup
        else:
            self.values, codes = unique_inverse(ids)
            self.codes = codes.astype(np.int32)
            self._low, self._lookup = None, None

    def __len__(self) -> int:
        return len(self.values)

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Codes of ``ids`` (-1 for ids not in the index)."""
        if self._lookup is not None:
            position = ids - self._low
            inside = (position >= 0) & (position < len(self._lookup))
            result = np.full(len(ids), -1, dtype=np.int32)
            result[inside] = self._lookup[position[inside]]
            return result
        position = np.searchsorted(self.values, ids)
        position = np.minimum(position, max(len(self.values) - 1, 0))
        found = self.values[position] == ids if len(self.values) else np.zeros(len(ids), dtype=bool)
        return np.where(found, position, -1).astype(np.int32)


def _basket_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sparse.csr_matrix:
    """0/1 CSR matrix (duplicates of a product in one basket count once)."""
    data = np.ones(len(rows), dtype=np.int32)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def _top_pairs(
    counts: sparse.csr_matrix,
    n_left: np.ndarray,
    n_right: np.ndarray,
    *,
    min_shared: int,
    top: int,
    shrinkage: float,
    total: int | np.ndarray,
    eligible: np.ndarray | None = None,
    self_column: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Top ``top`` partners per row of a pair-count matrix: (rows, cols, rank, score, count, confidence, lift).

    ``self_column[row]`` is the column of the row's own product (skipped); by default the diagonal. ``total``
    (baskets in the scope, for the lift) may be one number or one per row."""
    counts = counts.tocsr()
    # Most pairs fall below min_shared: find the row of the few kept entries only (binary search on indptr).
    kept = np.flatnonzero(counts.data >= min_shared)
    rows = (np.searchsorted(counts.indptr, kept, side="right") - 1).astype(np.int32)
    cols = counts.indices[kept].astype(np.int32)
    values = counts.data[kept]
    keep = (rows != cols) if self_column is None else (self_column[rows] != cols)
    if eligible is not None:
        keep &= eligible[rows]
    rows, cols, values = rows[keep], cols[keep], values[keep].astype(np.float64)
    if len(rows) == 0:
        empty_i = np.empty(0, dtype=np.int32)
        empty_f = np.empty(0, dtype=np.float64)
        return empty_i, empty_i, empty_i, empty_f, empty_i, empty_f, empty_f
    left = n_left[rows].astype(np.float64)
    right = n_right[cols].astype(np.float64)
    score = values / np.sqrt(left * right) * (values / (values + shrinkage))
    order = np.lexsort((cols, -score, rows))
    rows, cols, values, score, left, right = (a[order] for a in (rows, cols, values, score, left, right))
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    rank = np.arange(len(rows)) - group_start + 1
    keep = rank <= top
    rows, cols, values, score, left, right, rank = (a[keep] for a in (rows, cols, values, score, left, right, rank))
    confidence = values / left
    totals = np.maximum(total[rows], 1) if isinstance(total, np.ndarray) else max(total, 1)
    lift = confidence / (right / totals)
    return rows, cols, rank.astype(np.int16), score, values.astype(np.int32), confidence, lift


def _lookup_counts(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows, cols]`` for many points, by binary search on row-major keys (sorted CSR)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    n_cols = matrix.shape[1]
    keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * n_cols + matrix.indices
    wanted = rows.astype(np.int64) * n_cols + cols
    if len(keys) == 0:
        return np.zeros(len(wanted), dtype=np.int32)
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[position] == wanted, matrix.data[position], 0).astype(np.int32)


def _pairs(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    return (matrix.T.tocsr() @ matrix).tocsr()


def learn(
    lines: Lines,
    customer_orders: CustomerOrders | None,
    params: ComputeParams,
    *,
    window_end_day: int,
    progress: Callable[[str], None] | None = None,
) -> SuggestionTable:
    """Everything the resolver reads, from arrays (no database access). ``window_end_day`` is the last day's
    number (same origin as ``lines.day``): trending weights decay from it."""
    if params.later_orders < 1 or params.top_all < 1 or params.top_scope < 1 or params.min_shared < 1:
        raise ValueError(f"Invalid parameters {params}: later_orders, top_all, top_scope and min_shared must be >= 1.")
    table = SuggestionTable(lines_read=len(lines))
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        table.timings[name] = round(now - clock, 3)
        clock = now
        if progress is not None:
            progress(name)

    products = _Index(lines.product)
    baskets = _Index(lines.order)
    n_products = len(products)
    table.products_count = n_products
    if len(lines) == 0:
        step("matrix")
        return table
    # Per-basket attributes (the same on every line of an order).
    basket_store = np.zeros(len(baskets), dtype=np.int32)
    basket_store[baskets.codes] = lines.store
    basket_online = np.zeros(len(baskets), dtype=bool)
    basket_online[baskets.codes] = lines.online.astype(bool)
    matrix = _basket_matrix(baskets.codes, products.codes, len(baskets), n_products)
    sizes = np.diff(matrix.indptr)
    table.baskets_count = int(np.count_nonzero(sizes))
    bulky = sizes > params.max_basket_items
    if bulky.any():
        matrix.data[np.repeat(bulky, sizes)] = 0
        matrix.eliminate_zeros()
    step("matrix")

    partner_ids = products.values

    def add_pairs(kind: str, scope: str, store_id, counts, n_items, total, top, eligible, split=None) -> int:
        rows, cols, rank, score, support, confidence, lift = _top_pairs(
            counts,
            n_items,
            n_items,
            min_shared=params.min_shared,
            top=top,
            shrinkage=params.shrinkage,
            total=total,
            eligible=eligible,
        )
        if split is not None:  # the online counts of the kept pairs; the rest of the shared baskets are offline
            online_counts = _lookup_counts(split, rows, cols)
            offline_counts = support - online_counts
        elif scope == SuggestionScope.ONLINE:
            offline_counts, online_counts = np.zeros(len(rows), dtype=np.int32), support
        else:
            offline_counts, online_counts = support, np.zeros(len(rows), dtype=np.int32)
        table.groups.append(
            SuggestionGroup(
                kind=kind,
                scope=scope,
                store_id=store_id,
                product=partner_ids[rows],
                partner=partner_ids[cols],
                rank=rank,
                score=score,
                support=support,
                confidence=confidence,
                lift=lift,
                baskets_offline=offline_counts,
                baskets_online=online_counts,
            )
        )
        return len(unique(rows))

    def items_per_product(sub: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(sub.sum(axis=0)).ravel().astype(np.int64)

    # Pair counts online and in store (each basket counted once); all = online + offline.
    online_matrix = matrix[np.flatnonzero(basket_online)]
    online_counts = _pairs(online_matrix)
    online_items = items_per_product(online_matrix)
    online_total = int(np.count_nonzero(np.diff(online_matrix.indptr)))
    add_pairs(
        SuggestionKind.BOUGHT_TOGETHER,
        SuggestionScope.ONLINE,
        None,
        online_counts,
        online_items,
        online_total,
        params.top_scope,
        online_items >= params.scope_min_baskets,
    )
    del online_matrix
    step("pairs online")

    offline_rows = np.flatnonzero(~basket_online)
    offline_matrix = matrix[offline_rows]
    offline_counts = _pairs(offline_matrix)
    offline_items = items_per_product(offline_matrix)
    offline_total = int(np.count_nonzero(np.diff(offline_matrix.indptr)))
    add_pairs(
        SuggestionKind.BOUGHT_TOGETHER,
        SuggestionScope.OFFLINE,
        None,
        offline_counts,
        offline_items,
        offline_total,
        params.top_scope,
        offline_items >= params.scope_min_baskets,
    )
    table.store_scopes = _learn_stores(table, offline_matrix, basket_store[offline_rows], partner_ids, params)
    del offline_matrix
    step("pairs stores")

    all_counts = (online_counts + offline_counts).tocsr()
    all_items = online_items + offline_items
    with_suggestions = add_pairs(
        SuggestionKind.BOUGHT_TOGETHER,
        SuggestionScope.ALL,
        None,
        all_counts,
        all_items,
        online_total + offline_total,
        params.top_all,
        None,
        split=online_counts,
    )
    table.products_with_suggestions = with_suggestions
    del all_counts, online_counts, offline_counts
    step("pairs all")

    if customer_orders is not None and len(customer_orders.order):
        table.customers_count = _learn_later(table, matrix, baskets, partner_ids, customer_orders, params)
    step("bought later")

    _learn_popular(table, lines, products, partner_ids, params, window_end_day)
    step("trending")
    return table


def _learn_stores(
    table: SuggestionTable,
    offline_matrix: sparse.csr_matrix,
    basket_store: np.ndarray,
    partner_ids: np.ndarray,
    params: ComputeParams,
) -> int:
    """Per-store lists in one sparse product, whatever the number of stores.

    Columns are (store, product) pairs; the left side keeps only the (store, product) pairs with at least
    ``scope_min_baskets`` baskets. A basket belongs to one store, so ``left.T @ right`` only pairs products of the
    same store: one matrix product instead of one per store, and no work at all for unsupported products.
    Returns the number of stores with a list.
    """
    n_products = offline_matrix.shape[1]
    stores = _Index(basket_store.astype(np.int64))
    if len(stores) == 0 or offline_matrix.nnz == 0:
        return 0
    entry_rows = np.repeat(np.arange(offline_matrix.shape[0]), np.diff(offline_matrix.indptr))
    keys = stores.codes[entry_rows].astype(np.int64) * n_products + offline_matrix.indices
    n_keys = len(stores) * n_products
    key_counts = np.bincount(keys, minlength=n_keys)
    eligible_keys = np.flatnonzero(key_counts >= params.scope_min_baskets)
    if len(eligible_keys) == 0:
        return 0
    left_code = np.full(n_keys, -1, dtype=np.int64)
    left_code[eligible_keys] = np.arange(len(eligible_keys))
    shape_rows = offline_matrix.shape[0]
    right = sparse.csr_matrix((offline_matrix.data, keys, offline_matrix.indptr), shape=(shape_rows, n_keys))
    on_left = left_code[keys] >= 0
    left = sparse.csr_matrix(
        (offline_matrix.data[on_left], (entry_rows[on_left], left_code[keys[on_left]])),
        shape=(shape_rows, len(eligible_keys)),
    )
    counts = (left.T.tocsr() @ right).tocsr()
    baskets_per_store = np.bincount(stores.codes[np.diff(offline_matrix.indptr) > 0], minlength=len(stores))
    row_store = eligible_keys // n_products
    rows, cols, rank, score, support, confidence, lift = _top_pairs(
        counts,
        key_counts[eligible_keys],
        key_counts,
        min_shared=params.min_shared,
        top=params.top_scope,
        shrinkage=params.shrinkage,
        total=baskets_per_store[row_store],
        self_column=eligible_keys,
    )
    zeros = np.zeros(len(rows), dtype=np.int32)
    store_of_row = stores.values[row_store[rows]]
    table.groups.append(
        SuggestionGroup(
            kind=SuggestionKind.BOUGHT_TOGETHER,
            scope=SuggestionScope.STORE,
            store_id=store_of_row,
            product=partner_ids[eligible_keys[rows] % n_products],
            partner=partner_ids[cols % n_products],
            rank=rank,
            score=score,
            support=support,
            confidence=confidence,
            lift=lift,
            baskets_offline=support,
            baskets_online=zeros,
        )
    )
    return len(unique(store_of_row))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(start, start + length)`` for every pair, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts.astype(np.int64) - offsets, lengths) + np.arange(total, dtype=np.int64)


def _learn_later(
    table: SuggestionTable,
    matrix: sparse.csr_matrix,
    baskets: _Index,
    partner_ids: np.ndarray,
    customer_orders: CustomerOrders,
    params: ComputeParams,
) -> int:
    """Bought later: customers who bought ``a`` and then ``b`` in one of their next ``later_orders`` orders within
    ``later_days``. Every count is of distinct customers (a customer buying the pair twice counts once)."""
    rows = baskets.find(customer_orders.order)
    known = rows >= 0
    customer, placed, rows = customer_orders.customer[known], customer_orders.placed[known], rows[known]
    order = np.lexsort((placed, customer))
    customer, placed, rows = customer[order], placed[order], rows[order]
    earlier_parts, later_parts, who_parts = [], [], []
    horizon = params.later_days * 86400
    for gap in range(1, params.later_orders + 1):
        same = (customer[gap:] == customer[:-gap]) & (placed[gap:] - placed[:-gap] <= horizon)
        earlier_parts.append(rows[:-gap][same])
        later_parts.append(rows[gap:][same])
        who_parts.append(customer[gap:][same])
    earlier = np.concatenate(earlier_parts)
    later = np.concatenate(later_parts)
    who = _Index(np.concatenate(who_parts)).codes.astype(np.int64)  # dense customer codes
    customers = int(who.max()) + 1 if len(who) else 0
    if customers == 0:
        return 0
    n_products = matrix.shape[1]
    sizes = np.diff(matrix.indptr)
    # Every (transition, earlier item) ...
    earlier_len = sizes[earlier]
    transition = np.repeat(np.arange(len(earlier)), earlier_len)
    item_a = matrix.indices[_ranges(matrix.indptr[earlier], earlier_len)].astype(np.int64)
    # ... times every later item of the same transition.
    later_len = sizes[later][transition]
    item_b = matrix.indices[_ranges(matrix.indptr[later][transition], later_len)].astype(np.int64)
    pair_customer = np.repeat(who[transition], later_len)
    item_a = np.repeat(item_a, later_len)
    keep = item_a != item_b
    keys = unique((pair_customer[keep] * n_products + item_a[keep]) * n_products + item_b[keep])
    pair = keys % (n_products * n_products)
    counts = sparse.csr_matrix(
        (np.ones(len(pair), dtype=np.int32), (pair // n_products, pair % n_products)),
        shape=(n_products, n_products),
    )
    counts.sum_duplicates()
    # Customers with each product in an earlier / a later order of a transition.
    earlier_items = unique(
        np.repeat(who, earlier_len) * n_products + matrix.indices[_ranges(matrix.indptr[earlier], earlier_len)]
    )
    later_sizes = sizes[later]
    later_items = unique(
        np.repeat(who, later_sizes) * n_products + matrix.indices[_ranges(matrix.indptr[later], later_sizes)]
    )
    n_earlier = np.bincount(earlier_items % n_products, minlength=n_products)
    n_later = np.bincount(later_items % n_products, minlength=n_products)
    rows_, cols, rank, score, support, confidence, lift = _top_pairs(
        counts,
        n_earlier,
        n_later,
        min_shared=params.later_min_customers,
        top=params.top_all,
        shrinkage=params.shrinkage,
        total=customers,
    )
    zeros = np.zeros(len(rows_), dtype=np.int32)
    table.groups.append(
        SuggestionGroup(
            kind=SuggestionKind.BOUGHT_LATER,
            scope=SuggestionScope.ALL,
            store_id=None,
            product=partner_ids[rows_],
            partner=partner_ids[cols],
            rank=rank,
            score=score,
            support=support,
            confidence=confidence,
            lift=lift,
            baskets_offline=zeros,
            baskets_online=zeros,
        )
    )
    return customers


def _learn_popular(
    table: SuggestionTable,
    lines: Lines,
    products: _Index,
    partner_ids: np.ndarray,
    params: ComputeParams,
    window_end_day: int,
) -> None:
    """Trending (recency-weighted) and bestsellers per scope: all, online, offline, each store (one bincount)."""
    n_products = len(products)
    ages = np.maximum(window_end_day - np.arange(int(lines.day.max()) + 1 if len(lines) else 1), 0)
    weight = np.power(0.5, ages / params.trending_half_life_days)[lines.day]  # one weight per day, then per line
    online = lines.online.astype(bool)
    offline = ~online
    # Rows of a (scope × product) table: 0 all, 1 online, 2 offline, 3.. one per store (offline lines only).
    stores = _Index(lines.store[offline].astype(np.int64))
    scope_of_row: list[tuple[str, int | None]] = [
        (SuggestionScope.ALL, None),
        (SuggestionScope.ONLINE, None),
        (SuggestionScope.OFFLINE, None),
    ]
    scope_of_row += [(SuggestionScope.STORE, int(store_id)) for store_id in stores.values.tolist()]
    n_rows = len(scope_of_row)
    codes = products.codes
    counts = np.empty((n_rows, n_products), dtype=np.int64)
    trending = np.empty((n_rows, n_products), dtype=np.float64)
    counts[1] = np.bincount(codes[online], minlength=n_products)
    trending[1] = np.bincount(codes[online], weights=weight[online], minlength=n_products)
    offline_keys = stores.codes.astype(np.int64) * n_products + codes[offline]
    size = (n_rows - 3) * n_products
    counts[3:] = np.bincount(offline_keys, minlength=size).reshape(n_rows - 3, n_products)
    trending[3:] = np.bincount(offline_keys, weights=weight[offline], minlength=size).reshape(n_rows - 3, n_products)
    counts[2], trending[2] = counts[3:].sum(axis=0), trending[3:].sum(axis=0)
    counts[0], trending[0] = counts[1] + counts[2], trending[1] + trending[2]
    for row, (scope, store_id) in enumerate(scope_of_row):
        for kind, totals in ((SuggestionKind.TRENDING, trending[row]), (SuggestionKind.BESTSELLER, counts[row])):
            top = min(params.top_popular, int(np.count_nonzero(totals)))
            if top == 0:
                continue
            best = np.argpartition(-totals, top - 1)[:top] if top < n_products else np.arange(n_products)
            best = best[np.lexsort((best, -totals[best]))][:top]
            count = len(best)
            zeros = np.zeros(count, dtype=np.int32)
            zeros_f = np.zeros(count, dtype=np.float64)
            table.groups.append(
                SuggestionGroup(
                    kind=kind,
                    scope=scope,
                    store_id=store_id,
                    product=None,
                    partner=partner_ids[best],
                    rank=np.arange(1, count + 1, dtype=np.int16),
                    score=totals[best].astype(np.float64),
                    support=counts[row][best].astype(np.int32),
                    confidence=zeros_f,
                    lift=zeros_f,
                    baskets_offline=zeros,
                    baskets_online=zeros,
                )
            )


# --- writing ----------------------------------------------------------------------------------

SUGGESTION_COLUMNS = (
    "merchant_id",
    "job_id",
    "kind",
    "scope",
    "store_id",
    "product_id",
    "partner_id",
    "rank",
    "score",
    "support",
    "confidence",
    "lift",
    "baskets_offline",
    "baskets_online",
)


def _group_rows(group: SuggestionGroup, merchant_id: int, job_id: int) -> np.ndarray:
    """One group as binary COPY rows (a structured array whose bytes are the COPY payload)."""
    count = len(group)
    kind, scope = group.kind.encode(), group.scope.encode()
    fields: list[tuple[str, str]] = [("_n", ">i2")]
    values: dict[str, object] = {"_n": len(SUGGESTION_COLUMNS)}

    def column(name: str, kind_: str | None, value, size: int) -> None:
        fields.append((f"_l_{name}", ">i4"))
        values[f"_l_{name}"] = size
        if kind_ is not None:
            fields.append((name, kind_))
            values[name] = value

    column("merchant_id", ">i8", merchant_id, 8)
    column("job_id", ">i8", job_id, 8)
    column("kind", f"S{len(kind)}", kind, len(kind))
    column("scope", f"S{len(scope)}", scope, len(scope))
    if group.store_id is None:
        column("store_id", None, None, -1)
    else:
        column("store_id", ">i8", group.store_id, 8)
    if group.product is None:
        column("product_id", None, None, -1)
    else:
        column("product_id", ">i8", group.product, 8)
    column("partner_id", ">i8", group.partner, 8)
    column("rank", ">i2", group.rank, 2)
    column("score", ">f8", group.score, 8)
    column("support", ">i4", group.support, 4)
    column("confidence", ">f8", group.confidence, 8)
    column("lift", ">f8", group.lift, 8)
    column("baskets_offline", ">i4", group.baskets_offline, 4)
    column("baskets_online", ">i4", group.baskets_online, 4)
    rows = np.empty(count, dtype=np.dtype(fields))
    for name, value in values.items():
        rows[name] = value
    return rows


def copy_payload(table: SuggestionTable, merchant_id: int, job_id: int, chunk_rows: int = 200_000) -> Iterator[bytes]:
    """The binary COPY stream of every row, in the order of the resolver's index (product, kind, scope, store,
    rank): the B-tree then grows at its right edge instead of splitting pages all over (3x faster at 800k rows),
    and one product's rows sit together in the heap, which is what the resolver reads."""
    yield b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    groups = [group for group in table.groups if len(group)]
    if groups:
        blocks = [_group_rows(group, merchant_id, job_id) for group in groups]
        width = max(block.dtype.itemsize for block in blocks)
        total = sum(len(block) for block in blocks)
        padded = np.zeros((total, width), dtype=np.uint8)
        lengths = np.empty(total, dtype=np.int64)
        kinds = sorted({group.kind for group in groups})
        scopes = sorted({group.scope for group in groups})
        no_id = np.iinfo(np.int64).max  # NULLs sort last, as in the index
        product_key = np.empty(total, dtype=np.int64)
        kind_key = np.empty(total, dtype=np.int8)
        scope_key = np.empty(total, dtype=np.int8)
        store_key = np.empty(total, dtype=np.int64)
        rank_key = np.empty(total, dtype=np.int16)
        at = 0
        for group, block in zip(groups, blocks, strict=True):
            size, item = len(block), block.dtype.itemsize
            padded[at : at + size, :item] = block.view(np.uint8).reshape(size, item)
            lengths[at : at + size] = item
            product_key[at : at + size] = no_id if group.product is None else group.product
            kind_key[at : at + size] = kinds.index(group.kind)
            scope_key[at : at + size] = scopes.index(group.scope)
            store_key[at : at + size] = no_id if group.store_id is None else group.store_id
            rank_key[at : at + size] = group.rank
            at += size
        del blocks
        order = np.lexsort((rank_key, store_key, scope_key, kind_key, product_key))
        columns = np.arange(width)
        for start in range(0, total, chunk_rows):
            rows = order[start : start + chunk_rows]
            yield padded[rows][columns < lengths[rows][:, None]].tobytes()
    yield (-1).to_bytes(2, "big", signed=True)


def write_suggestions(raw_connection, table: SuggestionTable, *, merchant_id: int, job_id: int) -> int:
    """COPY every row of ``table`` into the suggestion table under ``job_id``. Returns the number of rows."""
    statement = f"COPY recommendations_suggestion ({', '.join(SUGGESTION_COLUMNS)}) FROM STDIN (FORMAT binary)"  # noqa: S608
    buffer = io.BytesIO()
    with raw_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for payload in copy_payload(table, merchant_id, job_id):
            buffer.write(payload)
            if buffer.tell() >= PARSE_CHUNK_BYTES:
                copy.write(buffer.getvalue())
                buffer = io.BytesIO()
        copy.write(buffer.getvalue())
    return table.rows
