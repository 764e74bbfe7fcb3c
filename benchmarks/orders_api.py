"""Benchmark of POST /api/v1/orders/batch/: where the time of a 1,000-order batch goes, in process and over HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nr_bench_ordersapi .venv/bin/python benchmarks/orders_api.py
    (options: --batches N, --http-batches N, --workers N, --threads N, --clients N, --warmup N, --skip-http)

1. Validation alone, on the same 1,000-order body: orjson + pydantic (what the endpoint does) against the DRF
   serializers that document it (``OrderBatchSerializer``), to show why the endpoint doesn't use them.
2. In process (DRF's APIClient, no network): per batch, the endpoint's own ``Server-Timing`` (parse, validate,
   ingest) and the total.
3. Over HTTP: gunicorn with ``--workers`` workers (sync; ``gthread`` with ``--threads`` N > 1), ``--clients``
   threads sending new batches; order lines/s.

The database is created and migrated if needed; the merchant "bench-api" is reset on each run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nr_bench_ordersapi")
os.environ.setdefault("API_RATE_LIMIT", "100000/minute")

ORDERS_PER_BATCH = 1000
SKUS = 400


def batch(number: int) -> dict:
    """1,000 orders, 2.5 lines each on average: half in store (2 lines), half online (3 lines)."""
    orders = []
    for index in range(ORDERS_PER_BATCH):
        n = number * ORDERS_PER_BATCH + index
        offline = n % 2 == 0
        lines = [
            {
                "sku": f"SKU-{(n * 7 + j * 13) % SKUS:04d}",
                "name": f"Product {(n * 7 + j * 13) % SKUS}",
                "quantity": str(1 + (n + j) % 3),
                "unit_price": f"{5 + (n * 3 + j) % 60}.90",
                "discount": "1.00" if j == 0 and n % 5 == 0 else "0",
            }
            for j in range(2 if offline else 3)
        ]
        order = {
            "external_id": f"B{number}-{index}",
            "channel": "offline" if offline else "online",
            "placed_at": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{8 + n % 12:02d}:{n % 60:02d}:00+01:00",
            "currency": "EUR",
            "lines": lines,
            "tax": "3.20",
        }
        if offline:
            order["store"] = f"S{n % 10:02d}"
        if n % 3:
            # One loyalty number per e-mail: with independent cycles (e-mail n % 5000, loyalty n % 7000, before
            # round 4) every order's customer was linked to every other one by chains of shared identifiers,
            # and the later batches measured customer merges (~200 ms of their ingest), which real traffic
            # doesn't do at that rate (the file benchmark fixed the same thing for phones in round 1).
            order["customer"] = {"email": f"shopper{n % 5000}@example.com", "loyalty_number": f"L{n % 5000}"}
        orders.append(order)
    return {"orders": orders}


def setup_database():
    import django
    from django.core.management import call_command

    db = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db}"')
    django.setup()
    call_command("migrate", verbosity=0)


def reset_merchant():
    from merchants.models import Merchant
    from merchants.services import api_key_create
    from sales.models import (
        Customer,
        CustomerIdentifier,
        CustomerMerge,
        DirtyDay,
        IdempotencyRecord,
        Order,
        OrderLine,
    )
    from stores.models import Store

    merchant = Merchant.objects.filter(slug="bench-api").first()
    if merchant is not None:
        for model in (OrderLine, Order, CustomerMerge, CustomerIdentifier, DirtyDay, IdempotencyRecord):
            model.objects.filter(merchant=merchant).delete()
        Customer.objects.filter(merchant=merchant).update(merged_into=None)
        Customer.objects.filter(merchant=merchant).delete()
        merchant.delete()
    merchant = Merchant.objects.create(name="Bench API", slug="bench-api", currency="EUR", timezone="Europe/Paris")
    for number in range(10):
        Store.objects.create(
            merchant=merchant, code=f"S{number:02d}", name=f"Store {number}", country="FR", timezone="Europe/Paris"
        )
    _, raw = api_key_create(merchant=merchant, name="bench", scopes=["sales:write", "sales:read"])
    return merchant, raw


def measure_validation(body: dict, rounds: int = 3) -> dict[str, float]:
    import orjson

    from sales.schemas import batch_orders, batch_validate
    from sales.serializers import OrderBatchSerializer

    raw = orjson.dumps(body)
    fast, drf, parse = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        data = orjson.loads(raw)
        parse.append(time.perf_counter() - started)
        started = time.perf_counter()
        results = batch_validate(batch_orders(data), currency="EUR")
        fast.append(time.perf_counter() - started)
        assert not any(item.errors for item in results)
        started = time.perf_counter()
        serializer = OrderBatchSerializer(data=json.loads(raw))
        assert serializer.is_valid(), serializer.errors
        drf.append(time.perf_counter() - started)
    return {"orjson parse": min(parse), "pydantic validate": min(fast), "DRF serializers validate": min(drf)}


def server_timing(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(", "):
        name, _, duration = part.partition(";dur=")
        out[name] = float(duration) / 1000
    return out


def in_process(raw_key: str, batches: int) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    rows = []
    for number in range(batches):
        body = json.dumps(batch(10_000 + number))
        started = time.perf_counter()
        response = client.post("/api/v1/orders/batch/", body, content_type="application/json")
        total = time.perf_counter() - started
        assert response.status_code == 200, response.content[:500]
        assert response.json()["summary"]["created"] == ORDERS_PER_BATCH, response.json()["summary"]
        rows.append({**server_timing(response.headers["Server-Timing"]), "total": total})
    print(f"\nIn process, {batches} new batches of {ORDERS_PER_BATCH:,} orders (median per batch):")
    for name in ("parse", "validate", "ingest", "total"):
        print(f"  {name:<10} {1000 * statistics.median(row[name] for row in rows):8.1f} ms")
    body = json.dumps(batch(10_000))
    response = client.post("/api/v1/orders/batch/", body, content_type="application/json")
    timing = server_timing(response.headers["Server-Timing"])
    print(f"  the same batch again (all unchanged): ingest {1000 * timing['ingest']:.1f} ms")


def over_http(raw_key: str, batches: int, workers: int, clients: int, worker_threads: int = 1, warmup: int = 0) -> None:
    port = 8765
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",  # production settings: no query log, no debug pages
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef0123456789",  # noqa: S105
        "IDENTITY_HASH_KEY": "benchmark-only-identity-key",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_CONN_MAX_AGE": "60",
    }
    server = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "--workers",
            str(workers),
            *(["--worker-class", "gthread", "--threads", str(worker_threads)] if worker_threads > 1 else []),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(150):
            if server.poll() is not None:
                raise SystemExit("gunicorn did not start")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/api/v1/orders/", headers={"Authorization": f"Bearer {raw_key}"})
                status = connection.getresponse().status
                assert status == 200, status
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not answer")

        def phase(first: int, count: int) -> tuple[float, int, list[dict[str, float]]]:
            """``count`` new batches sent by ``clients`` threads: (seconds, order lines, Server-Timing of each)."""
            bodies = [json.dumps(batch(first + number)).encode() for number in range(count)]
            lines = sum(len(order["lines"]) for body in bodies for order in json.loads(body)["orders"])
            queue = list(range(count))
            lock = threading.Lock()
            timings: list[dict[str, float]] = []

            def send():
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                while True:
                    with lock:
                        if not queue:
                            return
                        number = queue.pop()
                    connection.request(
                        "POST",
                        "/api/v1/orders/batch/",
                        body=bodies[number],
                        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
                    )
                    response = connection.getresponse()
                    payload = response.read()
                    assert response.status == 200, payload[:500]
                    assert json.loads(payload)["summary"]["created"] == ORDERS_PER_BATCH
                    with lock:
                        timings.append(server_timing(response.getheader("Server-Timing")))

            started = time.perf_counter()
            threads = [threading.Thread(target=send) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.perf_counter() - started, lines, timings

        kind = f"gthread, {worker_threads} threads each" if worker_threads > 1 else "sync"
        if warmup:
            # Each worker's first requests pay for lazy imports, its database connection, pydantic's first
            # validations: a server that runs for hours doesn't. Sent and reported, not counted.
            elapsed, lines, _ = phase(19_000, warmup)
            print(f"\nWarm-up: {warmup} batches, {lines / elapsed:,.0f} lines/s (not counted)")
        elapsed, lines, timings = phase(20_000, batches)
        print(
            f"\nOver HTTP: gunicorn {workers} workers ({kind}), {clients} clients, {batches} batches, {lines:,} lines:"
        )
        print(f"  {elapsed:.2f} s, {batches / elapsed:.1f} requests/s, {lines / elapsed:,.0f} order lines/s")
        for name in ("parse", "validate", "ingest"):
            print(f"  {name:<10} median {1000 * statistics.median(t[name] for t in timings):8.1f} ms per batch")
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--http-batches", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="> 1: gthread workers with this many threads")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=0, help="batches sent first and not counted")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    setup_database()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    body = batch(0)
    lines = sum(len(order["lines"]) for order in body["orders"])
    print(f"One batch: {ORDERS_PER_BATCH:,} orders, {lines:,} lines, {len(json.dumps(body)):,} bytes of JSON")
    print("\nValidation of one batch (best of 3):")
    for name, seconds in measure_validation(body).items():
        print(f"  {name:<26} {1000 * seconds:8.1f} ms")
    _, raw_key = reset_merchant()
    in_process(raw_key, args.batches)
    if not args.skip_http:
        over_http(raw_key, args.http_batches, args.workers, args.clients, args.threads, args.warmup)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
