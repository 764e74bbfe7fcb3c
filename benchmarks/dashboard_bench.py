"""Dashboard and analytics benchmarks of issue 4 ("Performance") on the 10M-line merchant of ``dataset10m.py``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ .venv/bin/python benchmarks/dashboard_bench.py \
        [--db newretail_bench10m] [--requests 30] [--budget 90] [--skip-http] [--skip-raw | --raw-from FILE]
        [--skip-profile] [--skip-refresh] [--skip-precompute] [--only TEXT] [--label TEXT] [--output FILE]

0. The presets' precompute (``analytics.precompute.presets_precompute``, what ``presets_precompute_task`` runs
   after every refresh), timed (``--skip-precompute``: leave the stored answers as they are). "Uncached" below is
   therefore the first request after a refresh *once its precompute has run*; for the seconds in between, the
   same requests compute live (the figures of ``--skip-precompute`` runs before the precompute existed).

1. Over HTTP: gunicorn (``--workers`` sync workers on 127.0.0.1, a free port, the production settings of
   ``BENCH_ENV`` in ``benchmarks/run.py``, Redis cache on ``BENCH_REDIS_URL``, static files collected into a
   private directory), logged in as the owner ``bench@newretail.local`` (a session created in the database, sent
   as the session cookie), for the 5 filter combinations of the issue:

   - the full dashboard page ``/m/bench10m/?…``: the first request of each combination with the cache empty
     ("cold"; the workers have served only a warm-up page), then ``--requests`` requests with the Redis cache
     flushed before each ("uncached": every figure computed again), then ``--requests`` requests without
     flushing ("warm": whatever the page caches); a mode stops early when it has used ``--budget`` seconds;
   - the analytics summary API ``/api/v1/analytics/summary/?…`` (Bearer key of ``bench10m_key.txt``), the same.

   Times are wall time to the last byte over loopback, measured by the client (one request at a time).
2. The same figures computed by aggregating raw order lines in SQL (KPIs and their comparison, distinct
   customers, daily series by channel, stores, top products, categories), in process (``--skip-raw``, or
   ``--raw-from`` an earlier result to reuse its figures: they do not depend on the analytics code).
3. A profile (``--skip-profile``): each page and API request once in process with the cache flushed, its SQL
   captured (number of queries, SQL time, the slowest statements) and a cProfile of the Python side.
4. The rollup refresh (``--skip-refresh``): a batch of 1,000 new orders through
   ``sales.ingest.service.orders_ingest``, timed, then the refresh of its dirty days
   (``analytics.tasks.rollups_refresh_task`` run in process), timed with its slowest statements; the batch is
   then deleted and the refresh run again, so the dataset stays as ``dataset10m.py`` made it; after each refresh,
   the precompute it queues, timed.

Results: ``benchmarks/results/dashboard.json``; Markdown tables are printed for ``benchmarks/README.md``.
Routes or tasks that do not exist yet are reported as such (status and first bytes of the answer), not guessed.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dataset10m import DEFAULT_DB, KEY_FILE, OWNER_EMAIL, SLUG  # noqa: E402
from run import BENCH_ENV, database_url  # noqa: E402

PORT = 0  # chosen free at start (a fixed port collided with another benchmark's load tool)
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
STATIC_ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", "/tmp/newretail-bench-static"))  # noqa: S108
REFRESH_SOURCE = "bench-refresh"
CATEGORY = "Sneakers"


def combinations(store_code: str) -> list[dict]:
    """The issue's 5 filter combinations, as the page's and the API's query parameters."""
    return [
        {"label": "last 30 days", "params": {"preset": "last_30"}},
        {"label": "last 2 years", "params": {"preset": "last_730"}},
        {"label": f"one store ({store_code}), last 90 days", "params": {"preset": "last_90", "store": store_code}},
        {"label": "offline only, year to date", "params": {"preset": "ytd", "channel": "offline"}},
        {
            "label": f"one category ({CATEGORY}), last 30 days, compared with last year",
            "params": {"preset": "last_30", "category": CATEGORY, "compare": "last_year"},
        },
    ]


def query_string(params: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summarise(milliseconds: list[float]) -> dict:
    if not milliseconds:
        return {}
    return {
        "n": len(milliseconds),
        "p50_ms": round(statistics.median(milliseconds), 1),
        "p95_ms": round(percentile(milliseconds, 0.95), 1),
        "max_ms": round(max(milliseconds), 1),
    }


# --- the server and the client --------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_start(env: dict, workers: int) -> subprocess.Popen:
    global PORT  # one server per run; get() reads it
    PORT = free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(200):
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            connection.request("GET", "/accounts/login/")
            connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("gunicorn did not answer")


def get(path: str, headers: dict) -> tuple[int, float, bytes]:
    """(status, wall milliseconds to the last byte, body) of one GET over a new connection (gunicorn's sync
    workers close the connection after each response)."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=300)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Host": "127.0.0.1", **headers})
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return response.status, elapsed, body


def flush_cache() -> None:
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()


def measure(path: str, headers: dict, requests: int, flush: bool, budget_s: float) -> dict:
    """``requests`` GETs (fewer if they take longer than ``budget_s`` altogether: ``n`` says how many)."""
    timings, statuses = [], set()
    failure = None
    deadline = time.perf_counter() + budget_s
    for _ in range(requests):
        if timings and time.perf_counter() > deadline:
            break
        if flush:
            flush_cache()
        status, elapsed, body = get(path, headers)
        statuses.add(status)
        if status != 200:
            failure = {"status": status, "body": body[:300].decode(errors="replace")}
            break
        timings.append(elapsed)
    result = summarise(timings)
    result["all_ms"] = [round(value) for value in timings]  # in request order: shows warm-up and outliers
    if failure:
        result["failure"] = failure
    return result


def session_cookie(env: dict) -> str:
    """Log the owner in the way ``django.contrib.auth.login`` does: a session row holding the user's id,
    backend and session hash (the password stays where ``dataset10m.py`` printed it)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts.models import User

    user = User.objects.get(email=OWNER_EMAIL)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


# --- where a request's time goes (in process) -----------------------------------------------------------


def slowest(captured: list[dict], count: int, length: int) -> list[dict]:
    """The ``count`` slowest captured queries: milliseconds and SQL (whitespace collapsed, cut at ``length``)."""
    ordered = sorted(captured, key=lambda query: float(query["time"]), reverse=True)[:count]
    return [
        {"ms": round(float(query["time"]) * 1000, 1), "sql": " ".join(query["sql"].split())[:length]}
        for query in ordered
    ]


def python_hotspots(profiler, limit: int = 12) -> list[str]:
    """The project's and its rendering libraries' functions with the most cumulative time (cProfile)."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(r"(analytics|merchants|core|plotly|template|json)", limit)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    start = next((n for n, line in enumerate(lines) if line.lstrip().startswith("ncalls")), len(lines))
    return [" ".join(line.split()) for line in lines[start + 1 :] if line.strip()]


def profile_requests(merchant, combos: list[dict], api_key: str) -> list[dict]:
    """Each page and API request once in process (Django's test client, same settings), with its SQL
    captured: the number of queries, their total time and the slowest ones (to say what to index or pre-aggregate)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=OWNER_EMAIL), backend="django.contrib.auth.backends.ModelBackend")
    client.get(f"/m/{SLUG}/?preset=last_7")  # imports and URL resolver loaded before anything is timed
    profiles = []
    for combo in combos:
        qs = query_string(combo["params"])
        entry = {"label": combo["label"]}
        for name, path, headers in (
            ("page", f"/m/{SLUG}/?{qs}", {}),
            ("api", f"/api/v1/analytics/summary/?{qs}", {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}),
        ):
            flush_cache()
            profiler = cProfile.Profile()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                profiler.enable()
                response = client.get(path, **headers)
                profiler.disable()
                elapsed = (time.perf_counter() - started) * 1000
            queries = [float(query["time"]) * 1000 for query in captured.captured_queries]
            entry[name] = {
                "status": response.status_code,
                "ms": round(elapsed, 1),
                "queries": len(queries),
                "sql_ms": round(sum(queries), 1),
                "slowest": slowest(captured.captured_queries, 4, 2000),
                "python_cumulative": python_hotspots(profiler),
            }
        print(
            f"profile, {combo['label']}: page {entry['page']['ms']} ms, {entry['page']['queries']} queries "
            f"({entry['page']['sql_ms']} ms SQL); API {entry['api']['ms']} ms, {entry['api']['queries']} queries",
            flush=True,
        )
        profiles.append(entry)
    return profiles


# --- the same figures from raw order lines ----------------------------------------------------------


def raw_filters(merchant, params: dict) -> dict:
    """Dates and ids of a combination (as ``analytics.filters`` resolves them) for the raw SQL."""
    from analytics.filters import Preset, preset_range
    from catalog.models import Category
    from stores.models import Store

    today = datetime.now(zoneinfo.ZoneInfo(merchant.timezone)).date()
    date_from, date_to = preset_range(Preset(params["preset"]), today)
    days = (date_to - date_from).days + 1
    compare = params.get("compare", "previous")
    if compare == "last_year":
        comparison = (date_from.replace(year=date_from.year - 1), date_to.replace(year=date_to.year - 1))
    else:
        end = date_from - timedelta(days=1)
        comparison = (end - timedelta(days=days - 1), end)
    store_ids = None
    if "store" in params:
        store_ids = [Store.objects.for_merchant(merchant).get(code=params["store"]).pk]
    category_id = None
    if "category" in params:
        category_id = Category.objects.for_merchant(merchant).get(name=params["category"]).pk
    return {
        "merchant": merchant.pk,
        "from": date_from,
        "to": date_to,
        "comparison": comparison,
        "channel": params.get("channel"),
        "stores": store_ids,
        "category": category_id,
    }


def _line_where(f: dict) -> tuple[str, str]:
    """(extra joins, extra conditions) on ``sales_orderline AS l`` / ``sales_order AS o``."""
    joins, conditions = "", ""
    if f["channel"]:
        conditions += " AND l.channel = %(channel)s"
    if f["stores"]:
        conditions += " AND l.store_id = ANY(%(stores)s)"
    if f["category"]:
        joins += " JOIN catalog_product AS p ON p.id = l.product_id"
        conditions += " AND p.category_id = %(category)s"
    return joins, conditions


def raw_queries(f: dict) -> list[tuple[str, str, dict]]:
    """The dashboard's figures straight from the lines: (name, SQL, parameters)."""
    joins, conditions = _line_where(f)
    base = f"""
        FROM sales_orderline AS l JOIN sales_order AS o ON o.id = l.order_id{joins}
        WHERE l.merchant_id = %(merchant)s AND l.local_date BETWEEN %(from)s AND %(to)s
          AND o.status <> 'cancelled'{conditions}
    """
    kpis = f"""
        SELECT sum(l.gross) FILTER (WHERE l.kind = 'sale'), sum(l.discount) FILTER (WHERE l.kind = 'sale'),
               -sum(l.net) FILTER (WHERE l.kind = 'return'), sum(l.net), sum(l.quantity),
               count(DISTINCT l.order_id) FILTER (WHERE l.kind = 'sale'),
               sum(l.net) FILTER (WHERE l.channel = 'online')
        {base}
    """  # noqa: S608 (constant fragments)
    customers = f"""
        WITH c AS (
            SELECT o.customer_id, bool_or(o.channel = 'online') AS online, bool_or(o.channel = 'offline') AS offline
            {base} AND l.kind = 'sale' AND o.customer_id IS NOT NULL
            GROUP BY o.customer_id
        )
        SELECT count(*), count(*) FILTER (WHERE online AND offline),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM sales_order AS b WHERE b.merchant_id = %(merchant)s
                   AND b.customer_id = c.customer_id AND b.local_date < %(from)s AND b.status <> 'cancelled'))
        FROM c
    """  # noqa: S608
    series = f"SELECT l.local_date, l.channel, sum(l.net) {base} GROUP BY 1, 2 ORDER BY 1, 2"  # noqa: S608
    stores = f"SELECT l.store_id, sum(l.net), count(DISTINCT l.order_id) {base} GROUP BY 1"  # noqa: S608
    products = f"SELECT l.product_id, sum(l.net), sum(l.quantity) {base} GROUP BY 1 ORDER BY 2 DESC LIMIT 10"  # noqa: S608
    by_product = base.replace("WHERE", "JOIN catalog_product AS p2 ON p2.id = l.product_id WHERE", 1)
    categories = f"SELECT p2.category_id, sum(l.net) {by_product} GROUP BY 1"  # noqa: S608
    comparison = {**f, "from": f["comparison"][0], "to": f["comparison"][1]}
    return [
        ("kpis", kpis, f),
        ("customers", customers, f),
        ("kpis (comparison)", kpis, comparison),
        ("customers (comparison)", customers, comparison),
        ("daily series by channel", series, f),
        ("stores", stores, f),
        ("top products", products, f),
        ("categories", categories, f),
    ]


def raw_measure(merchant, combination: dict, rounds: int) -> dict:
    from django.db import connection

    f = raw_filters(merchant, combination["params"])
    totals, parts = [], {}
    with connection.cursor() as cursor:
        for _ in range(rounds):
            total = 0.0
            for name, sql, params in raw_queries(f):
                started = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                elapsed = (time.perf_counter() - started) * 1000
                parts.setdefault(name, []).append(elapsed)
                total += elapsed
            totals.append(total)
            if total > 5000:  # slow enough that one round says it (and the machine is shared)
                break
    return {
        "rounds": len(totals),
        "page_total_p50_ms": round(statistics.median(totals), 1),
        "page_total_max_ms": round(max(totals), 1),
        "summary_only_p50_ms": round(
            statistics.median([sum(parts[name][i] for name in ("kpis", "customers")) for i in range(len(totals))]),
            1,
        ),
        "queries_p50_ms": {name: round(statistics.median(values), 1) for name, values in parts.items()},
    }


# --- rollups refresh after a 1,000-order batch ---------------------------------------------------------


def refresh_task():
    try:
        from analytics import tasks
    except ImportError as error:
        return None, f"analytics.tasks cannot be imported: {error}"
    task = getattr(tasks, "rollups_refresh_task", None)
    if task is None:
        return None, "analytics.tasks.rollups_refresh_task does not exist"
    return task, None


def refresh_batch(merchant, rng_seed: int = 4) -> list:
    import random
    from decimal import Decimal

    from catalog.models import Product
    from sales.ingest.types import IdentifierInput, LineInput, OrderInput
    from sales.models import Customer
    from stores.models import Store

    rnd = random.Random(rng_seed)
    skus = list(Product.objects.for_merchant(merchant).values_list("sku", "price")[:4000])
    stores = list(Store.objects.for_merchant(merchant).values_list("code", flat=True))
    emails = list(Customer.objects.for_merchant(merchant).exclude(email="").values_list("email", flat=True)[:5000])
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%d%H%M%S")
    orders = []
    for index in range(1000):
        offline = rnd.random() < 0.65
        lines = []
        for _ in range(rnd.choice([1, 1, 2, 2, 3, 4])):
            sku, price = rnd.choice(skus)
            lines.append(LineInput(sku=sku, quantity=Decimal(rnd.choice([1, 1, 1, 2])), unit_price=price))
        identifiers = []
        if rnd.random() < 0.7:
            identifiers = [IdentifierInput("email", rnd.choice(emails))]
        orders.append(
            OrderInput(
                source=REFRESH_SOURCE,
                external_id=f"{stamp}-{index}",
                channel="offline" if offline else "online",
                store=rnd.choice(stores) if offline else None,
                placed_at=now - timedelta(minutes=rnd.randint(1, 3 * 24 * 60)),
                currency=merchant.currency,
                lines=lines,
                identifiers=identifiers,
            )
        )
    return orders


def refresh_measure(merchant) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sales.ingest.service import orders_ingest
    from sales.models import DirtyDay, Order, OrderLine
    from sales.services import rollups_mark_dirty

    task, problem = refresh_task()
    if task is None:
        return {"not_measurable": problem}
    result: dict = {}
    pending = DirtyDay.objects.for_merchant(merchant).count()
    if pending:  # earlier leftovers: refresh them first, so that the timing below is the batch's alone
        started = time.perf_counter()
        task.apply(args=(merchant.pk,), throw=True)
        result["leftover_dirty_days"] = {"days": pending, "seconds": round(time.perf_counter() - started, 3)}

    orders = refresh_batch(merchant)
    started = time.perf_counter()
    outcomes = orders_ingest(merchant=merchant, orders=orders)
    result["ingest_seconds"] = round(time.perf_counter() - started, 3)
    result["orders"] = sum(outcome.result == "created" for outcome in outcomes)
    result["lines"] = sum(len(order.lines) for order in orders)
    result["dirty_days"] = DirtyDay.objects.for_merchant(merchant).count()
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        task.apply(args=(merchant.pk,), throw=True)
        result["refresh_seconds"] = round(time.perf_counter() - started, 3)
    result["refresh_queries"] = len(captured.captured_queries)
    result["refresh_slowest"] = slowest(captured.captured_queries, 6, 1500)
    result["dirty_days_left"] = DirtyDay.objects.for_merchant(merchant).count()
    result["precompute_after_refresh"] = precompute_measure(merchant, force=False)  # what the task queues next

    # Back to the dataset as built: delete the batch, refresh its days again (timed too).
    batch = Order.objects.for_merchant(merchant).filter(source=REFRESH_SOURCE)
    days = set(OrderLine.objects.filter(merchant=merchant, order__in=batch).values_list("local_date", flat=True))
    OrderLine.objects.filter(merchant=merchant, order__in=batch).delete()
    batch.delete()
    rollups_mark_dirty(merchant, days)
    started = time.perf_counter()
    task.apply(args=(merchant.pk,), throw=True)
    result["refresh_after_delete_seconds"] = round(time.perf_counter() - started, 3)
    result["precompute_after_delete"] = precompute_measure(merchant, force=False)
    return result


def precompute_measure(merchant, *, force: bool) -> dict:
    """``analytics.precompute.presets_precompute`` (what ``presets_precompute_task`` runs after each refresh),
    timed: the standard presets' answers that the first requests after a refresh read."""
    try:
        from analytics.precompute import presets_precompute
    except ImportError as error:
        return {"not_measurable": f"analytics.precompute cannot be imported: {error}"}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    outcome = presets_precompute(merchant_id=merchant.pk, force=force)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "answers": outcome.answers,
        "steps": outcome.steps,
        "load_average": round(load, 2),
    }


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--requests", type=int, default=30, help="measured requests per combination and mode")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=float, default=90, help="seconds at most per combination and mode")
    parser.add_argument("--raw-rounds", type=int, default=3, help="rounds of the raw-lines SQL per combination")
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--raw-from", help="take the raw-lines SQL figures from this earlier result file")
    parser.add_argument("--skip-refresh", action="store_true")
    parser.add_argument("--skip-profile", action="store_true", help="skip the in-process SQL profile")
    parser.add_argument("--skip-http", action="store_true", help="skip the requests over HTTP")
    parser.add_argument(
        "--skip-precompute", action="store_true", help="do not run the presets' precompute before the requests"
    )
    parser.add_argument("--only", help="measure only the combinations whose label contains this text")
    parser.add_argument("--label", default="")
    parser.add_argument("--output", default=str(RESULTS / "dashboard.json"))
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    url = database_url(base, args.db)
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": url,
        "REDIS_URL": BENCH_REDIS_URL,
        "DJANGO_CONN_MAX_AGE": "60",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_ROOT": str(STATIC_ROOT),
    }
    # This process queues nothing anywhere; its test client (the profile) calls itself "testserver".
    # The raw-lines SQL may run longer than the web's statement timeout: none in this process.
    os.environ.update(
        {
            **env,
            "CELERY_BROKER_URL": "memory://",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
            "DB_STATEMENT_TIMEOUT_MS": "0",
        }
    )
    import django

    django.setup()
    from django.db import connection

    from merchants.models import Merchant

    merchant = Merchant.objects.get(slug=SLUG)
    key_file = KEY_FILE if args.db == DEFAULT_DB else RESULTS / f"{args.db}_key.txt"
    api_key = key_file.read_text().strip()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.code FROM sales_order AS o JOIN stores_store AS s ON s.id = o.store_id "
            "WHERE o.merchant_id = %s AND o.channel = 'offline' GROUP BY s.code ORDER BY count(*) DESC LIMIT 1",
            [merchant.pk],
        )
        busiest_store = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM sales_orderline WHERE merchant_id = %s", [merchant.pk])
        line_count = cursor.fetchone()[0]
    cookie = session_cookie(env)
    connection.close()
    combos = [combo for combo in combinations(busiest_store) if not args.only or args.only in combo["label"]]
    page_headers = {"Cookie": cookie}
    api_headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    load_before = os.getloadavg()[0]

    # Production settings serve hashed static files from a manifest: collect them (into a private directory).
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    print(f"gunicorn, {args.workers} workers, on {args.db} ({line_count:,} lines)", flush=True)
    flush_cache()
    # "Uncached" below is the first request after a refresh once the precompute it queues has run: run it now.
    precompute = None if args.skip_precompute else precompute_measure(merchant, force=True)
    if precompute:
        print(f"precompute: {json.dumps(precompute)}", flush=True)
    connection.close()
    results = []
    server = server_start(env, args.workers) if not args.skip_http else None
    try:
        for _ in range(args.workers * 2 if server else 0):  # warm every worker on a page that reads no sales
            get("/accounts/login/", {})
        for combo in combos if server else []:
            qs = query_string(combo["params"])
            page, api = f"/m/{SLUG}/?{qs}", f"/api/v1/analytics/summary/?{qs}"
            entry = {"label": combo["label"], "params": combo["params"], "page_path": page, "api_path": api}
            flush_cache()  # cold: nothing of this combination (nor of the others) in the cache
            status, cold, body = get(page, page_headers)
            entry["page_cold_ms"] = round(cold, 1) if status == 200 else None
            if status != 200:
                entry["page"] = {"failure": {"status": status, "body": body[:300].decode(errors="replace")}}
            else:
                entry["page_uncached"] = measure(page, page_headers, args.requests, flush=True, budget_s=args.budget)
                entry["page_warm"] = measure(page, page_headers, args.requests, flush=False, budget_s=args.budget)
            flush_cache()  # the page may have cached the figures the API reads
            status, cold, body = get(api, api_headers)
            entry["api_cold_ms"] = round(cold, 1) if status == 200 else None
            if status != 200:
                entry["api"] = {"failure": {"status": status, "body": body[:300].decode(errors="replace")}}
            else:
                entry["api_uncached"] = measure(api, api_headers, args.requests, flush=True, budget_s=args.budget)
                entry["api_warm"] = measure(api, api_headers, args.requests, flush=False, budget_s=args.budget)
            print(json.dumps(entry), flush=True)
            results.append(entry)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)

    merchant = Merchant.objects.get(slug=SLUG)
    if args.raw_from:
        earlier_result = json.loads(Path(args.raw_from).read_text())
        earlier = {entry["label"]: entry for entry in earlier_result["combinations"]}
        measured = f"{earlier_result['when']} ({earlier_result['label']})"
        for entry in results:
            if "raw_sql" in earlier.get(entry["label"], {}):
                entry["raw_sql"] = {**earlier[entry["label"]]["raw_sql"], "measured": measured}
    elif not args.skip_raw:
        for combo, entry in zip(combos, results, strict=False):
            entry["raw_sql"] = raw_measure(merchant, combo, args.raw_rounds)
            print(f"raw SQL, {combo['label']}: {entry['raw_sql']['page_total_p50_ms']} ms", flush=True)
    for entry in results:  # raw-lines SQL time ÷ the request's time over HTTP (rollups, uncached)
        for mode in ("page_uncached", "api_uncached"):
            rollup = entry.get(mode, {}).get("p50_ms")
            raw_key = "page_total_p50_ms" if mode == "page_uncached" else "summary_only_p50_ms"
            if rollup and "raw_sql" in entry:
                entry[f"{mode}_raw_ratio"] = round(entry["raw_sql"][raw_key] / rollup, 1)

    profiles = None
    if not args.skip_profile:
        profiles = profile_requests(merchant, combos, api_key)

    refresh = None
    if not args.skip_refresh:
        print("rollups refresh after a 1,000-order batch ...", flush=True)
        refresh = refresh_measure(merchant)
        print(json.dumps(refresh), flush=True)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "database": args.db,
        "order_lines": line_count,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "server": {"gunicorn_workers": args.workers, "requests_per_mode": args.requests, "budget_s": args.budget},
        "targets": {"page_p95_ms": 150, "api_p95_ms": 50, "refresh_s": 2},
        "precompute": precompute,
        "combinations": results,
        "profiles": profiles,
        "refresh": refresh,
    }
    Path(args.output).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwritten {args.output}\n")
    print(markdown_table(result))


def cell(entry: dict, key: str) -> str:
    figures = entry.get(key)
    if not figures:
        return "n/a"
    if "failure" in figures:
        return f"HTTP {figures['failure']['status']}"
    return f"{figures['p50_ms']:.0f} / {figures['p95_ms']:.0f}"


def markdown_table(result: dict) -> str:
    """Two tables for ``benchmarks/README.md``: over HTTP (with the raw-lines SQL beside), and the SQL alone."""
    rows = [
        "| combination | page cold ms | page uncached p50 / p95 ms | page warm p50 / p95 ms | API cold ms "
        "| API uncached p50 / p95 ms | API warm p50 / p95 ms | raw-lines SQL, page / summary ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in result["combinations"]:
        raw = entry.get("raw_sql", {})
        rows.append(
            f"| {entry['label']} | {entry.get('page_cold_ms') or 'n/a'} | {cell(entry, 'page_uncached')} | "
            f"{cell(entry, 'page_warm')} | {entry.get('api_cold_ms') or 'n/a'} | {cell(entry, 'api_uncached')} | "
            f"{cell(entry, 'api_warm')} | {raw.get('page_total_p50_ms', 'n/a')} / "
            f"{raw.get('summary_only_p50_ms', 'n/a')} |"
        )
    profiles = {profile["label"]: profile for profile in result.get("profiles") or []}
    if profiles:
        rows += [
            "",
            "| combination | page: queries, SQL ms (rollups) | raw-lines SQL ms | SQL ratio | API: queries, SQL ms "
            "| raw-lines summary SQL ms | SQL ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for entry in result["combinations"]:
            profile = profiles.get(entry["label"])
            raw = entry.get("raw_sql", {})
            if not profile:
                continue
            page, api = profile["page"], profile["api"]
            page_ratio = _ratio(raw.get("page_total_p50_ms"), page["sql_ms"])
            api_ratio = _ratio(raw.get("summary_only_p50_ms"), api["sql_ms"])
            rows.append(
                f"| {entry['label']} | {page['queries']}, {page['sql_ms']} | {raw.get('page_total_p50_ms', 'n/a')} "
                f"| {page_ratio} | {api['queries']}, {api['sql_ms']} | {raw.get('summary_only_p50_ms', 'n/a')} "
                f"| {api_ratio} |"
            )
    return "\n".join(rows)


def _ratio(raw: float | None, rollup: float | None) -> str:
    return f"{raw / rollup:.0f}×" if raw and rollup else "n/a"


if __name__ == "__main__":
    main()
