"""Benchmark of GET /api/v1/recommendations/ over HTTP: gunicorn (2 sync workers by default) and wrk.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nr_bench_reco REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/recommendations_api.py [--products 20000] [--reuse] \\
        [--merchant bench10m] [--workers 2] [--worker-class sync] [--seconds 30] [--connections 8,16] \\
        [--questions 2000] [--output benchmarks/results/recommendations_api.json]

Needs ``wrk`` (``apt-get install wrk``). Without ``--merchant`` the database is created and migrated if needed
and the merchant "bench-reco" is rebuilt (or kept with ``--reuse``): ``--products`` products in 20 categories,
20 stores, a computed state with 10 bought-together partners per product (list "all"), 5 per product for 5
stores, and 50 trending products, plus 500 pinned products (2 pins each) and 100 exclusions. With ``--merchant``
an existing merchant is used as it is (e.g. ``bench10m`` of ``newretail_bench10m``, whose suggestions must have
been computed): only API keys are created (``merchants.services.api_key_create``) and revoked at the end.

Requests are spread over 200 API keys (the key cache and the throttle see many partners), ``limit=10``.
Passes, each ``--seconds`` long, for each ``--connections``:
- **cached**: ``--questions`` questions (products with learnt suggestions, chosen log-uniformly so some recur; a
  quarter of them in one of the 5 stores with the most store lists), each asked once before the pass: every
  request of the pass is a cache hit (answers live until a rule change or a computation);
- **uncached**: right after a cache-version bump (what follows a rule change or a recomputation), uniformly over
  every product with suggestions × (no store | 5 stores): nearly every request is computed from PostgreSQL.
Figures: requests/s and wrk's latency percentiles (p50, p90, p99), the load average before and after each pass.
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
import urllib.parse
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
KEYS = 200  # partners: each key is read once per process and API_KEY_CACHE_SECONDS
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
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local keys = {%(keys)s}
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. keys[math.random(#keys)]})
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


def in_process(raw_key: str, paths: list[str]) -> dict:
    """The cached path without the network: Django's test client over the cached questions (already answered);
    wall and CPU time per request (CPU time is what a loaded machine inflates least)."""
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    for path in paths:  # the key cache and the answers are warm
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
        "requests": len(paths),
        "cpu_ms_per_request": round(1000 * cpu / len(paths), 3),
        "wall_p50_ms": round(1000 * walls[len(walls) // 2], 2),
        "wall_p99_ms": round(1000 * walls[int(len(walls) * 0.99)], 2),
    }


def bench_keys(merchant_id: int, count: int) -> list[tuple[int, str]]:
    """``count`` new keys with ``recommendations:read`` (id, raw key), made by the product's own service."""
    from merchants.models import ApiScope, Merchant
    from merchants.services import api_key_create

    merchant = Merchant.objects.get(pk=merchant_id)
    keys = []
    for _ in range(count):
        api_key, raw_key = api_key_create(merchant=merchant, name="bench-api", scopes=[ApiScope.RECOMMENDATIONS_READ])
        keys.append((api_key.pk, raw_key))
    return keys


def bench_keys_revoke(key_ids: list[int]) -> None:
    from merchants.models import ApiKey
    from merchants.services import api_key_revoke

    for api_key in ApiKey.objects.filter(pk__in=key_ids).select_related("merchant"):
        api_key_revoke(api_key=api_key)


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


def world_of(slug: str) -> tuple[int, list[str], list[str]]:
    """An existing merchant with computed suggestions: (id, SKUs of the products with a learnt list, the codes of
    the 5 stores with the most store lists)."""
    from django.db.models import Count

    from merchants.models import Merchant
    from recommendations.models import RecommendationState, Suggestion

    merchant = Merchant.objects.get(slug=slug)
    state = RecommendationState.objects.filter(merchant=merchant, current_job__isnull=False).first()
    if state is None:
        raise SystemExit(f"{slug} has no computed suggestions: run manage.py compute_recommendations --merchant {slug}")
    learnt = Suggestion.objects.filter(merchant=merchant, job_id=state.current_job_id, product__isnull=False)
    skus = sorted(set(learnt.filter(scope="all").values_list("product__sku", flat=True)))
    stores = list(
        learnt.filter(scope="store")
        .values("store__code")
        .annotate(lists=Count("pk"))
        .order_by("-lists", "store__code")
        .values_list("store__code", flat=True)[:5]
    )
    return merchant.pk, skus, stores


def start_server(workers: int, worker_class: str) -> subprocess.Popen:
    env = {**os.environ, **PRODUCTION_ENV}
    command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--workers", str(workers), "-k", worker_class]
    command += ["--bind", f"127.0.0.1:{PORT}", "--log-level", "warning", "--access-logfile", "/dev/null"]
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603


def fetch(raw_key: str, path: str) -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"http://127.0.0.1:{PORT}{path}", headers={"Authorization": f"Bearer {raw_key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def wait_ready(server: subprocess.Popen, raw_key: str, sku: str) -> None:
    for _ in range(150):
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        try:
            body = fetch(raw_key, f"/api/v1/recommendations/?product={urllib.parse.quote(sku)}")
            assert len(body["results"]) == 10, body
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer")


def question_path(sku: str, store: str | None) -> str:
    query = {"limit": 10, "product": sku, **({"store": store} if store else {})}
    return "/api/v1/recommendations/?" + urllib.parse.urlencode(query)


def cached_questions(skus: list[str], stores: list[str], count: int) -> list[str]:
    """``count`` distinct questions: products chosen log-uniformly (a few very often, most rarely), a quarter in
    a store."""
    rng = random.Random(5)
    paths: set[str] = set()
    while len(paths) < min(count, len(skus)):
        sku = skus[max(0, int(len(skus) ** rng.random()) - 1)]
        paths.add(question_path(sku, rng.choice(stores) if stores and rng.random() < 0.25 else None))
    return sorted(paths)


def all_questions(skus: list[str], stores: list[str]) -> list[str]:
    return [question_path(sku, store) for sku in skus for store in [None, *stores]]


def warm(raw_key: str, paths: list[str]) -> float:
    """Ask every question once (4 at a time), so each is in the cache; returns the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    began = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        for body in pool.map(lambda path: fetch(raw_key, path), paths):
            assert "results" in body, body
    return time.perf_counter() - began


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
    parser.add_argument("--reuse", action="store_true", help="keep the merchant of a previous run if it has them")
    parser.add_argument("--merchant", help="benchmark this existing merchant (e.g. bench10m) instead of bench-reco")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", default="8,16")
    parser.add_argument("--questions", type=int, default=2000, help="distinct questions of the cached pass")
    parser.add_argument("--passes", default="cached,uncached")
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/recommendations_api.json"))
    args = parser.parse_args()

    setup_django()
    from recommendations.services import recommendations_cache_invalidate

    clock = time.perf_counter()
    if args.merchant:
        merchant_id, skus, stores = world_of(args.merchant)
    else:
        if not (args.reuse and reusable_world(args.products)):
            build_world(args.products)
        merchant_id, skus, stores = world_of(SLUG)
    print(
        f"world ready in {time.perf_counter() - clock:.1f} s: {len(skus):,} products with suggestions, stores {stores}"
    )
    keys = bench_keys(merchant_id, KEYS)
    workdir = Path(tempfile.mkdtemp(prefix="nr-bench-reco-"))
    key_list = ", ".join(f'"{raw_key}"' for _, raw_key in keys)
    cached = cached_questions(skus, stores, args.questions)
    scripts = {}
    for name, paths in (("cached", cached), ("uncached", all_questions(skus, stores))):
        (workdir / f"{name}.txt").write_text("\n".join(paths) + "\n")
        scripts[name] = workdir / f"{name}.lua"
        scripts[name].write_text(WRK_SCRIPT % {"paths": workdir / f"{name}.txt", "keys": key_list})

    global PORT  # noqa: PLW0603 - one server per run
    PORT = free_port()
    server = start_server(args.workers, args.worker_class)
    results: dict = {
        "merchant": args.merchant or SLUG,
        "products_with_suggestions": len(skus),
        "cached_questions": len(cached),
        "workers": args.workers,
        "worker_class": args.worker_class,
        "seconds": args.seconds,
        "keys": KEYS,
        "passes": [],
    }
    try:
        raw_key = keys[0][1]
        wait_ready(server, raw_key, skus[0])
        for connections in [int(value) for value in args.connections.split(",")]:
            for phase in args.passes.split(","):
                if phase == "cached":
                    recommendations_cache_invalidate(merchant_id)
                    warm_seconds = warm(raw_key, cached)
                    print(f"warmed {len(cached)} questions in {warm_seconds:.1f} s")
                else:
                    recommendations_cache_invalidate(merchant_id)
                load_before = os.getloadavg()
                figures = run_wrk(scripts[phase], connections, args.seconds)
                load_after = os.getloadavg()
                results["passes"].append(
                    {"pass": phase, **figures, "load_before": load_before, "load_after": load_after}
                )
                print(
                    f"{phase:>8} c={connections:<3} {figures['requests_per_second']:8.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.2f} ms  p90 {figures['p90_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms"
                    f"  non-2xx {figures['non_2xx']} {figures['socket_errors']}  "
                    f"load {load_before[0]:.2f} -> {load_after[0]:.2f}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    recommendations_cache_invalidate(merchant_id)
    results["in_process_cached"] = in_process(raw_key, cached[:500])
    print(f"in process, cached: {results['in_process_cached']}")
    bench_keys_revoke([key_id for key_id, _ in keys])
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
