"""The analytics rollup refresh at scale (issue 4: "Rollup refresh after a 1,000-order batch lands in ≤ 2 s").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ .venv/bin/python benchmarks/rollups_refresh_bench.py \
        [--db newretail_bench10m] [--merchant bench10m] [--repeat 3] [--refunds 40] [--scenario peak ...]

On the 10M-line benchmark database (``benchmarks/dataset10m.py``, its rollups built by ``rebuild_rollups``), a
real 1,000-order batch goes through ``sales.ingest.service.orders_ingest`` and
``analytics.services.rollups_refresh`` then runs on the days it marked dirty (timed: what the Celery task does).
The batch: ``1000 - refunds`` new orders (65% in store across the 200 stores, 70% of them by known customers,
1-4 lines of 4,000 products) on the scenario's days, and ``--refunds`` existing orders of the previous 30 days
sent again with one item returned on the scenario's last day (an update that leaves the sale's day as it was:
only the refund's day is dirty).
Scenarios: ``peak``, the dataset's last two days (the last full day is its busiest, peak season; the last is
today, still empty); ``peak_3_days``, the three busiest days before today; ``median_day``, the median day of the
last 60.

Each run is one transaction rolled back at the end (ingest, refresh, checks), so the dataset's orders and
rollups stay exactly as built; the refresh's own ``COMMIT`` (~12,000 rows written) is therefore not in the
figure. After each refresh the figures of every dirty day are checked against the raw lines (``StoreDay``:
net sales and orders), and the same days are then refreshed again with nothing changed (``recompute_seconds``:
the floor of a refresh of those days, every day recomputed, nothing written). Results:
``benchmarks/results/rollups_refresh.json`` (with the slowest statements of the first run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import BENCH_ENV, database_url  # noqa: E402 (the identity hash key the dataset was built with)

SOURCE = "bench-refresh"


class Rollback(Exception):
    """Raised at the end of a run: the transaction is rolled back, the dataset is as it was."""


def moment(day: date, zone: str, rnd: random.Random) -> datetime:
    local = datetime.combine(day, clock(rnd.randint(9, 20), rnd.randint(0, 59)), tzinfo=zoneinfo.ZoneInfo(zone))
    return local.astimezone(UTC)


def new_orders(merchant, days: list[date], count: int, rnd: random.Random, stamp: str) -> list:
    from catalog.models import Product
    from sales.ingest.types import IdentifierInput, LineInput, OrderInput
    from sales.models import Customer
    from stores.models import Store

    products = list(Product.objects.for_merchant(merchant).order_by("id").values_list("sku", "price")[:4000])
    stores = list(Store.objects.for_merchant(merchant).order_by("id").values_list("code", "timezone"))
    emails = list(
        Customer.objects.for_merchant(merchant).exclude(email="").order_by("id").values_list("email", flat=True)[:20000]
    )
    orders = []
    for index in range(count):
        offline = rnd.random() < 0.65
        store, zone = rnd.choice(stores) if offline else (None, merchant.timezone)
        lines = []
        for _ in range(rnd.choice([1, 1, 2, 2, 3, 4])):
            sku, price = rnd.choice(products)
            lines.append(LineInput(sku=sku, quantity=Decimal(rnd.choice([1, 1, 1, 2])), unit_price=price))
        identifiers = [IdentifierInput("email", rnd.choice(emails))] if rnd.random() < 0.7 else []
        orders.append(
            OrderInput(
                source=SOURCE,
                external_id=f"{stamp}-{index}",
                channel="offline" if offline else "online",
                store=store,
                placed_at=moment(rnd.choice(days), zone, rnd),
                currency=merchant.currency,
                lines=lines,
                identifiers=identifiers,
            )
        )
    return orders


def refunded_orders(merchant, refund_day: date, count: int, rnd: random.Random) -> list:
    """``count`` stored orders of the 30 days before ``refund_day`` (completed, with a known e-mail or
    anonymous, no return yet), as they are, plus one item returned on ``refund_day``."""
    from sales.ingest.types import IdentifierInput, LineInput, OrderInput
    from sales.models import LineKind, Order, OrderStatus

    candidates = (
        Order.objects.for_merchant(merchant)
        .filter(
            local_date__range=(refund_day - timedelta(days=30), refund_day - timedelta(days=2)),
            status=OrderStatus.COMPLETED,
            refunds=0,
        )
        .exclude(customer__isnull=False, customer__email="")
        .select_related("store", "customer")
        .order_by("id")
    )
    ids = list(candidates.values_list("id", flat=True))  # ~100k ids: a sample spread over the 30 days
    chosen = candidates.filter(id__in=rnd.sample(ids, count)).prefetch_related("lines__product")
    orders = []
    for order in chosen:
        lines = [
            LineInput(sku=line.product.sku, quantity=line.quantity, unit_price=line.unit_price, discount=line.discount)
            for line in sorted(order.lines.all(), key=lambda line: line.line_number)
            if line.kind == LineKind.SALE
        ]
        returned = lines[0]
        zone = order.store.timezone if order.store else merchant.timezone
        lines.append(
            LineInput(
                sku=returned.sku, quantity=Decimal(-1), unit_price=returned.unit_price, kind="return",
                occurred_at=moment(refund_day, zone, rnd),
            )
        )  # fmt: skip
        orders.append(
            OrderInput(
                source=order.source,
                external_id=order.external_id,
                channel=order.channel,
                store=order.store.code if order.store else None,
                placed_at=order.placed_at,
                currency=order.currency,
                lines=lines,
                order_discount=order.discounts - sum((line.discount for line in lines), Decimal(0)),
                tax=order.tax,
                shipping=order.shipping,
                identifiers=[IdentifierInput("email", order.customer.email)] if order.customer else [],
            )
        )
    return orders


RAW_DAYS = """
SELECT d.day,
       coalesce((SELECT sum(l.net) FROM sales_orderline l JOIN sales_order o ON o.id = l.order_id
                 WHERE l.merchant_id = %(m)s AND l.local_date = d.day AND o.status <> 'cancelled'), 0)
     - coalesce((SELECT sum(o.discounts - coalesce((SELECT sum(s.discount) FROM sales_orderline s
                        WHERE s.order_id = o.id AND s.kind = 'sale'), 0))
                 FROM sales_order o WHERE o.merchant_id = %(m)s AND o.local_date = d.day
                 AND o.status <> 'cancelled'), 0),
       (SELECT count(DISTINCT l.order_id) FROM sales_orderline l JOIN sales_order o ON o.id = l.order_id
        WHERE l.merchant_id = %(m)s AND l.local_date = d.day AND l.kind = 'sale' AND o.status <> 'cancelled')
FROM unnest(%(days)s::date[]) AS d(day) ORDER BY 1
"""
ROLLUP_DAYS = """
SELECT d.day, coalesce(sum(s.net), 0), coalesce(sum(s.orders), 0)
FROM unnest(%(days)s::date[]) AS d(day)
LEFT JOIN analytics_storeday s ON s.merchant_id = %(m)s AND s.local_date = d.day
GROUP BY d.day ORDER BY 1
"""


def slowest(captured: list[dict], count: int = 8) -> list[dict]:
    ranked = sorted(captured, key=lambda query: float(query["time"]), reverse=True)[:count]
    return [{"seconds": float(query["time"]), "sql": " ".join(query["sql"].split())[:300]} for query in ranked]


def run_once(merchant, scenario: dict, refunds: int, seed: int, capture: bool) -> dict:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from analytics.services import rollups_refresh
    from sales.ingest.service import orders_ingest
    from sales.models import DirtyDay
    from sales.services import rollups_mark_dirty

    rnd = random.Random(seed)
    run: dict = {}
    try:
        with transaction.atomic():
            orders = new_orders(merchant, scenario["days"], 1000 - refunds, rnd, f"{scenario['name']}-{seed}")
            orders += refunded_orders(merchant, max(scenario["days"]), refunds, rnd)
            started = time.perf_counter()
            outcomes = orders_ingest(merchant=merchant, orders=orders)
            run["ingest_seconds"] = round(time.perf_counter() - started, 3)
            run["outcomes"] = {
                result: sum(outcome.result == result for outcome in outcomes)
                for result in ("created", "updated", "unchanged", "error")
            }
            run["lines"] = sum(len(order.lines) for order in orders)
            days = sorted(DirtyDay.objects.for_merchant(merchant).values_list("local_date", flat=True))
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                result = rollups_refresh(merchant_id=merchant.pk)
                run["refresh_seconds"] = round(time.perf_counter() - started, 3)
            assert list(result.days) == days, (result.days, days)
            run["dirty_days"] = len(days)
            run["rows_written"] = result.rows_written
            run["statements"] = len(captured.captured_queries)
            if capture:
                run["slowest"] = slowest(captured.captured_queries)
            with connection.cursor() as cursor:
                params = {"m": merchant.pk, "days": days}
                cursor.execute(RAW_DAYS, params)
                raw = cursor.fetchall()
                cursor.execute(ROLLUP_DAYS, params)
                rolled = cursor.fetchall()
                assert raw == rolled, [(a, b) for a, b in zip(raw, rolled, strict=True) if a != b]
                cursor.execute("SELECT count(*) FROM sales_orderline WHERE merchant_id = %s AND local_date = ANY(%s)",
                               [merchant.pk, days])  # fmt: skip
                run["lines_in_dirty_days"] = cursor.fetchone()[0]
            # The same days again, nothing changed: every day recomputed, nothing to write.
            rollups_mark_dirty(merchant, days)
            started = time.perf_counter()
            again = rollups_refresh(merchant_id=merchant.pk)
            run["recompute_seconds"] = round(time.perf_counter() - started, 3)
            assert again.rows_written == 0, again.rows_written
            raise Rollback
    except Rollback:
        pass
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="newretail_bench10m")
    parser.add_argument("--merchant", default="bench10m")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--refunds", type=int, default=40, help="existing orders sent again with a return")
    parser.add_argument("--scenario", action="append", choices=("peak", "peak_3_days", "median_day"))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3", help="cache (the refresh bumps a version)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "rollups_refresh.json"))
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    os.environ.update({**BENCH_ENV, "DATABASE_URL": database_url(server, args.db), "REDIS_URL": args.redis})
    import django

    django.setup()
    from django.db.models import Count, Max

    from analytics.services import rollups_refresh
    from merchants.models import Merchant
    from sales.models import DirtyDay, OrderLine

    merchant = Merchant.objects.get(slug=args.merchant)
    if DirtyDay.objects.for_merchant(merchant).exists():  # leftovers: refreshed first, outside the timings
        rollups_refresh(merchant_id=merchant.pk)
    lines = OrderLine.objects.filter(merchant=merchant)
    last = lines.aggregate(day=Max("local_date"))["day"]
    recent = lines.filter(local_date__gt=last - timedelta(days=60))
    recent = list(recent.values("local_date").annotate(n=Count("id")).order_by("n"))
    median_day = recent[len(recent) // 2]["local_date"]
    scenarios = {
        "peak": {"name": "peak", "days": [last - timedelta(days=1), last]},
        "peak_3_days": {"name": "peak_3_days", "days": [last - timedelta(days=n) for n in (3, 2, 1)]},
        "median_day": {"name": "median_day", "days": [median_day]},
    }
    results = {}
    for name in args.scenario or list(scenarios):
        scenario = scenarios[name]
        runs = []
        for repeat in range(args.repeat):
            runs.append(run_once(merchant, scenario, args.refunds, seed=repeat, capture=repeat == 0))
            print(name, json.dumps({k: v for k, v in runs[-1].items() if k != "slowest"}), flush=True)
        results[name] = {
            "batch_days": [str(day) for day in scenario["days"]],
            "lines_per_batch_day": {str(day): lines.filter(local_date=day).count() for day in scenario["days"]},
            "refresh_median_seconds": statistics.median(run["refresh_seconds"] for run in runs),
            "recompute_median_seconds": statistics.median(run["recompute_seconds"] for run in runs),
            "runs": runs,
        }
    started = time.perf_counter()
    rollups_refresh(merchant_id=merchant.pk)
    noop = time.perf_counter() - started

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": args.db,
        "merchant": args.merchant,
        "refunds_per_batch": args.refunds,
        "scenarios": results,
        "noop_refresh_seconds": round(noop, 4),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
    }
    Path(args.output).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({name: {k: v for k, v in r.items() if k != "runs"} for name, r in results.items()}, indent=2))
    print("noop", round(noop, 4), "load", os.getloadavg())


if __name__ == "__main__":
    main()
