"""Benchmark of GET /api/v1/recommendations/ over HTTP: gunicorn (2 sync workers by default) and wrk.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nr_bench_reco REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/recommendations_api.py [--products 20000] [--workers 2] [--seconds 20] \\
        [--connections 4,8,16] [--reuse] [--output benchmarks/results/recommendations_api.json]

Needs ``wrk`` (``apt-get install wrk``). The database is created and migrated if needed; the merchant
"bench-reco" is rebuilt on each run: ``--products`` products in 20 categories, 20 stores, a computed state
with 10 bought-together partners per product (list "all"), 5 per product for 5 stores, and 50 trending
products, plus 500 pinned products (2 pins each) and 100 exclusions. wrk asks for a random product of the
catalogue on every request, log-uniformly (product i of n with probability ~ 1/(i ln n): a few products are
viewed very often, most rarely), ``limit=10``, a quarter of them for one of 5 stores.

Phases, each ``--seconds`` long, for each ``--connections``:
- **warm**: every answer already in Redis (the steady state: answers live until a rule change or computation);
- **cold**: right after a cache-version bump (what follows a rule change or a recomputation: every first
  question of each product is computed from PostgreSQL).
Figures: requests/s and wrk's latency percentiles (p50, p90, p99), and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nr_bench_reco")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
# DRF's throttle keeps, per key, the list of its request times within the window, read and written back on every
# request: with one key and a huge per-minute limit that list grows to tens of thousands of entries and the
# throttle itself becomes the bottleneck. So wrk spreads requests over KEYS keys and the window is one second.
os.environ.setdefault("API_RATE_LIMIT", "1000/second")
KEYS = 200
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",  # production settings: no query log, no debug pages
    "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef0123456789",  # noqa: S105
    "IDENTITY_HASH_KEY": "benchmark-only-identity-key",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_CONN_MAX_AGE": "600",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(PRODUCTION_ENV)  # the in-process phase too

SLUG = "bench-reco"
PORT = 0  # chosen free at start (other benchmarks may be serving on fixed ports)
STORES = 20

WRK_SCRIPT = """
local skus = {}
for line in io.lines("%(skus)s") do skus[#skus + 1] = line end
local stores = {%(stores)s}
local keys = {%(keys)s}
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  -- log-uniform product choice: a few products are viewed very often, most rarely (as on a real shop)
  local sku = skus[math.max(1, math.floor((#skus) ^ math.random()))]
  local path = "/api/v1/recommendations/?limit=10&product=" .. sku
  if math.random(4) == 1 then path = path .. "&store=" .. stores[math.random(#stores)] end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. keys[math.random(#keys)]})
end
"""


def setup_django() -> None:
    import django
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_world(products_count: int) -> tuple[str, list[str], list[str]]:
    """The merchant, its catalogue and a computed state. Returns (raw API key, SKUs, store codes)."""
    from django.db import transaction
    from django.utils import timezone

    from catalog.models import Category, Product
    from merchants.models import ApiScope, Merchant
    from merchants.services import api_key_create
    from recommendations.models import (
        JobStatus,
        RecommendationJob,
        RecommendationRule,
        RecommendationRuleStore,
        RecommendationState,
        Suggestion,
    )
    from stores.models import Store

    Merchant.objects.filter(slug=SLUG).delete()
    rng = random.Random(7)
    with transaction.atomic():
        merchant = Merchant.objects.create(name="Bench Reco", slug=SLUG, currency="EUR", timezone="Europe/Paris")
        categories = Category.objects.bulk_create(Category(merchant=merchant, name=f"Cat {n}") for n in range(20))
        stores = Store.objects.bulk_create(
            Store(merchant=merchant, code=f"S{n:02d}", name=f"Store {n}", country="FR", timezone="Europe/Paris")
            for n in range(STORES)
        )
        products = Product.objects.bulk_create(
            (
                Product(
                    merchant=merchant,
                    sku=f"SKU-{n:05d}",
                    name=f"Product {n}",
                    category=categories[n % 20],
                    price=Decimal(5 + n % 90),
                )
                for n in range(products_count)
            ),
            batch_size=5000,
        )
        ids = [product.pk for product in products]
        job = RecommendationJob.objects.create(merchant=merchant, status=JobStatus.SUCCEEDED)
        rows = []
        for product_id in ids:
            for rank, partner in enumerate(rng.sample(ids, 11), start=1):
                if partner != product_id and rank <= 10:
                    rows.append((product_id, partner, rank, "all", None))
            for store in stores[:5]:
                for rank, partner in enumerate(rng.sample(ids, 5), start=1):
                    if partner != product_id:
                        rows.append((product_id, partner, rank, "store", store.pk))
        suggestions = [
            Suggestion(
                merchant_id=merchant.pk,
                job_id=job.pk,
                kind="bought_together",
                scope=scope,
                store_id=store_id,
                product_id=product_id,
                partner_id=partner,
                rank=rank,
                score=1.0 / rank,
                support=40 - rank,
                confidence=0.4 / rank,
                lift=6.0 / rank,
                baskets_offline=30 - rank,
                baskets_online=10,
            )
            for product_id, partner, rank, scope, store_id in rows
        ]
        suggestions += [
            Suggestion(
                merchant_id=merchant.pk,
                job_id=job.pk,
                kind="trending",
                scope="all",
                product_id=None,
                partner_id=partner,
                rank=rank,
                score=1.0 / rank,
            )
            for rank, partner in enumerate(rng.sample(ids, 50), start=1)
        ]
        Suggestion.objects.bulk_create(suggestions, batch_size=10_000)
        RecommendationState.objects.create(merchant=merchant, current_job=job, computed_at=timezone.now())
        rules = []
        for product_id in rng.sample(ids, 500):
            for position, target in enumerate(rng.sample(ids, 2), start=1):
                if target != product_id:
                    rules.append(
                        RecommendationRule(
                            merchant=merchant, kind="pin", product_id=product_id, target_id=target, position=position
                        )
                    )
        for product_id in rng.sample(ids, 100):
            target = rng.choice(ids)
            if target != product_id:
                rules.append(
                    RecommendationRule(merchant=merchant, kind="exclude", product_id=product_id, target_id=target)
                )
        created = RecommendationRule.objects.bulk_create(rules)
        RecommendationRuleStore.objects.bulk_create(
            RecommendationRuleStore(merchant=merchant, rule=rule, store=stores[0]) for rule in created[:50]
        )
        _, raw_key = api_key_create(merchant=merchant, name="bench", scopes=[ApiScope.RECOMMENDATIONS_READ])
    return raw_key, [product.sku for product in products], [store.code for store in stores]


def in_process(raw_key: str, skus: list[str], requests: int) -> dict:
    """The warm path without the network: Django's test client, the same log-uniform product choice; wall and
    CPU time per request (CPU time is what a loaded machine inflates least)."""
    from django.test import Client

    rng = random.Random(3)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    paths = [
        f"/api/v1/recommendations/?limit=10&product={skus[max(0, int(len(skus) ** rng.random()) - 1)]}"
        for _ in range(requests)
    ]
    for path in paths:  # warm the answers
        assert client.get(path).status_code == 200
    walls = []
    cpu_start = time.process_time()
    for path in paths:
        began = time.perf_counter()
        client.get(path)
        walls.append(time.perf_counter() - began)
    cpu = time.process_time() - cpu_start
    walls.sort()
    return {
        "requests": requests,
        "cpu_ms_per_request": round(1000 * cpu / requests, 3),
        "wall_p50_ms": round(1000 * walls[len(walls) // 2], 2),
        "wall_p99_ms": round(1000 * walls[int(len(walls) * 0.99)], 2),
    }


def extra_keys(count: int) -> list[str]:
    from merchants.models import ApiKey, ApiScope, Merchant
    from merchants.services import api_key_create

    merchant = Merchant.objects.get(slug=SLUG)
    ApiKey.objects.filter(merchant=merchant, name="bench-extra").delete()
    return [
        api_key_create(merchant=merchant, name="bench-extra", scopes=[ApiScope.RECOMMENDATIONS_READ])[1]
        for _ in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reusable_world(products_count: int) -> bool:
    from catalog.models import Product
    from recommendations.models import RecommendationState

    return (
        Product.objects.filter(merchant__slug=SLUG).count() == products_count
        and RecommendationState.objects.filter(merchant__slug=SLUG, current_job__isnull=False).exists()
    )


def reuse_world() -> tuple[str, list[str], list[str]]:
    from catalog.models import Product
    from merchants.models import ApiScope, Merchant
    from merchants.services import api_key_create
    from stores.models import Store

    merchant = Merchant.objects.get(slug=SLUG)
    _, raw_key = api_key_create(merchant=merchant, name="bench", scopes=[ApiScope.RECOMMENDATIONS_READ])
    skus = list(Product.objects.filter(merchant=merchant).order_by("pk").values_list("sku", flat=True))
    stores = list(Store.objects.filter(merchant=merchant).order_by("code").values_list("code", flat=True))
    return raw_key, skus, stores


def start_server(workers: int) -> subprocess.Popen:
    env = {**os.environ, **PRODUCTION_ENV}
    command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{PORT}", "--log-level", "warning", "--access-logfile", "/dev/null"]
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603


def wait_ready(server: subprocess.Popen, raw_key: str, sku: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"http://127.0.0.1:{PORT}/api/v1/recommendations/?product={sku}",
        headers={"Authorization": f"Bearer {raw_key}"},
    )
    for _ in range(150):
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                body = json.loads(response.read())
                assert len(body["results"]) == 10, body
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer")


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(number) * UNITS[unit], 2)


def run_wrk(script: Path, connections: int, seconds: int) -> dict:
    threads = min(2, connections)
    output = subprocess.run(  # noqa: S603
        [
            "/usr/bin/wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
        ]
        + [f"http://127.0.0.1:{PORT}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s*(50|75|90|99)%\s+([\d.]+(?:us|ms|s))", output, re.MULTILINE))
    if len(percentiles) != 4:
        raise SystemExit(f"wrk's output is not what was expected:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "connections": connections,
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p90_ms": _ms(percentiles["90"]),
        "p99_ms": _ms(percentiles["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", default="4,8,16")
    parser.add_argument("--in-process-requests", type=int, default=500)
    parser.add_argument("--reuse", action="store_true", help="keep the merchant of a previous run if it has them")
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/recommendations_api.json"))
    args = parser.parse_args()

    setup_django()
    from django.core.cache import cache

    from merchants.models import Merchant
    from recommendations.services import recommendations_cache_invalidate

    clock = time.perf_counter()
    if args.reuse and reusable_world(args.products):
        raw_key, skus, stores = reuse_world()
    else:
        raw_key, skus, stores = build_world(args.products)
    print(f"world built in {time.perf_counter() - clock:.1f} s: {len(skus):,} products")
    merchant_id = Merchant.objects.get(slug=SLUG).pk
    workdir = Path(tempfile.mkdtemp(prefix="nr-bench-reco-"))
    (workdir / "skus.txt").write_text("\n".join(skus) + "\n")
    script = workdir / "request.lua"
    store_list = ", ".join(f'"{code}"' for code in stores[:5])
    keys = [raw_key, *extra_keys(KEYS - 1)]
    key_list = ", ".join(f'"{key}"' for key in keys)
    script.write_text(WRK_SCRIPT % {"skus": workdir / "skus.txt", "stores": store_list, "keys": key_list})

    results_in_process = in_process(raw_key, skus, args.in_process_requests)
    print(f"in process, warm: {results_in_process}")
    global PORT  # noqa: PLW0603 - one server per run
    PORT = free_port()
    server = start_server(args.workers)
    results: dict = {"products": len(skus), "workers": args.workers, "seconds": args.seconds, "phases": []}
    results["in_process_warm"] = results_in_process
    try:
        wait_ready(server, raw_key, skus[0])
        results["load_before"] = os.getloadavg()
        for connections in [int(value) for value in args.connections.split(",")]:
            recommendations_cache_invalidate(merchant_id)
            cold = run_wrk(script, connections, args.seconds)
            warm_up = run_wrk(script, connections, max(10, args.seconds))  # fills the rest of the cache
            warm = run_wrk(script, connections, args.seconds)
            for phase, figures in (("cold", cold), ("warm-up", warm_up), ("warm", warm)):
                results["phases"].append({"phase": phase, **figures})
                print(
                    f"{phase:>8} c={connections:<3} {figures['requests_per_second']:8.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.2f} ms  p90 {figures['p90_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms"
                    f"  non-2xx {figures['non_2xx']} {figures['socket_errors']}"
                )
        results["load_after"] = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=30)
        cache.clear()
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average before {results['load_before']}, after {results.get('load_after')}; written {args.output}")


if __name__ == "__main__":
    main()
