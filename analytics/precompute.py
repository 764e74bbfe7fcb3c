"""Answers of the standard dashboard requests, computed ahead of the first request after each refresh.

What is slow in a dashboard request that nothing has cached yet is the distinct-customer figures (one group per
customer of the range: 1.5M for two years) and top products over long ranges. The dashboard's first screen is
almost always a preset (today … last two years) for the whole merchant, in one of three channel scopes. After
each rollup refresh (``analytics.tasks``) this module computes, for every preset × channel (all, online,
offline), merchant-wide and for each store: the customer figures of the range, of its two comparison periods
(previous, same period last year) and per bucket of the page's interval (new vs returning), and the top products
(the page's 10, the API's default 20; per store for the presets up to a quarter). They are stored as
``PrecomputedAnswer`` rows under the keys ``analytics.cache.cached`` looks up, so the selectors read them as if
they had been cached; any other filter (a category, several stores, a custom range) computes live. Answers never
go stale: every rollup write deletes them in its own transaction, and this module stores them only if no rollup
write committed since the snapshot they were computed from (``presets_precompute``).

The customer figures are computed in one pass in memory: the merchant's customer × day rows of the range
(``CustomerDay``: customer, day, channel, ordered, net cents, first order day, store) are read once with a binary
``COPY`` into numpy arrays sorted by day, so each range is a slice, and each figure a ``bincount`` per customer
(or per bucket × customer) — exact integer counts and cents, the same definitions as
``analytics.selectors._customer_figures_query`` (which the tests compare it with, key by key). Other databases
(development on SQLite) compute every answer with the live queries.
"""

# ruff: noqa: S608 -- SQL here is built from constant table/column names only; values are always parameters.
from __future__ import annotations

import logging
import pickle
import time
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection, transaction

from analytics import selectors
from analytics.cache import PRECOMPUTED_TABLE, answer_digest, precomputed_get, precomputed_store
from analytics.charts import choose_interval
from analytics.filters import Compare, Filters, Preset, merchant_today, preset_range
from analytics.models import RollupState
from analytics.selectors import CustomerFigures
from merchants.models import Merchant

logger = logging.getLogger(__name__)

PRESETS = tuple(preset for preset in Preset if preset != Preset.CUSTOM)
CHANNELS = (None, "online", "offline")
PRODUCT_LIMITS = (10, 20)  # the page's top products, the products API's default page
MARKER = "precomputed_day"  # one row more: the merchant's day the presets were resolved on
PENDING = "precompute_pending"  # a precompute in progress (see ``presets_precompute``)
EPOCH = date(2000, 1, 1)
NO_FIRST_ORDER = -(10**6)  # before any day: a customer without a first order counts as returning (as live)
EXACT_CENTS = 2**53  # float64 sums of integer cents are exact below this
STORE_PRODUCTS_MAX_DAYS = 92  # top products per store for the presets up to a quarter (longer: a 2-year scan)
COPY_HEADER, COPY_TRAILER = 19, 2  # binary COPY: signature, flags, extension length; then the -1 field count


@dataclass(frozen=True)
class PrecomputeResult:
    merchant_id: int
    day: date | None  # the merchant's day the presets were resolved on; None when skipped
    answers: int
    seconds: float
    steps: tuple[tuple[str, float], ...] = ()


def preset_filters(merchant_id: int, today: date) -> list[Filters]:
    """The filters of every preset × channel for the whole merchant (compare: previous)."""
    return [
        Filters(merchant_id, *preset_range(preset, today), channel=channel, preset=preset)
        for preset in PRESETS
        for channel in CHANNELS
    ]


def customer_keys(filters: Filters) -> list[tuple[Filters, str | None]]:
    """The (filters, interval) of the customer figures a preset's page and summary API read."""
    keys = [(filters, None), (filters, choose_interval(filters))]
    for compare in (Compare.PREVIOUS, Compare.LAST_YEAR):
        keys.append((replace(filters, compare=compare).comparison(), None))
    return keys


def presets_precompute(*, merchant_id: int, force: bool = False, today: date | None = None) -> PrecomputeResult:
    """Compute and store the merchant's preset answers, unless they are there already for the merchant's today
    (``force``: recompute anyway; ``today``: another day than the merchant's, for tests).

    On PostgreSQL, outside a transaction (the task), the answers are computed from one ``REPEATABLE READ``
    snapshot without holding the rollup writers' lock, so a refresh does not wait for them; the lock is taken
    only to store them, after checking that no rollup write committed since the snapshot (the merchant's
    ``RollupState`` row, which every rollup write — refresh, rebuild, rebuild of derived tables — updates in
    its transaction, and a *pending* row inserted before the snapshot, which every rollup write deletes): if one
    did, PostgreSQL raises a serialisation failure (``OperationalError``: the task tries again from a fresh
    snapshot, a bounded number of times, never holding the lock for the computation). Elsewhere (inside a
    transaction, other databases) the lock is held throughout."""
    from analytics.services import _merchant_lock  # the writers' lock: one definition

    started = time.perf_counter()
    merchant = Merchant.objects.get(pk=merchant_id)
    today = today or merchant_today(merchant)
    if not force and precomputed_day(merchant_id) == today:
        return PrecomputeResult(merchant_id, None, 0, time.perf_counter() - started)
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    pending = uuid.uuid4().hex
    if snapshot:
        # The row the check below locks: it must be in the snapshot (a first rollup write creates it otherwise).
        RollupState.objects.get_or_create(merchant_id=merchant_id)
        with connection.cursor() as cursor:  # committed now: a rollup write from here on deletes it
            cursor.execute(
                f"INSERT INTO {PRECOMPUTED_TABLE} (merchant_id, name, digest, value, computed_at) "
                "VALUES (%s, %s, %s, %s, now())",
                [merchant_id, PENDING, pending, pickle.dumps(None)],
            )
    with transaction.atomic(), connection.cursor() as cursor:
        if snapshot:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        else:
            _merchant_lock(cursor, merchant_id)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL statement_timeout = 0")  # one pass over the customer rows: seconds
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        answers, steps = presets_answers(merchant_id, today)
        mark = time.perf_counter()
        if snapshot:
            _merchant_lock(cursor, merchant_id)  # a rollup write in progress: wait for it (then fail below)
            cursor.execute("SELECT 1 FROM analytics_rollupstate WHERE merchant_id = %s FOR UPDATE", [merchant_id])
            cursor.execute(
                f"DELETE FROM {PRECOMPUTED_TABLE} WHERE merchant_id = %s AND name = %s AND digest = %s",
                [merchant_id, PENDING, pending],
            )
        stored = precomputed_store(merchant_id, [*answers, (MARKER, (), today)])
        steps.append(("store", round(time.perf_counter() - mark, 2)))
    seconds = time.perf_counter() - started
    logger.info("analytics presets of merchant %s: %s answers in %.1fs", merchant_id, stored, seconds)
    return PrecomputeResult(merchant_id, today, stored, seconds, tuple(steps))


def presets_answers(merchant_id: int, today: date) -> tuple[list[tuple[str, tuple, object]], list]:
    """(name, arguments, value) of every precomputed answer, as ``analytics.cache.cached`` keys them."""
    steps: list[tuple[str, float]] = []
    mark = time.perf_counter()
    all_filters = preset_filters(merchant_id, today)
    wanted = {}
    for filters in all_filters:
        for key_filters, interval in customer_keys(filters):
            wanted[(selectors._filters_key(key_filters), interval, False)] = (key_filters, interval)
    answers: list[tuple[str, tuple, object]] = []
    if connection.vendor == "postgresql":
        table = CustomerTable.load(merchant_id, min(f.date_from for f, _ in wanted.values()), today)
        steps.append(("customer rows", round(time.perf_counter() - mark, 2)))
        mark = time.perf_counter()
        for arguments, (filters, interval) in wanted.items():
            value = table.figures(filters.date_from, filters.date_to, filters.channel, interval)
            if value is None:  # sums too large for exact float cents: the live query
                value = selectors._customer_figures_query(filters, interval=interval, by_store_channel=False)
            answers.append(("customers", arguments, value))
        steps.append(("customer figures", round(time.perf_counter() - mark, 2)))
        mark = time.perf_counter()
        for store_id, store_table in table.by_store():  # a store's own dashboard, or the store filter
            for filters, interval in wanted.values():
                scoped = replace(filters, store_ids=frozenset({store_id}))
                value = store_table.figures(filters.date_from, filters.date_to, filters.channel, interval)
                if value is None:
                    value = selectors._customer_figures_query(scoped, interval=interval, by_store_channel=False)
                answers.append(("customers", (selectors._filters_key(scoped), interval, False), value))
        steps.append(("customer figures per store", round(time.perf_counter() - mark, 2)))
        del table
    else:
        for arguments, (filters, interval) in wanted.items():
            value = selectors._customer_figures_query(filters, interval=interval, by_store_channel=False)
            answers.append(("customers", arguments, value))
        steps.append(("customer figures", round(time.perf_counter() - mark, 2)))
    mark = time.perf_counter()
    ranges = {(filters.date_from, filters.date_to): filters for filters in all_filters if filters.channel is None}
    for filters in ranges.values():
        by_channel = _product_rows(filters)
        for channel in CHANNELS:
            rows = by_channel[channel]
            for limit in PRODUCT_LIMITS:
                scoped = replace(filters, channel=channel)
                answers.append(("products", (selectors._filters_key(scoped), limit, 0), rows[:limit]))
    steps.append(("top products", round(time.perf_counter() - mark, 2)))
    if connection.vendor == "postgresql":
        mark = time.perf_counter()
        short = [f for f in ranges.values() if f.days <= STORE_PRODUCTS_MAX_DAYS]
        if short:
            table = StoreProductTable.load(merchant_id, min(f.date_from for f in short), today)
            for filters in short:
                for channel in CHANNELS:
                    for store_id, rows in table.top(filters.date_from, filters.date_to, channel, max(PRODUCT_LIMITS)):
                        scoped = replace(filters, channel=channel, store_ids=frozenset({store_id}))
                        for limit in PRODUCT_LIMITS:
                            answers.append(("products", (selectors._filters_key(scoped), limit, 0), rows[:limit]))
        steps.append(("top products per store", round(time.perf_counter() - mark, 2)))
    return answers, steps


# --- customer figures in memory ---------------------------------------------------------------------------


class CustomerTable:
    """The merchant's customer × day rows of a span as numpy arrays sorted by day (days since ``EPOCH``),
    customers numbered 0..n-1."""

    ROW = np.dtype(
        [
            ("fields", ">i2"),
            ("customer_length", ">i4"),
            ("customer", ">i8"),
            ("day_length", ">i4"),
            ("day", ">i4"),
            ("online_length", ">i4"),
            ("online", ">i2"),
            ("ordered_length", ">i4"),
            ("ordered", ">i2"),
            ("net_length", ">i4"),
            ("net", ">i8"),
            ("first_length", ">i4"),
            ("first", ">i4"),
            ("store_length", ">i4"),
            ("store", ">i8"),
        ]
    )

    def __init__(self, customer, day, online, ordered, net, first_by_customer, store=None):
        self.customer, self.day, self.online, self.ordered, self.net = customer, day, online, ordered, net
        self.first = first_by_customer
        self.count = len(first_by_customer)
        self.store = store  # the row's store id (-1: none), when loaded; None in a store's own table

    @classmethod
    def load(cls, merchant_id: int, date_from: date, date_to: date) -> CustomerTable:
        sql = f"""
            COPY (
                SELECT customer_id, (local_date - DATE '{EPOCH.isoformat()}'), (channel = 'online')::int::int2,
                       (orders > 0)::int::int2, (net * 100)::int8,
                       COALESCE(first_date - DATE '{EPOCH.isoformat()}', {NO_FIRST_ORDER}),
                       COALESCE(store_id, -1)::int8
                FROM analytics_customerday
                WHERE merchant_id = {int(merchant_id)}
                  AND local_date BETWEEN DATE '{date_from.isoformat()}' AND DATE '{date_to.isoformat()}'
            ) TO STDOUT (FORMAT BINARY)
        """
        rows = _copy_rows(sql, cls.ROW, 7)
        order = np.argsort(rows["day"], kind="stable")

        def column(name, kind):  # one field, in day order, native: the raw rows are dropped after
            return rows[name][order].astype(kind)

        customers, index = np.unique(column("customer", np.int64), return_inverse=True)
        first = np.full(len(customers), NO_FIRST_ORDER, dtype=np.int32)
        np.maximum.at(first, index, column("first", np.int32))  # as max(first_date) per customer, live
        return cls(
            index.reshape(-1),
            column("day", np.int32),
            column("online", bool),
            column("ordered", bool),
            column("net", np.int64),
            first,
            column("store", np.int64),
        )

    def by_store(self):
        """(store id, that store's rows as a table of their own, customers renumbered) for each store."""
        if not len(self.store):
            return
        order = np.argsort(self.store, kind="stable")  # within a store, rows stay in day order
        stores = self.store[order]
        starts = np.flatnonzero(np.r_[True, stores[1:] != stores[:-1]])
        ends = np.r_[starts[1:], len(stores)]
        for start, end in zip(starts, ends, strict=True):
            if stores[start] < 0:
                continue  # online rows without a fulfilling store
            rows = order[start:end]
            customers, local = np.unique(self.customer[rows], return_inverse=True)
            yield (
                int(stores[start]),
                CustomerTable(
                    local, self.day[rows], self.online[rows], self.ordered[rows], self.net[rows], self.first[customers]
                ),
            )

    def figures(
        self, date_from: date, date_to: date, channel: str | None, interval: str | None
    ) -> dict[tuple[date | None, object], CustomerFigures] | None:
        """What ``_customer_figures_query`` answers for the whole merchant (no store, no category); None when
        the range's cents are too large to sum exactly in float64."""
        start, end = (date_from - EPOCH).days, (date_to - EPOCH).days
        low, high = np.searchsorted(self.day, start, "left"), np.searchsorted(self.day, end, "right")
        customer, day = self.customer[low:high], self.day[low:high]
        online, ordered, net = self.online[low:high], self.ordered[low:high], self.net[low:high]
        if channel is not None:
            keep = online if channel == "online" else ~online
            customer, day, online, ordered, net = (a[keep] for a in (customer, day, online, ordered, net))
        if len(net) and int(np.abs(net).sum()) >= EXACT_CENTS:
            return None
        if interval is None:
            group, groups = customer, self.count
        else:
            bucket = _bucket_starts(day, interval)
            keys, group = np.unique(bucket.astype(np.int64) * self.count + customer, return_inverse=True)
            groups = len(keys)
        bought = np.bincount(group[ordered], minlength=groups) > 0
        bought_online = np.bincount(group[ordered & online], minlength=groups) > 0
        bought_offline = np.bincount(group[ordered & ~online], minlength=groups) > 0
        cents = np.bincount(group, weights=net.astype(np.float64), minlength=groups)
        if interval is None:
            group_customer = np.arange(groups)
            group_bucket = np.zeros(groups, dtype=np.int64)
            thresholds = np.array([start])
            periods: list[date | None] = [None]
        else:
            group_customer = keys % self.count
            starts, group_bucket = np.unique(keys // self.count, return_inverse=True)
            thresholds = np.maximum(starts, start)  # a first bucket that starts before the range: the range
            periods = [EPOCH + timedelta(days=int(value)) for value in starts]
        returning = bought & (self.first[group_customer] < thresholds[group_bucket])
        both = bought & bought_online & bought_offline
        online_only = bought & bought_online & ~bought_offline
        offline_only = bought & ~bought_online & bought_offline

        def count(mask):
            return np.bincount(group_bucket[mask], minlength=len(periods))

        def money(mask):
            return np.bincount(group_bucket[mask], weights=cents[mask], minlength=len(periods))

        columns = (
            count(bought),
            count(returning),
            count(both),
            money(both),
            count(online_only),
            money(online_only),
            count(offline_only),
            money(offline_only),
        )
        result: dict[tuple[date | None, object], CustomerFigures] = {}
        for position, period in enumerate(periods):
            values = [column[position] for column in columns]
            if not values[0]:
                continue
            result[(period, None)] = CustomerFigures(
                customers=int(values[0]),
                returning=int(values[1]),
                omnichannel=int(values[2]),
                omnichannel_net=_cents(values[3]),
                online_only=int(values[4]),
                online_only_net=_cents(values[5]),
                offline_only=int(values[6]),
                offline_only_net=_cents(values[7]),
            )
        return result


class StoreProductTable:
    """The merchant's product × store × day rows of a span (``ProductStoreDay``, rows with a store) as numpy
    arrays sorted by day: units in thousandths and money in cents, exact integers."""

    MEASURES = ("units", "gross", "discounts", "refunds", "net")
    ROW = np.dtype(
        [("fields", ">i2")]
        + [
            item
            for name, kind in (("day", ">i4"), ("store", ">i8"), ("product", ">i8"), ("online", ">i2"))
            + tuple((measure, ">i8") for measure in MEASURES)
            for item in ((f"{name}_length", ">i4"), (name, kind))
        ]
    )

    def __init__(self, rows, order):
        self.day = rows["day"][order].astype(np.int32)
        self.store = rows["store"][order].astype(np.int64)
        self.product = rows["product"][order].astype(np.int64)
        self.online = rows["online"][order].astype(bool)
        self.measures = {measure: rows[measure][order].astype(np.int64) for measure in self.MEASURES}
        self.all_stores = np.unique(self.store)

    @classmethod
    def load(cls, merchant_id: int, date_from: date, date_to: date) -> StoreProductTable:
        sql = f"""
            COPY (
                SELECT (local_date - DATE '{EPOCH.isoformat()}'), store_id::int8, product_id::int8,
                       (channel = 'online')::int::int2, (units * 1000)::int8, (gross * 100)::int8,
                       (discounts * 100)::int8, (refunds * 100)::int8, (net * 100)::int8
                FROM analytics_productstoreday
                WHERE merchant_id = {int(merchant_id)} AND store_id IS NOT NULL
                  AND local_date BETWEEN DATE '{date_from.isoformat()}' AND DATE '{date_to.isoformat()}'
            ) TO STDOUT (FORMAT BINARY)
        """
        rows = _copy_rows(sql, cls.ROW, 9)
        return cls(rows, np.argsort(rows["day"], kind="stable"))

    def top(self, date_from: date, date_to: date, channel: str | None, limit: int):
        """(store id, its ``limit`` first rows as the products selector caches them) for each store with rows."""
        start, end = (date_from - EPOCH).days, (date_to - EPOCH).days
        low, high = np.searchsorted(self.day, start, "left"), np.searchsorted(self.day, end, "right")
        keep = np.zeros(len(self.day), dtype=bool)
        keep[low:high] = True
        if channel is not None:
            keep &= self.online if channel == "online" else ~self.online
        for store_id in np.setdiff1d(self.all_stores, self.store[keep]):
            yield int(store_id), []  # a store with rows in the span but none in this range
        store, product, online = self.store[keep], self.product[keep], self.online[keep]
        measures = {name: values[keep] for name, values in self.measures.items()}
        if any(int(np.abs(values).sum()) >= EXACT_CENTS for values in measures.values()):
            return  # too large for exact float sums: these stores are computed live
        if len(store) and (store.min() < 0 or store.max() >= 2**31 or product.min() < 0 or product.max() >= 2**32):
            return  # ids beyond the packed key below: computed live
        keys, group = np.unique((store << 32) + product, return_inverse=True)
        group = group.reshape(-1)
        groups = len(keys)
        pairs = (keys >> 32, keys & 0xFFFFFFFF)
        sums = {
            name: np.rint(np.bincount(group, weights=values.astype(np.float64), minlength=groups)).astype(np.int64)
            for name, values in measures.items()
        }
        net = measures["net"].astype(np.float64)
        online_net = np.rint(np.bincount(group[online], weights=net[online], minlength=groups)).astype(np.int64)
        offline_net = np.rint(np.bincount(group[~online], weights=net[~online], minlength=groups)).astype(np.int64)
        order = np.lexsort((pairs[1], -sums["net"], pairs[0]))  # by store, then net descending, then product
        stores = pairs[0][order]
        starts = np.flatnonzero(np.r_[True, stores[1:] != stores[:-1]]) if groups else np.zeros(0, np.int64)
        for position, first in enumerate(starts):
            last = starts[position + 1] if position + 1 < len(starts) else groups
            chosen = order[first : min(last, first + limit)]
            yield (
                int(stores[first]),
                [
                    (
                        int(pairs[1][g]),
                        Decimal(int(sums["units"][g])).scaleb(-3),
                        _cents(sums["gross"][g]),
                        _cents(sums["discounts"][g]),
                        _cents(sums["refunds"][g]),
                        _cents(sums["net"][g]),
                        _cents(online_net[g]),
                        _cents(offline_net[g]),
                    )
                    for g in chosen
                ],
            )


def _copy_rows(sql: str, dtype: np.dtype, fields: int) -> np.ndarray:
    """The rows of a binary ``COPY ... TO STDOUT`` of fixed-width, non-NULL columns, as a numpy record array."""
    data = bytearray()  # one buffer, read in place by numpy (no copies: hundreds of MB at 10M lines)
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in copy:
            data += chunk
    count = max(0, len(data) - COPY_HEADER - COPY_TRAILER) // dtype.itemsize
    rows = np.frombuffer(data, dtype=dtype, count=count, offset=COPY_HEADER) if count else np.zeros(0, dtype=dtype)
    if len(rows) and (rows["fields"] != fields).any():
        raise ValueError("unexpected COPY layout")
    return rows


def _bucket_starts(day: np.ndarray, interval: str) -> np.ndarray:
    """The first day of each day's bucket (days since ``EPOCH``): itself, its ISO week's Monday, its month's 1st."""
    if interval == "day":
        return day
    if interval == "week":
        return day - (day + EPOCH.weekday()) % 7
    epoch = np.datetime64(EPOCH, "D")
    months = (epoch + day.astype("timedelta64[D]")).astype("datetime64[M]")
    return (months.astype("datetime64[D]") - epoch).astype(np.int32)


def _cents(value) -> Decimal:
    return Decimal(int(round(float(value)))).scaleb(-2)


# --- top products ------------------------------------------------------------------------------------------


def _product_rows(filters: Filters) -> dict[str | None, list[tuple]]:
    """Per channel scope (None, online, offline), every product of the range as the rows the products selector
    caches, in its order (net sales descending, then id): one query for the three scopes."""
    columns = "product_id, channel, units, gross, discounts, refunds, net"
    day_ranges, months = selectors._split_months(filters.date_from, filters.date_to)
    parts, params = [], []
    if day_ranges:
        ranges = " OR ".join("local_date BETWEEN %s AND %s" for _ in day_ranges)
        parts.append(f"SELECT {columns} FROM analytics_productday WHERE merchant_id = %s AND ({ranges})")
        params += [filters.merchant_id, *[day for pair in day_ranges for day in pair]]
    if months:
        parts.append(f"SELECT {columns} FROM analytics_productmonth WHERE merchant_id = %s AND month BETWEEN %s AND %s")
        params += [filters.merchant_id, months[0], months[-1]]
    sql = f"""
        SELECT product_id, channel, sum(units), sum(gross), sum(discounts), sum(refunds), sum(net)
        FROM ({" UNION ALL ".join(parts)}) AS product_rows
        GROUP BY product_id, channel
    """
    zero = Decimal(0)
    totals: dict[str | None, dict[int, list]] = {channel: {} for channel in CHANNELS}
    for product_id, channel, *sums in selectors._fetch_heavy(sql, params):
        for scope in (None, channel):
            if scope not in totals:
                continue  # a channel other than online/offline: in the total only
            row = totals[scope].setdefault(product_id, [zero] * 7)
            for position, value in enumerate(sums):
                row[position] += value or zero
            if channel in {"online", "offline"}:
                row[5 if channel == "online" else 6] += sums[4] or zero
    return {
        scope: sorted(((product_id, *row) for product_id, row in rows.items()), key=lambda row: (-row[5], row[0]))
        for scope, rows in totals.items()
    }


def precomputed_day(merchant_id: int) -> date | None:
    """The merchant's day the stored answers were resolved on (None: none stored since the last refresh)."""
    return precomputed_get(merchant_id, MARKER, answer_digest(()))
