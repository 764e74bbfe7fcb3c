"""The benchmark merchant of issues 4, 6 and 7: 10,000,000 order lines, 200 stores, 20,000 products, 2 years,
~1.5M customers, loaded through the bulk path (binary ``COPY``) into its own database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ .venv/bin/python benchmarks/dataset10m.py \
        [--lines 10000000] [--db newretail_bench10m] [--force]

Only the *server* of ``DATABASE_URL`` is used. The database ``--db`` is reused when a previous run completed it
with the same ``--lines``/``--seed`` (the marker table ``bench_dataset``); otherwise it is dropped, recreated and
migrated, then:

- the merchant ``bench10m`` (USD, America/New_York), its owner ``bench@newretail.local`` and an API key with
  every scope, created by ``merchants.services`` (the key is written to ``benchmarks/results/bench10m_key.txt``);
- 200 stores in 25 cities (9 IANA time zones, US and Canada, lat/lng), 20,000 products in 48 categories under
  8 parents (lognormal prices), with the ORM;
- customers, their identifiers (hashed with ``sales.ingest.identity.IdentityHasher``: the real HMAC of the
  normalised value, with ``IDENTITY_HASH_KEY`` of ``benchmarks/run.py``'s ``BENCH_ENV``), orders and order lines,
  generated with numpy and written with binary ``COPY ... FREEZE`` straight into the tables, after dropping their
  secondary indexes, unique constraints and foreign keys, which are recreated afterwards from their own catalog
  definitions (checked identical before and after).

Amounts follow ``sales.ingest.service`` exactly (integer cents): sale line gross = unit price × quantity,
net = gross − discount; return line gross = net = −(unit price × returned quantity), discount 0, on the local
day of the refund; order gross = Σ sale gross, discounts = Σ line discounts + order discount, refunds = Σ
values given back, net = gross − discounts − refunds. Local days: the store's time zone offline, the
merchant's online (click-and-collect included), as the ingest computes them.

The shape (documented in ``benchmarks/README.md``, "Dataset"): growth, weekly and Christmas seasonality;
Zipf-like product and store popularity; 35% online orders, 8% of them click-and-collect; 1.5% cancelled;
~4% of orders refunded on a later day; planted co-purchase: products come in bundles of 4 sharing an SKU stem
(``P0123-1`` … ``P0123-4``) and 45% of the extra lines of an order are a bundle partner of its first line;
home stores and repeat customers (heavy-tailed); ~20% of customers omnichannel.

Results (time and rows/s per table): ``benchmarks/results/dataset10m.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import struct
import sys
import time
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import BENCH_ENV, database_url, psycopg_url  # noqa: E402 (benchmarks/run.py, the ingest benchmark)

SLUG = "bench10m"
OWNER_EMAIL = "bench@newretail.local"
MERCHANT_TZ = "America/New_York"
DEFAULT_DB = "newretail_bench10m"
KEY_FILE = RESULTS / "bench10m_key.txt"  # another --db writes results/<db>_key.txt
LOADED_TABLES = ("sales_customer", "sales_customeridentifier", "sales_order", "sales_orderline")
PG_EPOCH = date(2000, 1, 1)
PG_EPOCH_SECONDS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
CHUNK_ORDERS = 100_000

# city, region, state/province, country, IANA zone, latitude, longitude, weight (bigger cities, more stores)
CITIES = [
    ("New York", "Northeast", "NY", "US", "America/New_York", 40.7128, -74.0060, 3.0),
    ("Boston", "Northeast", "MA", "US", "America/New_York", 42.3601, -71.0589, 1.5),
    ("Philadelphia", "Northeast", "PA", "US", "America/New_York", 39.9526, -75.1652, 1.5),
    ("Washington", "Northeast", "DC", "US", "America/New_York", 38.9072, -77.0369, 1.5),
    ("Atlanta", "Southeast", "GA", "US", "America/New_York", 33.7490, -84.3880, 1.3),
    ("Miami", "Southeast", "FL", "US", "America/New_York", 25.7617, -80.1918, 1.5),
    ("Orlando", "Southeast", "FL", "US", "America/New_York", 28.5384, -81.3789, 1.0),
    ("Charlotte", "Southeast", "NC", "US", "America/New_York", 35.2271, -80.8431, 0.8),
    ("Chicago", "Midwest", "IL", "US", "America/Chicago", 41.8781, -87.6298, 2.2),
    ("Minneapolis", "Midwest", "MN", "US", "America/Chicago", 44.9778, -93.2650, 0.9),
    ("St. Louis", "Midwest", "MO", "US", "America/Chicago", 38.6270, -90.1994, 0.7),
    ("Dallas", "South Central", "TX", "US", "America/Chicago", 32.7767, -96.7970, 1.6),
    ("Houston", "South Central", "TX", "US", "America/Chicago", 29.7604, -95.3698, 1.6),
    ("Austin", "South Central", "TX", "US", "America/Chicago", 30.2672, -97.7431, 1.0),
    ("Denver", "Mountain", "CO", "US", "America/Denver", 39.7392, -104.9903, 1.0),
    ("Salt Lake City", "Mountain", "UT", "US", "America/Denver", 40.7608, -111.8910, 0.6),
    ("Phoenix", "Southwest", "AZ", "US", "America/Phoenix", 33.4484, -112.0740, 1.2),
    ("Los Angeles", "West", "CA", "US", "America/Los_Angeles", 34.0522, -118.2437, 2.6),
    ("San Francisco", "West", "CA", "US", "America/Los_Angeles", 37.7749, -122.4194, 1.6),
    ("San Diego", "West", "CA", "US", "America/Los_Angeles", 32.7157, -117.1611, 1.0),
    ("Seattle", "Pacific Northwest", "WA", "US", "America/Los_Angeles", 47.6062, -122.3321, 1.2),
    ("Portland", "Pacific Northwest", "OR", "US", "America/Los_Angeles", 45.5152, -122.6784, 0.8),
    ("Honolulu", "Hawaii", "HI", "US", "Pacific/Honolulu", 21.3069, -157.8583, 0.4),
    ("Toronto", "Canada", "ON", "CA", "America/Toronto", 43.6532, -79.3832, 1.2),
    ("Vancouver", "Canada", "BC", "CA", "America/Vancouver", 49.2827, -123.1207, 0.8),
]
CATEGORY_TREE = {
    "Women": ["Dresses", "Tops", "Knitwear", "Trousers", "Coats", "Lingerie"],
    "Men": ["Shirts", "T-shirts", "Sweaters", "Jeans", "Jackets", "Suits"],
    "Kids": ["Baby", "Girls", "Boys", "School", "Kids shoes", "Toys"],
    "Shoes": ["Sneakers", "Boots", "Sandals", "Heels", "Loafers", "Slippers"],
    "Accessories": ["Bags", "Belts", "Scarves", "Hats", "Sunglasses", "Jewellery"],
    "Home": ["Bedding", "Bath", "Kitchen", "Decor", "Candles", "Tableware"],
    "Beauty": ["Skincare", "Make-up", "Fragrance", "Hair", "Body", "Men's grooming"],
    "Sport": ["Running", "Yoga", "Outdoor", "Swim", "Gym", "Cycling"],
}
FIRST_NAMES = [
    "Ann",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Felix",
    "Grace",
    "Hugo",
    "Iris",
    "Jack",
    "Kate",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Lee",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Martin",
    "Lopez",
    "Wilson",
    "Clark",
    "Lewis",
    "Young",
    "King",
    "Wright",
    "Hill",
]


# --- binary COPY --------------------------------------------------------------------------------


def binary_rows(count: int, fields: list[tuple[str, object]]) -> bytes:
    """``count`` rows of PostgreSQL's binary COPY format, built as one numpy structured array.

    Each field is ``(kind, value)`` where value is a numpy array of ``count`` values or a constant:
    ``int8``/``int4`` (integers), ``date`` (days since 2000-01-01), ``ts`` (µs since 2000-01-01 UTC),
    ``num2``/``num3`` (integers scaled by 100 / 1000: cents, thousandths), ``text`` (bytes constant or a numpy
    ``S<n>`` array of exactly n bytes each), ``bool``, ``null``. Numerics go as 4 base-10000 digits (weight 2),
    which PostgreSQL normalises on input, so every value below 10^12 fits one fixed-width layout.
    """
    layout: list[tuple] = [("fields", ">i2")]
    for index, (kind, value) in enumerate(fields):
        layout.append((f"l{index}", ">i4"))
        if kind in ("int8", "ts"):
            layout.append((f"v{index}", ">i8"))
        elif kind in ("int4", "date"):
            layout.append((f"v{index}", ">i4"))
        elif kind == "bool":
            layout.append((f"v{index}", "u1"))
        elif kind in ("num2", "num3"):
            layout.append((f"v{index}", ">u2", (8,)))
        elif kind == "text":
            width = len(value) if isinstance(value, bytes) else value.dtype.itemsize
            if width:
                layout.append((f"v{index}", f"S{width}"))
        elif kind != "null":
            raise ValueError(f"unknown field kind {kind!r}")
    rows = np.empty(count, dtype=layout)
    rows["fields"] = len(fields)
    for index, (kind, value) in enumerate(fields):
        length = f"l{index}"
        if kind == "null":
            rows[length] = -1
        elif kind in ("int8", "ts"):
            rows[length], rows[f"v{index}"] = 8, value
        elif kind in ("int4", "date"):
            rows[length], rows[f"v{index}"] = 4, value
        elif kind == "bool":
            rows[length], rows[f"v{index}"] = 1, 1 if value else 0
        elif kind in ("num2", "num3"):
            scale = 2 if kind == "num2" else 3
            scaled = np.broadcast_to(np.asarray(value, dtype=np.int64), (count,))
            absolute = np.abs(scaled)
            whole = absolute // 10**scale
            digits = np.empty((count, 8), dtype=np.uint16)
            digits[:, 0] = 4  # ndigits
            digits[:, 1] = 2  # weight (as int16, 2 is the same bits)
            digits[:, 2] = np.where(scaled < 0, 0x4000, 0)  # sign
            digits[:, 3] = scale  # dscale
            digits[:, 4] = whole // 10**8
            digits[:, 5] = (whole // 10**4) % 10**4
            digits[:, 6] = whole % 10**4
            digits[:, 7] = (absolute % 10**scale) * 10 ** (4 - scale)
            rows[length], rows[f"v{index}"] = 16, digits
        else:  # text
            width = len(value) if isinstance(value, bytes) else value.dtype.itemsize
            rows[length] = width
            if width:
                rows[f"v{index}"] = value
    return rows.tobytes()


def fixed_text(prefix: bytes, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded decimal ``numbers`` as an ``S`` array (vectorised)."""
    digits = np.empty((len(numbers), len(prefix) + width), dtype=np.uint8)
    digits[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    rest = numbers.astype(np.int64).copy()
    for position in range(width - 1, -1, -1):
        digits[:, len(prefix) + position] = 48 + rest % 10
        rest //= 10
    return digits.view(f"S{len(prefix) + width}").ravel()


def hex_text(rng: np.random.Generator, count: int) -> np.ndarray:
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    return alphabet[rng.integers(0, 16, size=(count, 32))].view("S32").ravel()


# --- the database -----------------------------------------------------------------------------


def server_connect(url: str, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(psycopg_url(database_url(url, dbname)), autocommit=True)


def marker_read(url: str, name: str) -> dict | None:
    import psycopg

    with server_connect(url) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return None
    try:
        with psycopg.connect(psycopg_url(database_url(url, name)), autocommit=True) as conn:
            row = conn.execute("SELECT params FROM bench_dataset WHERE finished_at IS NOT NULL").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return row[0] if row else None


def database_recreate(url: str, name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing to drop database {name!r}")
    with server_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def schema_snapshot(cursor) -> list[tuple[str, str, str]]:
    """Every index and constraint of the loaded tables, as (table, name, definition)."""
    cursor.execute(
        """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%(tables)s)
        UNION ALL
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conrelid::regclass::text = ANY(%(tables)s)
        ORDER BY 1, 2, 3
        """,
        {"tables": list(LOADED_TABLES)},
    )
    return [tuple(row) for row in cursor.fetchall()]


def secondary_schema(cursor) -> dict[str, list[tuple[str, str, str]]]:
    """What can go during the load: foreign keys, unique constraints, plain indexes (not primary keys nor
    check constraints), as ``{table: [(kind, name, definition)]}``."""
    found: dict[str, list[tuple[str, str, str]]] = {table: [] for table in LOADED_TABLES}
    cursor.execute(
        """
        SELECT conrelid::regclass::text, contype, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u', 'f') ORDER BY conname
        """,
        [list(LOADED_TABLES)],
    )
    for table, kind, name, definition in cursor.fetchall():
        found[table].append(("unique" if kind == "u" else "foreign", name, definition))
    cursor.execute(
        """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE tablename = ANY(%s)
          AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))
        ORDER BY indexname
        """,
        [list(LOADED_TABLES)],
    )
    for table, name, definition in cursor.fetchall():
        found[table].append(("index", name, definition))
    return found


def secondary_drop(cursor, schema) -> None:
    for table, items in schema.items():
        for kind, name, _ in items:
            if kind == "index":
                cursor.execute(f'DROP INDEX "{name}"')
            else:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def secondary_create(cursor, schema, timings: dict) -> None:
    cursor.execute("SET maintenance_work_mem = '1GB'")
    cursor.execute("SET max_parallel_maintenance_workers = 1")
    for order in ("unique", "index", "foreign"):  # foreign keys last: they read the other tables' indexes
        for table, items in schema.items():
            for kind, name, definition in items:
                if kind != order:
                    continue
                started = time.perf_counter()
                if kind == "index":
                    cursor.execute(definition)
                else:
                    cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                timings[f"{table}.{name}"] = round(time.perf_counter() - started, 2)
                print(f"    {table}.{name}: {timings[f'{table}.{name}']} s", flush=True)


# --- the generated business -------------------------------------------------------------------


class Calendar:
    """Local days of the window and the UTC offset of each (zone, day, hour) as the zone's rules say."""

    def __init__(self, first: date, days: int, zones: list[str]):
        self.first, self.days, self.zones = first, days, zones
        self.days_since_2000 = (first - PG_EPOCH).days + np.arange(days, dtype=np.int64)
        self.offsets = np.empty((len(zones), days, 24), dtype=np.int64)
        for z, name in enumerate(zones):
            zone = zoneinfo.ZoneInfo(name)
            for d in range(days):
                day = first + timedelta(days=d)
                for hour in range(24):
                    local = datetime(day.year, day.month, day.day, hour, 30, tzinfo=zone)
                    self.offsets[z, d, hour] = int(local.utcoffset().total_seconds())

    def utc_seconds(self, zone: np.ndarray, day: np.ndarray, second_of_day: np.ndarray) -> np.ndarray:
        """Unix time of a local wall time (fold 0 on ambiguous hours; the local day is
        unchanged either way: offsets only move within the small hours)."""
        hour = second_of_day // 3600
        local = self.days_since_2000[day] * 86400 + second_of_day
        return PG_EPOCH_SECONDS + local - self.offsets[zone, day, hour]


def day_weights(first: date, days: int) -> np.ndarray:
    index = np.arange(days)
    dates = [first + timedelta(days=int(d)) for d in index]
    weekday = np.array([d.weekday() for d in dates])
    day_of_year = np.array([d.timetuple().tm_yday for d in dates])
    weekly = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.4, 1.15])[weekday]
    christmas = 1 + 0.9 * np.exp(-(((day_of_year - 352) / 12.0) ** 2))
    black_friday = 1 + 1.2 * np.exp(-(((day_of_year - 332) / 2.0) ** 2))
    summer = 1 + 0.15 * np.exp(-(((day_of_year - 200) / 25.0) ** 2))
    growth = 0.8 + 0.4 * index / max(days - 1, 1)
    weights = weekly * christmas * black_friday * summer * growth
    return weights / weights.sum()


def draw_seconds(rng, count: int, online: np.ndarray) -> np.ndarray:
    """Second of the local day: stores trade 9:00-21:00 (lunch and after-work peaks), online all day
    (evening peak)."""
    store_hours = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 6, 8, 11, 11, 8, 7, 8, 10, 11, 9, 6, 1, 0, 0], float)
    web_hours = np.array([2, 1, 0.6, 0.4, 0.4, 0.6, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 5, 5, 5, 5.5, 6, 7, 8, 8, 6, 4])
    hours = np.where(
        online,
        rng.choice(24, size=count, p=web_hours / web_hours.sum()),
        rng.choice(24, size=count, p=store_hours / store_hours.sum()),
    )
    return hours * 3600 + rng.integers(0, 3600, size=count)


def zipf_weights(rng, count: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def generate(args, rng, store_count: int, product_count: int, merchant_today: date, now_seconds: int) -> dict:
    """Every order and line as numpy arrays (indexes into the stores and products lists, cents, local days)."""
    lines_target = args.lines
    order_count = round(lines_target / 2.5)
    days = args.days
    first = merchant_today - timedelta(days=days - 1)
    store_city = np.array([index % len(CITIES) for index in range(store_count)])
    zones = sorted({city[4] for city in CITIES} | {MERCHANT_TZ})
    store_zone = np.array([zones.index(CITIES[c][4]) for c in store_city])
    merchant_zone = zones.index(MERCHANT_TZ)
    calendar = Calendar(first, days, zones)
    store_weights = zipf_weights(rng, store_count, 0.7) * np.array([CITIES[c][7] for c in store_city])
    store_weights /= store_weights.sum()

    # Orders: day, channel, store, time.
    day = np.sort(rng.choice(days, size=order_count, p=day_weights(first, days)))
    online = rng.random(order_count) < 0.35
    store = rng.choice(store_count, size=order_count, p=store_weights)
    click_collect = online & (rng.random(order_count) < 0.08)
    has_store = ~online | click_collect

    # Customers: types (0 online only, 1 in store only, 2 both), seeded so that each gets a first order of
    # each of its channels, the rest of the identified orders go to a heavy-tailed few.
    customer_pool = round(1_500_000 * lines_target / 10_000_000)
    kind = rng.choice(3, size=customer_pool, p=[0.30, 0.50, 0.20])
    activity = rng.pareto(1.6, size=customer_pool) + 0.2
    home_store = rng.choice(store_count, size=customer_pool, p=store_weights)
    customer = np.full(order_count, -1, dtype=np.int64)
    identified = np.where(online, rng.random(order_count) < 0.93, rng.random(order_count) < 0.55)
    for is_online, kinds in ((True, (0, 2)), (False, (1, 2))):
        orders_here = np.flatnonzero(identified & (online == is_online))
        rng.shuffle(orders_here)
        eligible = np.flatnonzero(np.isin(kind, kinds))
        rng.shuffle(eligible)
        seeded = min(len(eligible), len(orders_here))
        customer[orders_here[:seeded]] = eligible[:seeded]
        rest = orders_here[seeded:]
        weights = activity[eligible] / activity[eligible].sum()
        customer[rest] = rng.choice(eligible, size=len(rest), p=weights)
    # In-store customers shop mostly at their home store.
    loyal = ~online & (customer >= 0) & (rng.random(order_count) < 0.75)
    store[loyal] = home_store[customer[loyal]]
    store = np.where(has_store, store, -1)

    zone = np.where(online, merchant_zone, store_zone[np.maximum(store, 0)])
    second = draw_seconds(rng, order_count, online)
    placed = calendar.utc_seconds(zone, day, second)
    future = placed > now_seconds  # today's orders stop now: later ones move to yesterday
    day[future] -= 1
    placed[future] = calendar.utc_seconds(zone[future], day[future], second[future])
    chronological = np.argsort(placed, kind="stable")  # order ids follow time, as real data arrives
    day, online, store, customer = (
        day[chronological],
        online[chronological],
        store[chronological],
        customer[chronological],
    )
    click_collect, zone = click_collect[chronological], zone[chronological]
    second, placed = second[chronological], placed[chronological]
    cancelled = rng.random(order_count) < 0.015

    # Sale lines per order: 1 + Poisson, then nudged so that sale + return lines == --lines exactly.
    refunded = ~cancelled & (rng.random(order_count) < 0.04)
    refund_after = np.minimum(rng.geometric(0.12, size=order_count), 60)
    refunded &= day + refund_after <= days - 1
    refund_day = np.where(refunded, day + refund_after, day)
    refund_placed = calendar.utc_seconds(zone, refund_day, second)
    refunded &= refund_placed <= now_seconds
    sale_count = np.minimum(1 + rng.poisson(1.45, size=order_count), 12)
    missing = lines_target - int(sale_count.sum()) - int(refunded.sum())
    while missing:
        if missing > 0:
            np.add.at(sale_count, rng.integers(0, order_count, size=missing), 1)
        else:
            candidates = np.flatnonzero(sale_count > 1)
            chosen = rng.choice(candidates, size=min(-missing, len(candidates)), replace=False)
            sale_count[chosen] -= 1
        missing = lines_target - int(sale_count.sum()) - int(refunded.sum())

    # Products: popularity (Zipf) and bundles of 4 (the SKU stem); prices lognormal per category.
    popularity = zipf_weights(rng, product_count, 1.05)
    sale_total = int(sale_count.sum())
    sale_order = np.repeat(np.arange(order_count), sale_count)
    sale_start = np.cumsum(sale_count) - sale_count
    sale_number = np.arange(sale_total) - np.repeat(sale_start, sale_count)  # 0-based within its order
    product = rng.choice(product_count, size=sale_total, p=popularity)
    first_product = product[np.repeat(sale_start, sale_count)]
    partner = (sale_number > 0) & (rng.random(sale_total) < 0.45)
    bundle_base = (first_product // 4) * 4
    partner_offset = (first_product % 4 + rng.integers(1, 4, size=sale_total)) % 4
    product[partner] = (bundle_base + partner_offset)[partner]
    product = np.minimum(product, product_count - 1)

    price = np.round(np.exp(rng.normal(3.4, 0.7, size=product_count)), 0) * 100 - 1  # x.99
    price = np.clip(price, 199, 99_999).astype(np.int64)
    quantity = rng.choice([1, 2, 3, 4], size=sale_total, p=[0.82, 0.13, 0.04, 0.01]).astype(np.int64)
    markdown = rng.random(sale_total) < 0.1
    unit_price = np.where(markdown, price[product] * 7 // 10, price[product])
    gross = unit_price * quantity
    discounted = rng.random(sale_total) < 0.15
    discount = np.where(discounted, gross * rng.choice([10, 15, 20, 30], size=sale_total) // 100, 0)
    net = gross - discount

    order_gross = np.bincount(sale_order, weights=gross, minlength=order_count).round().astype(np.int64)
    line_discounts = np.bincount(sale_order, weights=discount, minlength=order_count).round().astype(np.int64)
    order_discount = np.where(rng.random(order_count) < 0.05, np.minimum(500, order_gross - line_discounts), 0).astype(
        np.int64
    )

    # Returns: one line per refunded order, a (partial) return of one of its sale lines, or (1 in 10) an
    # order-level refund without item detail.
    refunded_orders = np.flatnonzero(refunded)
    picked_line = sale_start[refunded_orders] + rng.integers(0, sale_count[refunded_orders])
    returned_quantity = np.maximum(1, (quantity[picked_line] * rng.random(len(refunded_orders))).astype(np.int64))
    returned_quantity = np.minimum(returned_quantity, quantity[picked_line])
    item_level = rng.random(len(refunded_orders)) < 0.9
    return_product = np.where(item_level, product[picked_line], -1)
    return_price = np.where(item_level, unit_price[picked_line], 0)
    return_quantity = np.where(item_level, -returned_quantity, 0)
    return_value = np.where(
        item_level, unit_price[picked_line] * returned_quantity, np.maximum(100, order_gross[refunded_orders] // 10)
    )
    refunds = np.zeros(order_count, dtype=np.int64)
    refunds[refunded_orders] = return_value
    discounts = line_discounts + order_discount
    order_net = order_gross - discounts - refunds
    tax = (order_gross - discounts) * 8 // 100
    shipping = np.where(online & ~click_collect & (order_gross < 5000), 595, 0)

    return {
        "first": first,
        "calendar": calendar,
        "zones": zones,
        "store_city": store_city,
        "order_count": order_count,
        "day": day,
        "online": online,
        "store": store,
        "customer": customer,
        "zone": zone,
        "placed": placed,
        "cancelled": cancelled,
        "gross": order_gross,
        "discounts": discounts,
        "refunds": refunds,
        "net": order_net,
        "tax": tax,
        "shipping": shipping,
        "sale_count": sale_count,
        "sale_order": sale_order,
        "sale_number": sale_number,
        "product": product,
        "quantity": quantity,
        "unit_price": unit_price,
        "line_gross": gross,
        "line_discount": discount,
        "line_net": net,
        "refunded_orders": refunded_orders,
        "return_product": return_product,
        "return_price": return_price,
        "return_quantity": return_quantity,
        "return_value": return_value,
        "refund_day": refund_day[refunded_orders],
        "refund_placed": refund_placed[refunded_orders],
        "product_price": price,
        "customer_kind": kind,
        "customer_pool": customer_pool,
    }


# --- writing ------------------------------------------------------------------------------------


def _ts(seconds: np.ndarray) -> np.ndarray:
    return (seconds.astype(np.int64) - PG_EPOCH_SECONDS) * 1_000_000


def reference_data(merchant_today: date, store_count: int, product_count: int, rng, key_file: Path):
    """The merchant, its owner and API key (``merchants.services``), stores and categories/products (ORM)."""
    from decimal import Decimal

    from accounts.models import User
    from catalog.models import Category
    from merchants.models import ApiScope
    from merchants.services import api_key_create, merchant_create
    from stores.models import Store

    password = os.environ.get("BENCH_OWNER_PASSWORD") or secrets.token_urlsafe(12)
    owner = User.objects.create_user(email=OWNER_EMAIL, password=password, full_name="Bench Owner")
    merchant = merchant_create(name="Bench 10M", owner=owner, slug=SLUG, currency="USD", timezone_name=MERCHANT_TZ)
    merchant.onboarding_step = "done"
    merchant.save(update_fields=["onboarding_step"])
    _, raw_key = api_key_create(merchant=merchant, name="bench10m", scopes=list(ApiScope.values), actor=owner)
    key_file.write_text(raw_key + "\n")

    stores = []
    per_city: dict[int, int] = {}
    for index in range(store_count):
        city_index = index % len(CITIES)
        city, region, state, country, zone, lat, lng, _ = CITIES[city_index]
        per_city[city_index] = per_city.get(city_index, 0) + 1
        stores.append(
            Store(
                merchant=merchant,
                code=f"ST{index + 1:03d}",
                name=f"{city} {per_city[city_index]}",
                address_line1=f"{100 + index} Main Street",
                city=city,
                region=region,
                postal_code=f"{10000 + index * 37 % 89999:05d}",
                country=country,
                latitude=Decimal(f"{lat + rng.normal(0, 0.05):.6f}"),
                longitude=Decimal(f"{lng + rng.normal(0, 0.05):.6f}"),
                timezone=zone,
                opened_on=merchant_today - timedelta(days=900 + index * 7),
            )
        )
    Store.objects.bulk_create(stores)
    store_ids = np.array([store.pk for store in Store.objects.for_merchant(merchant).order_by("code")])

    leaves = []
    for parent_name, children in CATEGORY_TREE.items():
        parent = Category.objects.create(merchant=merchant, name=parent_name)
        leaves += [Category.objects.create(merchant=merchant, name=child, parent=parent) for child in children]
    product_category = rng.integers(0, len(leaves), size=product_count // 4).repeat(4)[:product_count]
    return merchant, password, store_ids, leaves, product_category


def products_create(merchant, leaves, product_category, prices) -> np.ndarray:
    from decimal import Decimal

    from catalog.models import Product

    adjectives = [
        "Classic",
        "Organic",
        "Essential",
        "Soft",
        "Slim",
        "Relaxed",
        "Heritage",
        "Studio",
        "Everyday",
        "Premium",
    ]
    rows = []
    for index in range(len(prices)):
        bundle, member = divmod(index, 4)
        category = leaves[product_category[index]]
        rows.append(
            Product(
                merchant=merchant,
                sku=f"P{bundle:04d}-{member + 1}",
                name=f"{adjectives[bundle % len(adjectives)]} {category.name.lower()} {bundle}-{member + 1}",
                category=category,
                brand=["Northwind", "Contoso", "Fabrikam", "Tailspin"][bundle % 4],
                price=Decimal(int(prices[index])) / 100,
            )
        )
    Product.objects.bulk_create(rows, batch_size=5000)
    ids = dict(Product.objects.for_merchant(merchant).values_list("sku", "id"))
    return np.array([ids[f"P{index // 4:04d}-{index % 4 + 1}"] for index in range(len(prices))])


def customers_copy(cursor, merchant, data, rng, load_ts: int) -> tuple[np.ndarray, dict]:
    """Customers with at least one order (renumbered 1..n), their identifiers hashed as the ingest does."""
    from sales.ingest.identity import IdentityHasher

    used = np.unique(data["customer"][data["customer"] >= 0])
    new_id = np.zeros(data["customer_pool"], dtype=np.int64)
    new_id[used] = np.arange(1, len(used) + 1)
    first_order = np.full(data["customer_pool"], np.iinfo(np.int64).max)
    with_customer = data["customer"] >= 0
    np.minimum.at(first_order, data["customer"][with_customer], data["placed"][with_customer])
    kinds = data["customer_kind"]
    has_phone = rng.random(data["customer_pool"]) < 0.6
    hasher = IdentityHasher(merchant.pk)
    created = datetime.fromtimestamp(load_ts, UTC).isoformat()
    started = time.perf_counter()
    customer_rows, identifier_rows = [], []
    identifier_id = 0
    counts = {"email": 0, "phone": 0, "loyalty": 0}
    for pool_index in used.tolist():
        pk = int(new_id[pool_index])
        name = f"{FIRST_NAMES[pool_index % 20]} {LAST_NAMES[pool_index // 20 % 16]}"
        email = ""
        kind = kinds[pool_index]
        if kind != 1:
            email = f"shopper{pool_index:07d}@example.com"
            identifier_id += 1
            identifier_rows.append(
                f"{identifier_id}\t{merchant.pk}\t{pk}\temail\t{hasher.hash('email', email)}\ts***@example.com"
                f"\t{created}"
            )
            counts["email"] += 1
        if kind != 0:
            loyalty = f"L{pool_index:09d}"
            identifier_id += 1
            identifier_rows.append(
                f"{identifier_id}\t{merchant.pk}\t{pk}\tloyalty\t{hasher.hash('loyalty', loyalty)}\t•••{loyalty[-4:]}"
                f"\t{created}"
            )
            counts["loyalty"] += 1
        if has_phone[pool_index]:
            phone = f"+1646{2_000_000 + pool_index:07d}"
            identifier_id += 1
            identifier_rows.append(
                f"{identifier_id}\t{merchant.pk}\t{pk}\tphone\t{hasher.hash('phone', phone)}\t+1 ••• {phone[-2:]}"
                f"\t{created}"
            )
            counts["phone"] += 1
        first = datetime.fromtimestamp(int(first_order[pool_index]), UTC).isoformat()
        customer_rows.append(f"{pk}\t{merchant.pk}\t{name}\t{email}\t\\N\t{first}\t{created}")
    timings = {"customers_prepare_and_hash_s": round(time.perf_counter() - started, 2)}
    started = time.perf_counter()
    with cursor.copy(
        "COPY sales_customer (id, merchant_id, display_name, email, merged_into_id, first_order_at, created_at) "
        "FROM STDIN (FREEZE)"
    ) as copy:
        for start in range(0, len(customer_rows), 200_000):
            copy.write("\n".join(customer_rows[start : start + 200_000]) + "\n")
    timings["sales_customer"] = table_timing(len(customer_rows), time.perf_counter() - started)
    started = time.perf_counter()
    with cursor.copy(
        "COPY sales_customeridentifier (id, merchant_id, customer_id, kind, value_hash, hint, created_at) "
        "FROM STDIN (FREEZE)"
    ) as copy:
        for start in range(0, len(identifier_rows), 200_000):
            copy.write("\n".join(identifier_rows[start : start + 200_000]) + "\n")
    timings["sales_customeridentifier"] = table_timing(len(identifier_rows), time.perf_counter() - started)
    timings["identifier_kinds"] = counts
    return new_id, timings


def table_timing(rows: int, seconds: float) -> dict:
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds) if seconds else None}


def orders_copy(cursor, merchant_id: int, data, store_ids, customer_ids, rng, load_ts: int) -> dict:
    n = data["order_count"]
    order_id = np.arange(1, n + 1, dtype=np.int64)
    external = fixed_text(b"B", order_id, 9)
    content_hash = hex_text(rng, n)
    local_day = data["calendar"].days_since_2000[data["day"]]
    placed = _ts(data["placed"])
    now_us = _ts(np.array([load_ts]))[0]
    online, store, customer, cancelled = data["online"], data["store"], data["customer"], data["cancelled"]
    started = time.perf_counter()
    with cursor.copy(
        "COPY sales_order (id, merchant_id, source, external_id, channel, store_id, customer_id, placed_at, "
        "local_date, currency, status, gross, discounts, refunds, tax, shipping, net, content_hash, import_job_id, "
        "created_at, updated_at) FROM STDIN (FORMAT binary, FREEZE)"
    ) as copy:
        copy.write(COPY_HEADER)
        for start in range(0, n, CHUNK_ORDERS):
            chunk = np.arange(start, min(n, start + CHUNK_ORDERS))
            group_key = online[chunk] * 8 + (store[chunk] >= 0) * 4 + (customer[chunk] >= 0) * 2 + cancelled[chunk]
            for key in np.unique(group_key):
                rows = chunk[group_key == key]
                is_online, with_store, with_customer, is_cancelled = key & 8, key & 4, key & 2, key & 1
                copy.write(
                    binary_rows(
                        len(rows),
                        [
                            ("int8", order_id[rows]),
                            ("int8", merchant_id),
                            ("text", b"shopify" if is_online else b"square"),
                            ("text", external[rows]),
                            ("text", b"online" if is_online else b"offline"),
                            ("int8", store_ids[store[rows]]) if with_store else ("null", None),
                            ("int8", customer_ids[customer[rows]]) if with_customer else ("null", None),
                            ("ts", placed[rows]),
                            ("date", local_day[rows]),
                            ("text", b"USD"),
                            ("text", b"cancelled" if is_cancelled else b"completed"),
                            ("num2", data["gross"][rows]),
                            ("num2", data["discounts"][rows]),
                            ("num2", data["refunds"][rows]),
                            ("num2", data["tax"][rows]),
                            ("num2", data["shipping"][rows]),
                            ("num2", data["net"][rows]),
                            ("text", content_hash[rows]),
                            ("null", None),
                            ("ts", now_us),
                            ("ts", now_us),
                        ],
                    )
                )
        copy.write(COPY_TRAILER)
    return table_timing(n, time.perf_counter() - started)


def lines_copy(cursor, merchant_id: int, data, store_ids, product_ids) -> dict:
    """Sale lines then each refunded order's return line (numbered after its sale lines), order by order."""
    n = data["order_count"]
    calendar = data["calendar"]
    sale_count = data["sale_count"]
    line_count = sale_count.copy()
    line_count[data["refunded_orders"]] += 1
    line_start = np.cumsum(line_count) - line_count  # position of each order's first line in the table
    total = int(line_count.sum())
    # One row per line, in table order: sale lines at line_start + number, returns last in their order.
    sale_position = line_start[data["sale_order"]] + data["sale_number"]
    return_position = line_start[data["refunded_orders"]] + sale_count[data["refunded_orders"]]
    is_return = np.zeros(total, dtype=bool)
    is_return[return_position] = True
    order_index = np.repeat(np.arange(n), line_count)
    number = np.arange(total) - line_start[order_index] + 1
    product = np.empty(total, dtype=np.int64)
    quantity = np.empty(total, dtype=np.int64)  # thousandths
    unit_price = np.empty(total, dtype=np.int64)
    gross = np.empty(total, dtype=np.int64)
    discount = np.zeros(total, dtype=np.int64)
    net = np.empty(total, dtype=np.int64)
    product[sale_position] = product_ids[data["product"]]
    quantity[sale_position] = data["quantity"] * 1000
    unit_price[sale_position] = data["unit_price"]
    gross[sale_position] = data["line_gross"]
    discount[sale_position] = data["line_discount"]
    net[sale_position] = data["line_net"]
    return_product = data["return_product"]
    product[return_position] = np.where(return_product >= 0, product_ids[np.maximum(return_product, 0)], -1)
    quantity[return_position] = data["return_quantity"] * 1000
    unit_price[return_position] = data["return_price"]
    gross[return_position] = -data["return_value"]
    net[return_position] = -data["return_value"]
    local_day = calendar.days_since_2000[data["day"]][order_index]
    occurred = _ts(data["placed"])[order_index]
    local_day[return_position] = calendar.days_since_2000[data["refund_day"]]
    occurred[return_position] = _ts(data["refund_placed"])
    online = data["online"][order_index]
    store = data["store"][order_index]
    line_id = np.arange(1, total + 1, dtype=np.int64)
    order_id = order_index + 1

    started = time.perf_counter()
    with cursor.copy(
        "COPY sales_orderline (id, merchant_id, order_id, line_number, kind, product_id, quantity, unit_price, "
        "gross, discount, net, local_date, occurred_at, channel, store_id) FROM STDIN (FORMAT binary, FREEZE)"
    ) as copy:
        copy.write(COPY_HEADER)
        starts = line_start[::CHUNK_ORDERS].tolist() + [total]
        for start, stop in zip(starts, starts[1:], strict=False):
            chunk = np.arange(start, stop)
            group_key = online[chunk] * 4 + (store[chunk] >= 0) * 2 + (product[chunk] >= 0)
            group_key = group_key * 2 + is_return[chunk]
            for key in np.unique(group_key):
                rows = chunk[group_key == key]
                returned, with_product, with_store, is_online = key & 1, key & 2, key & 4, key & 8
                copy.write(
                    binary_rows(
                        len(rows),
                        [
                            ("int8", line_id[rows]),
                            ("int8", merchant_id),
                            ("int8", order_id[rows]),
                            ("int4", number[rows]),
                            ("text", b"return" if returned else b"sale"),
                            ("int8", product[rows]) if with_product else ("null", None),
                            ("num3", quantity[rows]),
                            ("num2", unit_price[rows]),
                            ("num2", gross[rows]),
                            ("num2", discount[rows]),
                            ("num2", net[rows]),
                            ("date", local_day[rows]),
                            ("ts", occurred[rows]),
                            ("text", b"online" if is_online else b"offline"),
                            ("int8", store_ids[store[rows]]) if with_store else ("null", None),
                        ],
                    )
                )
        copy.write(COPY_TRAILER)
    return table_timing(total, time.perf_counter() - started)


VERIFY_SQL = {
    # Order totals as the ingest computes them from the lines (the order discount is the only part of an
    # order's figures that has no line).
    "orders whose totals disagree with their lines": """
        SELECT count(*) FROM sales_order AS o
        JOIN (
            SELECT order_id,
                   coalesce(sum(gross) FILTER (WHERE kind = 'sale'), 0) AS gross,
                   coalesce(sum(discount) FILTER (WHERE kind = 'sale'), 0) AS discounts,
                   coalesce(-sum(net) FILTER (WHERE kind = 'return'), 0) AS refunds
            FROM sales_orderline WHERE merchant_id = %(merchant)s GROUP BY order_id
        ) AS l ON l.order_id = o.id
        WHERE o.merchant_id = %(merchant)s
          AND (o.gross <> l.gross OR o.discounts < l.discounts OR o.refunds <> l.refunds
               OR o.net <> o.gross - o.discounts - o.refunds)
    """,
    "orders without lines": """
        SELECT count(*) FROM sales_order AS o WHERE o.merchant_id = %(merchant)s
          AND NOT EXISTS (SELECT 1 FROM sales_orderline AS l WHERE l.order_id = o.id)
    """,
    "orders whose local day is not their placed time's day in the right time zone": """
        SELECT count(*) FROM sales_order AS o
        JOIN merchants_merchant AS m ON m.id = o.merchant_id
        LEFT JOIN stores_store AS s ON s.id = o.store_id
        WHERE o.merchant_id = %(merchant)s AND o.local_date <> (o.placed_at AT TIME ZONE
              CASE WHEN o.channel = 'offline' THEN s.timezone ELSE m.timezone END)::date
    """,
    "lines whose denormalised fields disagree with their order or refund time": """
        SELECT count(*) FROM sales_orderline AS l
        JOIN sales_order AS o ON o.id = l.order_id
        JOIN merchants_merchant AS m ON m.id = o.merchant_id
        LEFT JOIN stores_store AS s ON s.id = o.store_id
        WHERE l.merchant_id = %(merchant)s
          AND (l.channel <> o.channel OR l.store_id IS DISTINCT FROM o.store_id
               OR (l.kind = 'sale' AND (l.occurred_at <> o.placed_at OR l.local_date <> o.local_date))
               OR l.local_date <> (l.occurred_at AT TIME ZONE
                   CASE WHEN o.channel = 'offline' THEN s.timezone ELSE m.timezone END)::date
               OR (l.kind = 'return' AND l.local_date <= o.local_date)
               OR (l.product_id IS NOT NULL AND l.gross <> round(l.unit_price * l.quantity, 2))
               OR l.net <> l.gross - l.discount)
    """,
}


def verify(connection, merchant) -> dict[str, int]:
    """Consistency checks over the whole dataset; the counts of offending rows (empty when all pass)."""
    problems = {}
    with connection.cursor() as cursor:
        for label, sql in VERIFY_SQL.items():
            cursor.execute(sql, {"merchant": merchant.pk})
            count = cursor.fetchone()[0]
            if count:
                problems[label] = count
    return problems


def rollups_rebuild(url: str) -> dict:
    """``manage.py rebuild_rollups --merchant bench10m`` (the analytics command), timed; or why it did not run."""
    import subprocess

    if not (ROOT / "analytics" / "management" / "commands" / "rebuild_rollups.py").exists():
        return {"not_run": "analytics has no rebuild_rollups command yet"}
    # No statement timeout (the settings' default is 60 s, for web requests): a rebuild's statements read the
    # whole merchant.
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": "memory://",
        "DB_STATEMENT_TIMEOUT_MS": os.environ.get("BENCH_REBUILD_STATEMENT_TIMEOUT_MS", "0"),
    }
    # Migrations added since the load (new apps' tables) first: the command needs its tables.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True)  # noqa: S603
    command = [sys.executable, "manage.py", "rebuild_rollups", "--merchant", SLUG]
    print("rollups: " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    seconds = round(time.perf_counter() - started, 2)
    print(f"    {seconds} s, exit {completed.returncode}", flush=True)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "returncode": completed.returncode,
        "statement_timeout_ms": env["DB_STATEMENT_TIMEOUT_MS"],
        "output_tail": (completed.stdout + completed.stderr).strip().splitlines()[-5:],
    }


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="order lines (sales and returns)")
    parser.add_argument("--db", default=DEFAULT_DB, help="the database (reused when complete)")
    parser.add_argument("--days", type=int, default=730, help="days of sales, ending today")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--products", type=int, default=20_000, help="a multiple of 4 (bundles)")
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--force", action="store_true", help="rebuild even if a complete dataset exists")
    parser.add_argument("--output", default=str(RESULTS / "dataset10m.json"))
    parser.add_argument(
        "--rollups-only", action="store_true", help="on a complete dataset: only time rebuild_rollups (into --output)"
    )
    args = parser.parse_args()
    if args.products % 4:
        raise SystemExit("--products must be a multiple of 4 (bundles of 4)")

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    url = database_url(base, args.db)
    params = {"lines": args.lines, "days": args.days, "stores": args.stores, "products": args.products}
    params["seed"] = args.seed
    existing = marker_read(base, args.db)
    if args.rollups_only:
        if not existing:
            raise SystemExit(f"database {args.db} holds no complete dataset: build it first")
        output = Path(args.output)
        result = json.loads(output.read_text()) if output.exists() else {}
        result["rebuild_rollups"] = rollups_rebuild(url)
        output.write_text(json.dumps(result, indent=2) + "\n")
        return
    if existing and not args.force:
        if {key: existing.get(key) for key in params} == params:
            print(f"database {args.db} already holds a complete dataset ({existing}): reused (--force rebuilds)")
            return
        print(f"database {args.db} holds another dataset ({existing}): rebuilding")

    key_file = KEY_FILE if args.db == DEFAULT_DB else RESULTS / f"{args.db}_key.txt"
    total_started = time.perf_counter()
    timings: dict = {}
    os.environ.update({**BENCH_ENV, "DATABASE_URL": url})
    print(f"database {args.db}: drop, create, migrate", flush=True)
    started = time.perf_counter()
    database_recreate(base, args.db)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    timings["migrate_s"] = round(time.perf_counter() - started, 2)

    rng = np.random.default_rng(args.seed)
    merchant_today = timezone.now().astimezone(zoneinfo.ZoneInfo(MERCHANT_TZ)).date()
    load_ts = int(time.time())
    started = time.perf_counter()
    merchant, password, store_ids, leaves, product_category = reference_data(
        merchant_today, args.stores, args.products, rng, key_file
    )
    timings["merchant_stores_categories_s"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    data = generate(args, rng, args.stores, args.products, merchant_today, load_ts)
    timings["generate_s"] = round(time.perf_counter() - started, 2)
    print(f"generated {data['order_count']:,} orders in {timings['generate_s']} s", flush=True)

    started = time.perf_counter()
    product_ids = products_create(merchant, leaves, product_category, data["product_price"])
    timings["catalog_product"] = table_timing(args.products, time.perf_counter() - started)

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_dataset (params jsonb NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), "
            "finished_at timestamptz)"
        )
        cursor.execute("INSERT INTO bench_dataset (params) VALUES (%s)", [json.dumps(params)])
        before = schema_snapshot(cursor)
        schema = secondary_schema(cursor)
    started_load = time.perf_counter()
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg cursor: COPY
        secondary_drop(cursor, schema)
        # TRUNCATE in the same transaction: COPY ... FREEZE writes the rows frozen (no vacuum pass afterwards).
        cursor.execute(f"TRUNCATE {', '.join(LOADED_TABLES)} CASCADE")  # the others are empty
        customer_ids, customer_timings = customers_copy(cursor, merchant, data, rng, load_ts)
        timings.update(customer_timings)
        print(f"    customers {customer_timings['sales_customer']}", flush=True)
        timings["sales_order"] = orders_copy(cursor, merchant.pk, data, store_ids, customer_ids, rng, load_ts)
        print(f"    orders {timings['sales_order']}", flush=True)
        timings["sales_orderline"] = lines_copy(cursor, merchant.pk, data, store_ids, product_ids)
        print(f"    lines {timings['sales_orderline']}", flush=True)
    timings["copy_total_s"] = round(time.perf_counter() - started_load, 2)

    print("indexes and constraints:", flush=True)
    started = time.perf_counter()
    index_timings: dict = {}
    with connection.cursor() as cursor:
        secondary_create(cursor, schema, index_timings)
        timings["indexes_s"] = round(time.perf_counter() - started, 2)
        timings["indexes"] = index_timings
        after = schema_snapshot(cursor)
        if after != before:
            raise SystemExit(f"indexes/constraints differ after the load: {sorted(set(before) ^ set(after))}")
        for table in ("sales_customer", "sales_customeridentifier", "sales_order", "sales_orderline"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        started = time.perf_counter()
        cursor.execute("ANALYZE")
        timings["analyze_s"] = round(time.perf_counter() - started, 2)
        cursor.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)", [list(LOADED_TABLES)]
        )
        sizes = {name: round(size / 1e6) for name, size in cursor.fetchall()}
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE kind = 'return'), sum(net) FROM sales_orderline")
        lines, returns, line_net = cursor.fetchone()
        cursor.execute("SELECT count(*), sum(net) FROM sales_order")
        orders, order_net = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM (SELECT customer_id FROM sales_order WHERE customer_id IS NOT NULL "
            "GROUP BY customer_id HAVING count(DISTINCT channel) = 2) AS omni"
        )
        omnichannel = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM sales_customer")
        customers = cursor.fetchone()[0]
    started = time.perf_counter()
    problems = verify(connection, merchant)
    timings["verify_s"] = round(time.perf_counter() - started, 2)
    if problems:
        raise SystemExit(f"the generated data is inconsistent: {problems}")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE bench_dataset SET finished_at = now()")  # the marker: complete, reusable
    timings["total_s"] = round(time.perf_counter() - total_started, 2)
    connection.close()
    rebuild = rollups_rebuild(url)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.db,
        "params": params,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "merchant": {"slug": SLUG, "id": merchant.pk, "currency": "USD", "timezone": MERCHANT_TZ},
        "owner": OWNER_EMAIL,
        "api_key_file": str(key_file.relative_to(ROOT)),
        "identity_hash_key": "BENCH_ENV['IDENTITY_HASH_KEY'] of benchmarks/run.py",
        "window": {"from": data["first"].isoformat(), "to": merchant_today.isoformat()},
        "counts": {
            "stores": args.stores,
            "products": args.products,
            "customers": customers,
            "omnichannel_customers": omnichannel,
            "orders": orders,
            "order_lines": lines,
            "return_lines": returns,
            "cancelled_orders": int(data["cancelled"].sum()),
            "net_sales": str(order_net),
        },
        "sizes_mb": sizes,
        "timings": timings,
        "schema_identical_after_rebuild": True,
        "rebuild_rollups": rebuild,
    }
    output = Path(args.output)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["counts"], indent=2))
    print(f"owner {OWNER_EMAIL} / password {password} ; API key in {key_file}")
    print(f"total {timings['total_s']} s; written {output}")


if __name__ == "__main__":
    main()
