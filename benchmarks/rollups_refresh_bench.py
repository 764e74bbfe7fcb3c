"""The analytics rollup refresh at scale (issue 4: "Rollup refresh after a 1,000-order batch lands in ≤ 2 s").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ .venv/bin/python benchmarks/rollups_refresh_bench.py \
        [--db newretail_bench10m] [--merchant bench10m] [--repeat 3]

On the 10M-line benchmark database (``benchmarks/dataset10m.py``, its rollups built by ``rebuild_rollups``), it
times ``analytics.services.rollups_refresh`` for the days a 1,000-order batch touches: a batch of the latest day
carries orders of that day plus refunds of earlier sales (refunds count on their own day). The refresh rewrites
whole days, so its cost follows the volume of the days touched, not the batch: two scenarios, the latest
(peak-season) two days plus a refund day, and an ordinary day (the median of the last 60) plus a refund day.
The days are marked dirty the way an ingest does (``sales.DirtyDay``) and refreshed; the data does not change,
so the rollups end as they were (checked by comparing ``StoreDay`` before and after). It also times the no-op
refresh (nothing dirty) that a burst's later tasks run. Results: ``benchmarks/results/rollups_refresh.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="newretail_bench10m")
    parser.add_argument("--merchant", default="bench10m")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "rollups_refresh.json"))
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    os.environ["DATABASE_URL"] = server.rsplit("/", 1)[0] + "/" + args.db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.db.models import Count, Max, Sum

    from analytics.models import StoreDay
    from analytics.services import rollups_refresh
    from merchants.models import Merchant
    from sales.models import DirtyDay, OrderLine
    from sales.services import rollups_mark_dirty

    merchant = Merchant.objects.get(slug=args.merchant)
    lines = OrderLine.objects.filter(merchant=merchant)
    last = lines.aggregate(day=Max("local_date"))["day"]
    recent = lines.filter(local_date__gt=last - timedelta(days=60))
    recent = list(recent.values("local_date").annotate(n=Count("id")).order_by("n"))
    median_day = recent[len(recent) // 2]["local_date"]
    scenarios = {
        # a batch of the latest (peak-season) days, with refunds of sales three weeks earlier
        "peak": [last - timedelta(days=1), last, last - timedelta(days=23)],
        # a 1,000-order batch of an ordinary day (the median of the last 60) and the refunds it carries
        "median_day": [median_day, median_day - timedelta(days=12)],
    }
    DirtyDay.objects.filter(merchant=merchant).delete()
    results = {}
    for name, days in scenarios.items():
        before = StoreDay.objects.filter(merchant=merchant, local_date__in=days).aggregate(net=Sum("net"))["net"]
        timings = []
        for _ in range(args.repeat):
            with transaction.atomic():
                rollups_mark_dirty(merchant, days)
            started = time.perf_counter()
            result = rollups_refresh(merchant_id=merchant.pk)
            timings.append(time.perf_counter() - started)
            assert sorted(result.days) == sorted(days), result.days
        after = StoreDay.objects.filter(merchant=merchant, local_date__in=days).aggregate(net=Sum("net"))["net"]
        assert before == after, (before, after)
        results[name] = {
            "days": [str(day) for day in sorted(days)],
            "lines_per_day": {str(day): lines.filter(local_date=day).count() for day in sorted(days)},
            "refresh_seconds": [round(t, 3) for t in timings],
            "refresh_median_seconds": round(statistics.median(timings), 3),
        }
    noop_started = time.perf_counter()
    rollups_refresh(merchant_id=merchant.pk)
    noop = time.perf_counter() - noop_started

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": args.db,
        "merchant": args.merchant,
        "scenarios": results,
        "noop_refresh_seconds": round(noop, 4),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
