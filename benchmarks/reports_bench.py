"""Reports benchmarks of issue 7 ("Performance") on the 10M-line merchant of ``dataset10m.py``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ .venv/bin/python benchmarks/reports_bench.py \
        [--db newretail_bench10m] [--merchant bench10m] [--xlsx-days 14] [--skip-csv] [--skip-xlsx] [--skip-summary]

Everything goes through the product's own path: ``reports.services.report_job_create`` queues the job (as the
page and the API do), a real Celery worker (a subprocess, ``-Q reports --pool=solo``, the production settings of
``BENCH_ENV`` in ``benchmarks/run.py``, Redis broker on ``BENCH_REDIS_URL``) builds it, and the script waits
until the job row says ``succeeded`` (the file is then downloadable). Measured:

- **order-lines CSV, every line of the merchant** (2 years): seconds from the request to downloadable, rows/s
  end to end, rows/s of the build itself (``started_at`` → ``finished_at``), and the worker's peak memory
  (``VmHWM`` of the worker process, read before it is stopped; the worker runs only this job). For scale, a bare
  ``COPY (SELECT * FROM sales_orderline WHERE merchant_id = …) TO STDOUT`` of the same lines, read and discarded
  in this process.
- **order-lines XLSX** of the last ``--xlsx-days`` days: rows/s and the worker's peak memory (a fresh worker).
- **sales-summary** by day × store × channel for the two years (``interval=day``), built in this process from
  the rollups: seconds, rows. Needs the analytics rollups; when ``analytics_storeday`` is empty for the merchant
  they are rebuilt first (``analytics.services.rollups_rebuild``, timed and reported).

The files are written under a temporary ``DJANGO_MEDIA_ROOT`` that is removed at the end. Results:
``benchmarks/results/reports.json``; a Markdown table is printed for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import BENCH_ENV, database_url  # noqa: E402

BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")


def worker_start(env: dict, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "reports", "--pool=solo"]
    command += ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def worker_stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def run_job(env: dict, log: Path, merchant, kind: str, fmt: str, params: dict, timeout: float) -> dict:
    from merchants.models import Role
    from merchants.tenancy import Tenant
    from reports.models import ReportJob
    from reports.services import report_job_create

    worker = worker_start(env, log)
    time.sleep(4)  # let the worker connect before the clock starts
    try:
        requested = time.perf_counter()
        job, _ = report_job_create(
            tenant=Tenant(merchant=merchant, role=Role.ADMIN), kind=kind, format=fmt, params=params
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status not in ("queued", "running"):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - requested
        peak = peak_rss_mb(worker.pid)
    finally:
        worker_stop(worker)
    job = ReportJob.objects.get(pk=job.pk)
    build = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
    return {
        "job": job.pk,
        "status": job.status,
        "error": job.error_message,
        "rows": job.rows,
        "bytes": job.bytes,
        "request_to_downloadable_s": round(elapsed, 2),
        "rows_per_s_end_to_end": round(job.rows / elapsed) if job.rows else 0,
        "build_s": round(build, 2) if build else None,
        "rows_per_s_build": round(job.rows / build) if build and job.rows else None,
        "worker_peak_rss_mb": round(peak, 1) if peak else None,
    }


def bare_copy(merchant_id: int) -> dict:
    from django.db import connection

    started = time.perf_counter()
    rows = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY (SELECT * FROM sales_orderline WHERE merchant_id = %s) TO STDOUT WITH (FORMAT csv)", [merchant_id]
        ) as copy:
            for _block in copy:
                pass
        rows = raw.rowcount
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def bare_copy_psql(merchant_id: int) -> dict:
    """The same bare COPY read by ``psql`` (libpq, in C) into /dev/null: the floor of the export's own path
    (its chunks are read by ``psql`` processes, see ``reports.services._copy_parallel``)."""
    from django.db import connection

    from reports.services import _Psql

    psql = _Psql.find()
    if psql is None:
        return {"skipped": "no psql"}
    sql = f"COPY (SELECT * FROM sales_orderline WHERE merchant_id = {int(merchant_id)}) TO STDOUT WITH (FORMAT csv)"  # noqa: S608
    connection.close()
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - fixed command
        [psql.executable, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=psql.environment,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sales_orderline WHERE merchant_id = %s", [merchant_id])
        rows = cursor.fetchone()[0]
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def sales_summary(merchant) -> dict:
    from django.db import connection

    from analytics.services import rollups_rebuild
    from merchants.models import Role
    from merchants.tenancy import Tenant
    from reports.services import report_job_create, report_job_run

    result: dict = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_storeday WHERE merchant_id = %s", [merchant.pk])
        if cursor.fetchone()[0] == 0:
            started = time.perf_counter()
            rollups_rebuild(merchant_id=merchant.pk)
            result["rollups_rebuilt_s"] = round(time.perf_counter() - started, 1)
        cursor.execute(
            "SELECT min(local_date), max(local_date) FROM analytics_storeday WHERE merchant_id = %s", [merchant.pk]
        )
        first, last = cursor.fetchone()
    params = {"from": first.isoformat(), "to": last.isoformat(), "interval": "day", "compare": "none"}
    job, _ = report_job_create(
        tenant=Tenant(merchant=merchant, role=Role.ADMIN), kind="sales-summary", params=params, dispatch=False
    )
    started = time.perf_counter()
    job = report_job_run(job.pk)
    seconds = time.perf_counter() - started
    result.update(
        {"status": job.status, "error": job.error_message, "rows": job.rows, "seconds": round(seconds, 2), **params}
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="newretail_bench10m")
    parser.add_argument("--merchant", default="bench10m")
    parser.add_argument("--xlsx-days", type=int, default=14)
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument("--skip-xlsx", action="store_true")
    parser.add_argument("--skip-summary", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "reports.json"))
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    media = tempfile.mkdtemp(prefix="reports-bench-")
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": database_url(base, args.db),
        "REDIS_URL": BENCH_REDIS_URL,
        "CELERY_BROKER_URL": BENCH_REDIS_URL,
        "DJANGO_MEDIA_ROOT": media,
        "DB_STATEMENT_TIMEOUT_MS": "600000",
    }
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.db import connection

    from merchants.models import Merchant

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    merchant = Merchant.objects.get(slug=args.merchant)
    load_before = os.getloadavg()
    result: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.db,
        "merchant": args.merchant,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load_before},
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(local_date), max(local_date) FROM sales_orderline WHERE merchant_id = %s",
                       [merchant.pk])  # fmt: skip
        lines, first, last = cursor.fetchone()
    result["order_lines"] = lines
    log = Path(media) / "worker.log"
    try:
        if not args.skip_csv:
            print(f"bare COPY of {lines:,} lines…", flush=True)
            result["bare_copy"] = bare_copy(merchant.pk)
            result["bare_copy_psql"] = bare_copy_psql(merchant.pk)
            print(json.dumps({key: result[key] for key in ("bare_copy", "bare_copy_psql")}), flush=True)
            print(f"order-lines CSV of {lines:,} lines through a worker…", flush=True)
            params = {"from": first.isoformat(), "to": last.isoformat()}
            load = os.getloadavg()
            result["order_lines_csv"] = run_job(env, log, merchant, "order-lines", "csv", params, timeout=1800)
            result["order_lines_csv"]["load_before_after"] = [round(load[0], 2), round(os.getloadavg()[0], 2)]
            print(json.dumps(result["order_lines_csv"]), flush=True)
        if not args.skip_xlsx:
            from datetime import timedelta

            params = {"from": (last - timedelta(days=args.xlsx_days - 1)).isoformat(), "to": last.isoformat()}
            print(f"order-lines XLSX {params}…", flush=True)
            load = os.getloadavg()
            result["order_lines_xlsx"] = run_job(env, log, merchant, "order-lines", "xlsx", params, timeout=1800)
            result["order_lines_xlsx"]["load_before_after"] = [round(load[0], 2), round(os.getloadavg()[0], 2)]
            print(json.dumps(result["order_lines_xlsx"]), flush=True)
        if not args.skip_summary:
            print("sales-summary day × store × channel, two years…", flush=True)
            result["sales_summary"] = sales_summary(merchant)
            print(json.dumps(result["sales_summary"]), flush=True)
    finally:
        result["machine"]["load_after"] = os.getloadavg()
        worker_log = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        if "Traceback" in worker_log:
            result["worker_log_tail"] = worker_log
        shutil.rmtree(media, ignore_errors=True)
    Path(args.output).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
