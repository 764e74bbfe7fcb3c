"""Scale benchmarks of the ingestion path on PostgreSQL (``make bench``; see ``benchmarks/README.md``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/whatever .venv/bin/python benchmarks/run.py [--lines N]

The database named by ``--db`` (default ``newretail_bench``, on the server of ``DATABASE_URL``) is dropped,
recreated and migrated. Then, on the same run:

(a) file import, end to end: a generated Shopify export of ``--lines`` line rows is parsed
    (``sales.parsers.parse``) and ingested in batches of ``--batch-orders`` orders with one ``IngestContext``,
    as the import job does (``sales.imports._ingest``: ``sales.ingest.pipeline.batches_prepared`` parses and
    prepares the next batch in a thread while ``orders_write_prepared`` writes this one; commits with
    ``synchronous_commit = off``); in a child process, so its peak RSS is the worker's alone. Parsing alone is
    timed too (same file, same child). ``write_seconds``: the time the writing thread spent in
    ``orders_write_prepared`` (it waits for the producer the rest of the time).
(b) the same file loaded by plain ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` into an unindexed table of text
    columns (one per header column): the floor the import is compared with, as a ratio.
(c) unless ``--skip-api``: ``benchmarks/orders_api.py`` (API batches over HTTP, 2 gunicorn workers) on the same
    database, its order lines/s set beside the COPY rate.

Results: ``benchmarks/results/latest.json`` (and ``--profile FILE`` writes a cProfile of the import child).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_DEBUG": "false",  # production settings: no query log (it grows with every statement)
    "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef0123456789",
    "IDENTITY_HASH_KEY": "benchmark-only-identity-key",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",  # testserver: orders_api.py's in-process client
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "API_RATE_LIMIT": "100000/minute",
}
STORES = [("NYC01", "Brooklyn"), ("NYC02", "Manhattan"), ("NYC03", "Queens"), ("NYC04", "Bronx")]
SKUS = 5000
CUSTOMERS = 50_000


def database_url(base: str, name: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + name


def psycopg_url(url: str) -> str:
    return re.sub(r"^postgres://", "postgresql://", url)


# --- the generated export --------------------------------------------------------------------


def write_shopify_export(path: Path, lines: int, seed: int = 7) -> tuple[int, int]:
    """A realistic Shopify export (the full header of the example file, 1-4 lines per order, 30% POS orders in
    4 stores, 50,000 customers with an e-mail and a phone, 15% guest orders, some discounts and refunds) of
    exactly ``lines`` line rows; returns (orders, line rows)."""
    with open(ROOT / "examples" / "shopify-orders.csv", newline="") as example:
        header = next(csv.reader(example))
    position = {name: index for index, name in enumerate(header)}
    rnd = random.Random(seed)
    orders = rows = 0
    with open(path, "w", newline="") as file:
        out = csv.writer(file, lineterminator="\n")
        out.writerow(header)
        while rows < lines:
            count = min(rnd.randint(1, 4), lines - rows)
            pos = rnd.random() < 0.3
            for number in range(count):
                row = [""] * len(header)
                sku = rnd.randint(1, SKUS)
                row[position["Name"]] = f"#{1000 + orders}"
                row[position["Lineitem quantity"]] = str(rnd.randint(1, 3))
                row[position["Lineitem name"]] = f"Organic cotton tee {sku} - M / White"
                row[position["Lineitem price"]] = f"{rnd.randint(5, 120)}.{rnd.choice(['00', '50', '90'])}"
                row[position["Lineitem sku"]] = f"SKU-{sku:05d}"
                row[position["Lineitem requires shipping"]] = "true"
                row[position["Lineitem discount"]] = "1.00" if rnd.random() < 0.1 else "0.00"
                if pos:
                    row[position["Location"]] = STORES[orders % len(STORES)][1]
                if number == 0:
                    stamp = f"2026-{rnd.randint(1, 9):02d}-{rnd.randint(1, 28):02d} "
                    stamp += f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00 -0400"
                    # 50,000 customers, each with one e-mail and one phone (a phone shared by unrelated
                    # e-mails would merge most customers into one, which real exports don't do); 15% guests.
                    customer = rnd.randint(1, CUSTOMERS) if rnd.random() >= 0.15 else 0
                    if customer:
                        row[position["Email"]] = f"shopper{customer}@example.com"
                        row[position["Billing Phone"]] = f"+1718{2_000_000 + customer:07d}"
                    row[position["Financial Status"]] = "paid"
                    row[position["Paid at"]] = row[position["Created at"]] = stamp
                    row[position["Currency"]] = "USD"
                    row[position["Subtotal"]] = row[position["Total"]] = "100.00"
                    row[position["Shipping"]] = "5.00"
                    row[position["Taxes"]] = "8.25"
                    row[position["Discount Amount"]] = "2.00" if rnd.random() < 0.1 else "0.00"
                    row[position["Billing Name"]] = "Ann Example"
                    row[position["Billing Address1"]] = "1 Main St"
                    row[position["Billing City"]] = "Brooklyn"
                    row[position["Refunded Amount"]] = "3.00" if rnd.random() < 0.03 else "0.00"
                    row[position["Id"]] = str(5_000_000_000 + orders)
                    row[position["Source"]] = "pos" if pos else "web"
                out.writerow(row)
                rows += 1
            orders += 1
    return orders, rows


# --- setup (parent) --------------------------------------------------------------------------


def database_reset(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing to drop database {name!r}")
    with psycopg.connect(psycopg_url(database_url(url, "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup() -> None:
    import django

    django.setup()


def merchant_create():
    from merchants.models import Merchant
    from stores.models import Store

    merchant = Merchant.objects.create(name="Bench", slug="bench", currency="USD", timezone="America/New_York")
    for code, name in STORES:
        Store.objects.create(merchant=merchant, code=code, name=name, country="US", timezone="America/New_York")
    return merchant


def copy_measure(url: str, path: Path) -> dict:
    """COPY the export into an unindexed table of text columns, over the client protocol; best of 2."""
    import psycopg

    with open(path, newline="") as file:
        header = next(csv.reader(file))
    columns = ", ".join(f"c{index} text" for index in range(len(header)))
    seconds = []
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        for _ in range(2):
            conn.execute("DROP TABLE IF EXISTS bench_copy_raw")
            conn.execute(f"CREATE TABLE bench_copy_raw ({columns})")
            started = time.perf_counter()
            with (
                conn.cursor() as cursor,
                open(path, "rb") as file,
                cursor.copy("COPY bench_copy_raw FROM STDIN (FORMAT csv, HEADER true)") as copy,
            ):
                while chunk := file.read(1 << 20):
                    copy.write(chunk)
            seconds.append(time.perf_counter() - started)
            rows = conn.execute("SELECT count(*) FROM bench_copy_raw").fetchone()[0]
        conn.execute("DROP TABLE bench_copy_raw")
    return {"rows": rows, "seconds": round(min(seconds), 3), "rows_per_s": round(rows / min(seconds))}


# --- the import (child) ----------------------------------------------------------------------


class StatementTimer:
    """``--statements``: wall time and count of each kind of statement the writing thread runs (its first
    words), through Django's ``execute_wrapper`` (``COPY`` goes around it: it is in the writer's other time)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def __call__(self, execute, sql, params, many, context):
        label = re.sub(r'"s\d+_x\d+"', "sp", " ".join(sql.split())[:70])
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
            self.calls[label] = self.calls.get(label, 0) + 1

    def report(self) -> list[dict]:
        rows = sorted(self.seconds.items(), key=lambda item: -item[1])
        return [{"statement": label, "calls": self.calls[label], "seconds": round(sec, 3)} for label, sec in rows]


def backend_cpu_seconds(connection) -> float:
    """CPU time (user + system) of this connection's PostgreSQL backend: the server must be on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def import_child(
    path: Path, batch_orders: int, profile: str | None, statements: bool = False, switch_interval: float | None = None
) -> dict:
    django_setup()
    from django.db import connection

    from merchants.models import Merchant
    from sales.ingest import pipeline
    from sales.ingest.pipeline import batches_prepared
    from sales.ingest.service import IngestContext, orders_write_prepared
    from sales.ingest.types import OrderInput
    from sales.models import Order, OrderLine
    from sales.parsers import parse

    if switch_interval is not None:  # A/B of the pipeline's GIL switch interval
        pipeline.SWITCH_INTERVAL = switch_interval
    merchant = Merchant.objects.get(slug="bench")
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # Parsing alone first (the same file): the share of the import the parser takes.
    started = time.perf_counter()
    parsed = 0
    with open(path, "rb") as file:
        for item in parse(file, format=None, merchant=merchant):
            if isinstance(item, OrderInput):
                parsed += len(item.lines)
    parse_seconds = time.perf_counter() - started

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    counts = {"created": 0, "updated": 0, "unchanged": 0, "error": 0, "parse_errors": 0}
    lines = 0
    # As the import job runs it (sales.imports._ingest): commits without waiting for the WAL flush, the next
    # batch parsed and prepared in a thread while this one is written.
    context = IngestContext(merchant, durable=False)
    write_seconds = 0.0

    timer = StatementTimer() if statements else None
    wrapped = connection.execute_wrapper(timer) if timer else contextlib.nullcontext()
    backend_cpu = backend_cpu_seconds(connection) if statements else 0.0
    python_cpu = time.process_time()
    started = time.perf_counter()
    with wrapped, open(path, "rb") as file:
        run = parse(file, format=None, merchant=merchant)
        batches = batches_prepared(run, merchant=merchant, context=context, batch_size=batch_orders)
        with contextlib.closing(batches):
            for batch in batches:
                counts["parse_errors"] += len(batch.errors)
                if not batch.orders:
                    continue
                lines += sum(len(order.lines) for order in batch.orders)
                t0 = time.perf_counter()
                for outcome in orders_write_prepared(merchant=merchant, batch=batch.prepared, context=context):
                    counts[outcome.result] += 1
                write_seconds += time.perf_counter() - t0
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    stored_lines = OrderLine.objects.filter(merchant=merchant).count()
    stored_orders = Order.objects.filter(merchant=merchant).count()
    extra = {}
    if timer:
        extra = {
            "python_cpu_seconds": round(time.process_time() - python_cpu, 3),
            "backend_cpu_seconds": round(backend_cpu_seconds(connection) - backend_cpu, 3),
            "statements": timer.report(),
        }
    return {
        **extra,
        "orders": sum(counts[k] for k in ("created", "updated", "unchanged", "error")),
        "lines": lines,
        "outcomes": counts,
        "stored_orders": stored_orders,
        "stored_lines": stored_lines,
        "seconds": round(seconds, 3),
        "lines_per_s": round(lines / seconds),
        "write_seconds": round(write_seconds, 3),
        "parse_only_seconds": round(parse_seconds, 3),
        "parse_only_lines_per_s": round(parsed / parse_seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_setup_mb": round(rss_start / 1024, 1),
    }


# --- the API (c) -----------------------------------------------------------------------------


def api_measure(env: dict) -> dict:
    script = ROOT / "benchmarks" / "orders_api.py"
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(script), "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    output = completed.stdout
    found = re.search(r"([\d,]+) order lines/s", output)
    return {
        "returncode": completed.returncode,
        "lines_per_s": int(found.group(1).replace(",", "")) if found else None,
        "output": output.strip().splitlines(),
        "stderr_tail": completed.stderr.strip().splitlines()[-5:],
    }


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="line rows in the generated export")
    parser.add_argument("--batch-orders", type=int, default=2000, help="orders per orders_ingest call")
    parser.add_argument("--db", default="newretail_bench", help="benchmark database (dropped and recreated)")
    parser.add_argument("--skip-api", action="store_true", help="skip (c), the API over HTTP")
    parser.add_argument("--profile", help="write a cProfile of the import (child) to this file")
    parser.add_argument("--statements", action="store_true", help="time each kind of statement of the import")
    parser.add_argument("--switch-interval", type=float, help="override the pipeline's GIL switch interval (s)")
    parser.add_argument("--label", default="", help="a note stored with the results")
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    parser.add_argument("--child-import", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_import:
        print(
            json.dumps(
                import_child(
                    Path(args.child_import), args.batch_orders, args.profile, args.statements, args.switch_interval
                )
            )
        )
        return

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/newretail")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    url = database_url(base, args.db)
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url}
    os.environ.update(env)

    print(f"database {args.db}: drop, create, migrate", flush=True)
    database_reset(url)
    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    merchant_create()
    from django.db import connection

    connection.close()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shopify-export.csv"
        started = time.perf_counter()
        orders, lines = write_shopify_export(path, args.lines)
        size = path.stat().st_size
        print(
            f"export: {orders:,} orders, {lines:,} lines, {size / 1e6:.1f} MB ({time.perf_counter() - started:.1f} s)"
        )
        load_before = os.getloadavg()[0]

        print("(a) import: parse + orders_ingest ...", flush=True)
        command = [sys.executable, __file__, "--child-import", str(path), "--batch-orders", str(args.batch_orders)]
        if args.profile:
            command += ["--profile", args.profile]
        if args.statements:
            command.append("--statements")
        if args.switch_interval is not None:
            command += ["--switch-interval", str(args.switch_interval)]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)  # noqa: S603
        if completed.returncode:
            sys.stderr.write(completed.stderr)
            raise SystemExit("the import child failed")
        imported = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"    {imported['lines_per_s']:,} lines/s, peak RSS {imported['peak_rss_mb']} MB")

        print("(b) COPY of the same file into an unindexed table ...", flush=True)
        copied = copy_measure(url, path)
        print(f"    {copied['rows_per_s']:,} rows/s")

    api = None
    if not args.skip_api and (ROOT / "benchmarks" / "orders_api.py").exists():
        print("(c) API batches over HTTP (benchmarks/orders_api.py, 2 gunicorn workers) ...", flush=True)
        api = api_measure(env)
        print(f"    {api['lines_per_s']} lines/s")

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "export": {"orders": orders, "lines": lines, "bytes": size, "batch_orders": args.batch_orders},
        "import": imported,
        "copy": copied,
        "import_vs_copy": round(copied["rows_per_s"] / imported["lines_per_s"], 1),
    }
    if api is not None:
        result["api"] = api
        if api["lines_per_s"]:
            result["api_vs_copy"] = round(copied["rows_per_s"] / api["lines_per_s"], 1)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {output}")
    print(f"| {lines:,} | {imported['lines_per_s']:,} | {imported['parse_only_lines_per_s']:,} | "
          f"{copied['rows_per_s']:,} | {result['import_vs_copy']}× | {imported['peak_rss_mb']} MB |")  # fmt: skip


if __name__ == "__main__":
    main()
