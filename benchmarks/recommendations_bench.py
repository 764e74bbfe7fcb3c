"""Benchmark of the recommendations engine on the 10M-line merchant (``benchmarks/dataset10m.py``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/newretail_bench10m REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/recommendations_bench.py [--merchant bench10m] [--window-days 730 365]
        [--skip-compute] [--skip-api] [--seconds 20] [--clients 8] [--output benchmarks/results/recommendations.json]

1. Compute: ``manage.py compute_recommendations`` in a child process per window (730 days = every line of the
   dataset; 365 = the default window), end to end (reading the lines out of PostgreSQL, learning, writing the
   suggestions, the switch); the job's own step timings; the child's peak RSS (GNU ``time``'s maximum resident
   set size of the worker process; the ``psql`` readers it starts are ~10 MB each).
2. API: gunicorn with 2 sync workers (production settings) on loopback, ``--clients`` threads with keep-alive
   connections sending ``GET /api/v1/recommendations/`` for 500 products that have suggestions (70% product only,
   20% in a store, 10% online), for ``--seconds`` after a warm-up pass that fills the Redis cache; then a cold pass
   (a rule change bumps the cache version before it: every answer is computed again); latency p50/p99 and
   requests/s of each.
Results are written to ``--output`` (JSON) with the machine's load average before and after each pass; the
passes not run keep their last figures and a re-run pass's previous figures move to ``earlier_runs``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/newretail_bench10m")
os.environ.setdefault("API_RATE_LIMIT", "100000000/minute")

PORT = 8791


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def compute(merchant_slug: str, window_days: int) -> dict:
    started = time.perf_counter()
    command = [sys.executable, "manage.py", "compute_recommendations", "--merchant", merchant_slug]
    command += ["--window-days", str(window_days)]
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        if Path("/usr/bin/time").exists():  # GNU time: the peak RSS of this very process
            command = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command]
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
        wall = time.perf_counter() - started
        text = Path(rss.name).read_text().strip()
    peak_kb = int(text.splitlines()[-1]) if text else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    job_id = int(re.search(r"job #(\d+)", output.stdout).group(1))
    from recommendations.models import RecommendationJob

    job = RecommendationJob.objects.get(pk=job_id)
    result = {
        "window_days": window_days,
        "job": job_id,
        "wall_seconds_including_django_start": round(wall, 2),
        "job_seconds": job.duration_seconds,
        "timings": job.timings,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "lines": job.lines_read,
        "baskets": job.baskets_count,
        "products": job.products_count,
        "returning_customers": job.customers_count,
        "store_scopes": job.store_scopes,
        "suggestions_written": job.suggestions_count,
        "summary": output.stdout.strip(),
    }
    print(output.stdout.strip())
    print(f"  peak RSS {result['peak_rss_mb']} MB, wall {wall:.1f} s (with Django's start)")
    return result


def api(merchant_slug: str, seconds: float, clients: int) -> dict:
    from merchants.models import ApiScope, Merchant
    from merchants.services import api_key_create
    from recommendations.models import RecommendationState, Suggestion
    from recommendations.services import recommendations_cache_invalidate
    from stores.models import Store

    merchant = Merchant.objects.get(slug=merchant_slug)
    _, raw_key = api_key_create(merchant=merchant, name="recommendations bench", scopes=[ApiScope.RECOMMENDATIONS_READ])
    job_id = RecommendationState.objects.get(merchant=merchant).current_job_id
    skus = list(
        Suggestion.objects.filter(merchant=merchant, job_id=job_id, kind="bought_together", scope="all", rank=1)
        .order_by("-support")
        .values_list("product__sku", flat=True)[:500]
    )
    stores = list(Store.objects.for_merchant(merchant).values_list("code", flat=True)[:20])
    rng = random.Random(7)
    paths = []
    for sku in skus:
        draw = rng.random()
        query = f"product={sku}"
        if draw < 0.2:
            query += f"&store={rng.choice(stores)}"
        elif draw < 0.3:
            query += "&channel=online"
        paths.append(f"/api/v1/recommendations/?{query}")
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef0123456789",  # noqa: S105
        "IDENTITY_HASH_KEY": "benchmark-only-identity-key",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_CONN_MAX_AGE": "600",
    }
    command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{PORT}"]
    command += ["--log-level", "warning", "--keep-alive", "30"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    headers = {"Authorization": f"Bearer {raw_key}"}
    try:
        for _ in range(150):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
                connection.request("GET", paths[0], headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise SystemExit(f"the API answered {response.status}: {body[:300]!r}")
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not answer")

        def run(label: str, duration: float | None, sequence: list[str], clients: int = clients) -> dict:
            latencies: list[float] = []
            lock = threading.Lock()
            queue = list(sequence)
            deadline = time.perf_counter() + duration if duration else None

            def client(number: int) -> None:
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                mine: list[float] = []
                position = number
                while True:
                    if deadline is not None:
                        if time.perf_counter() >= deadline:
                            break
                        path = sequence[position % len(sequence)]
                        position += clients
                    else:
                        with lock:
                            if not queue:
                                break
                            path = queue.pop()
                    began = time.perf_counter()
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    mine.append(time.perf_counter() - began)
                    if response.status != 200:
                        raise SystemExit(f"{path} answered {response.status}")
                with lock:
                    latencies.extend(mine)

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            result = {
                "requests": len(latencies),
                "seconds": round(elapsed, 2),
                "requests_per_second": round(len(latencies) / elapsed, 1),
                "p50_ms": round(1000 * percentile(latencies, 0.50), 2),
                "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
                "max_ms": round(1000 * max(latencies), 2),
            }
            print(f"  {label}: {result}")
            return result

        run("warm-up (fills the cache)", None, paths)
        warm = run(f"cached, {clients} clients, {seconds:.0f} s", seconds, paths)
        recommendations_cache_invalidate(merchant.pk)  # what every rule change does
        cold = run(f"uncached (after invalidation), {clients} clients, each key once", None, paths)
        single = run("cached, 1 client", seconds / 2, paths, clients=1) if clients > 1 else None
    finally:
        server.terminate()
        server.wait(10)
    return {"workers": 2, "clients": clients, "products": len(skus), "cached": warm, "uncached": cold,
            "cached_one_client": single}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchant", default="bench10m")
    parser.add_argument("--window-days", type=int, nargs="*", default=[730, 365])
    parser.add_argument("--skip-compute", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/recommendations.json"))
    args = parser.parse_args()
    import django

    django.setup()
    output = Path(args.output)
    # Earlier results stay in the file: a pass that is skipped keeps its last figures, a re-run pass moves its
    # previous figures to "earlier_runs".
    results: dict = json.loads(output.read_text()) if output.exists() else {}
    earlier = results.setdefault("earlier_runs", [])
    results.update(
        {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "merchant": args.merchant,
        }
    )
    if not args.skip_compute:
        if "compute" in results:
            earlier.append({"compute": results.pop("compute"), "load_average": results.get("compute_load_average")})
        runs = []
        for days in args.window_days:
            before = os.getloadavg()
            run = compute(args.merchant, days)
            run["load_average_before"], run["load_average_after"] = before, os.getloadavg()
            runs.append(run)
        results["compute"] = runs
        results["compute_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not args.skip_api:
        if "api" in results:
            earlier.append({"api": results.pop("api"), "load_average": results.get("api_load_average")})
        before = os.getloadavg()
        results["api"] = api(args.merchant, args.seconds, args.clients)
        results["api_load_average"] = [before, os.getloadavg()]
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {args.output}; load average now {os.getloadavg()}")


if __name__ == "__main__":
    main()
