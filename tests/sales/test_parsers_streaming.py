"""Streaming: memory stays flat on a big export, progress is reported, and problems deep in a file (past the
first chunk) are still found on their row. Big files are generated on the fly."""

import csv
import io
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from sales.ingest.types import RowError
from sales.parsers import parse

from .parser_helpers import unsaved_merchant

# The full header of a recent export, as in the example file.
SHOPIFY_HEADER = next(csv.reader(open(Path(__file__).resolve().parents[2] / "examples" / "shopify-orders.csv")))  # noqa: SIM115


def write_shopify_export(file, *, target_bytes: int, seed: int = 7) -> tuple[int, int]:
    """Write a realistic Shopify export of about ``target_bytes`` (full header, 1-4 lines per order, online and
    POS orders) to a text file; return (orders, line rows)."""
    rnd = random.Random(seed)
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(SHOPIFY_HEADER)
    position = {name: index for index, name in enumerate(SHOPIFY_HEADER)}
    orders = rows = 0
    while file.tell() < target_bytes:
        for number in range(rnd.randint(1, 4)):
            row = [""] * len(SHOPIFY_HEADER)
            row[position["Name"]] = f"#{1000 + orders}"
            row[position["Lineitem quantity"]] = str(rnd.randint(1, 3))
            row[position["Lineitem name"]] = f"Organic cotton tee {rnd.randint(1, 500)} - M / White"
            row[position["Lineitem price"]] = f"{rnd.randint(5, 120)}.{rnd.choice(['00', '50', '90'])}"
            row[position["Lineitem sku"]] = f"SKU-{rnd.randint(1, 500):04d}"
            row[position["Lineitem requires shipping"]] = "true"
            row[position["Lineitem discount"]] = "0.00"
            if number == 0:
                pos = rnd.random() < 0.3
                stamp = f"2026-09-{rnd.randint(1, 28):02d} {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00 -0400"
                row[position["Email"]] = f"shopper{rnd.randint(1, 50000)}@example.com"
                row[position["Financial Status"]] = "paid"
                row[position["Paid at"]] = row[position["Created at"]] = stamp
                row[position["Currency"]] = "USD"
                row[position["Subtotal"]] = row[position["Total"]] = "100.00"
                row[position["Shipping"]] = "5.00"
                row[position["Taxes"]] = "8.25"
                row[position["Discount Amount"]] = "0.00"
                row[position["Billing Name"]] = "Ann Example"
                row[position["Billing Address1"]] = "1 Main St"
                row[position["Billing City"]] = "Brooklyn"
                row[position["Billing Phone"]] = f"+1718555{rnd.randint(0, 9999):04d}"
                row[position["Refunded Amount"]] = "0.00"
                row[position["Location"]] = "Brooklyn" if pos else ""
                row[position["Id"]] = str(5_000_000_000 + orders)
                row[position["Source"]] = "pos" if pos else "web"
            writer.writerow(row)
            rows += 1
        orders += 1
    return orders, rows


_merchant = unsaved_merchant


_MEASURE = """
import resource, sys
import django
django.setup()
from merchants.models import Merchant
from sales.ingest.types import OrderInput
from sales.parsers import parse

merchant = Merchant(name="Shop", slug="shop", currency="USD", timezone="America/New_York")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
orders = lines = errors = 0
with open(sys.argv[1], "rb") as file:
    run = parse(file, format=None, merchant=merchant)
    for item in run:
        if isinstance(item, OrderInput):
            orders += 1
            lines += len(item.lines)
        else:
            errors += 1
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(orders, lines, errors, run.bytes_read, run.rows_read, (after - before) * 1024)
"""


@pytest.mark.slow
def test_a_50_mb_shopify_export_streams_in_flat_memory(tmp_path):
    # Given a ~50 MB Shopify export on disk
    path = tmp_path / "orders.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        orders, rows = write_shopify_export(file, target_bytes=50 * 1024 * 1024)
    size = path.stat().st_size

    # When a fresh process parses it (its peak resident memory is measured before and after: tracemalloc would
    # slow the parse down several times over)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        timeout=600,
    )
    parsed_orders, lines, errors, bytes_read, rows_read, growth = (int(word) for word in result.stdout.split())

    # Then every order came out, progress reached the file size, and memory never held the file
    assert (parsed_orders, lines, errors) == (orders, rows, 0)
    assert (bytes_read, rows_read) == (size, rows)
    assert growth < 50 * 1024 * 1024, f"peak memory grew by {growth / 1e6:.1f} MB"


def test_memory_stays_flat_while_parsing(tmp_path):
    # Given a ~4 MB export (small enough to trace every allocation)
    buffer = io.StringIO()
    write_shopify_export(buffer, target_bytes=4 * 1024 * 1024)
    data = buffer.getvalue().encode()
    # When parsed under tracemalloc, keeping nothing
    tracemalloc.start()
    try:
        for _ in parse(io.BytesIO(data), format=None, merchant=_merchant()):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the peak is a fraction of the file (chunks, caches and one order at a time)
    assert peak < len(data) // 2, f"peak {peak / 1e6:.1f} MB for a {len(data) / 1e6:.1f} MB file"


def test_progress_grows_while_reading():
    # Given a ~1 MB export
    buffer = io.StringIO()
    orders, _ = write_shopify_export(buffer, target_bytes=1024 * 1024)
    data = buffer.getvalue().encode()
    # When read order by order
    run = parse(io.BytesIO(data), format=None, merchant=_merchant())
    seen = [run.bytes_read for _ in run]
    # Then bytes_read grows in chunks up to the whole file
    assert len(seen) == orders
    assert seen == sorted(seen)
    assert seen[0] < len(data) // 2
    assert (seen[-1], run.bytes_read) == (len(data), len(data))


def test_a_bad_byte_far_into_the_file_is_reported_on_its_row():
    # Given a 300 KB export whose row 1000 holds a Latin-1 "ï" (well past the first 64 KiB chunk)
    buffer = io.StringIO()
    write_shopify_export(buffer, target_bytes=300 * 1024)
    lines = buffer.getvalue().encode().split(b"\n")
    lines[999] = lines[999].replace(b"Organic", b"Organ\xefc")
    data = b"\n".join(lines)
    # When parsed
    items = list(parse(io.BytesIO(data), format=None, merchant=_merchant()))
    # Then that row (and its order) is the only problem
    errors = [item for item in items if isinstance(item, RowError)]
    assert [(error.row, error.column, error.value[:12]) for error in errors] == [
        (1000, "Lineitem name", "Organ\ufffdc cott")
    ]
