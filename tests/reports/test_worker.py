"""Report jobs through a real Celery worker (subprocess) on the real Redis broker and the test database:
SIGKILL mid-export and redelivery, a task delivered twice, cancel while running, the soft time limit.

Marked ``celery_worker`` and ``slow`` (each test starts workers and commits its data).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from reports.models import ReportJob, ReportStatus
from reports.services import report_job_cancel, report_job_create, report_job_run, temp_dir

from ..sales.test_import_jobs_worker import stop_worker, wait_for, worker_env
from .conftest import admin_tenant, bulk_sales

pytestmark = [pytest.mark.celery_worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"from": "2024-03-01", "to": "2024-04-29"}
FINISHED = (ReportStatus.SUCCEEDED, ReportStatus.FAILED, ReportStatus.CANCELLED)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # the worker is told the same media root (worker_env)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.REPORTS_TEMP_DIR = ""


def start_worker(env: dict[str, str], log: Path, pool: str = "solo") -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "reports", f"--pool={pool}"]
    command += ["--concurrency=1"] if pool == "prefork" else []
    command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def finished(job_id: int):
    job = ReportJob.objects.get(pk=job_id)
    return job if job.status in FINISHED else None


def order(merchant, params=PARAMS, **kwargs) -> ReportJob:
    job, created = report_job_create(tenant=admin_tenant(merchant), kind="order-lines", params=params, **kwargs)
    assert created
    return job


def published_files(job: ReportJob) -> list[str]:
    return os.listdir(os.path.dirname(default_storage.path(job.file.name)))


def test_sigkill_mid_export_redelivers_and_finishes_once_with_the_same_file(merchant, shop, broker, tmp_path):
    # Given 120,000 lines, and the file an undisturbed run writes
    rows = bulk_sales(merchant, shop["paris"], shop["tee"], orders=40_000, lines_per_order=3)
    reference = report_job_run(order(merchant, dispatch=False).pk)
    assert (reference.status, reference.rows) == (ReportStatus.SUCCEEDED, rows)
    # and the same report running in a worker, in chunks of 1,000 lines
    env = worker_env(broker, CELERY_VISIBILITY_TIMEOUT="3", REPORTS_CHUNK_ROWS="1000")
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    try:
        job = order(merchant, {**PARAMS, "channel": "offline"})

        def half_way():
            current = ReportJob.objects.get(pk=job.pk)
            return current.status == "running" and 0 < current.progress_done < current.progress_total // 2

        wait_for(half_way, 60, log, "the export to be running")
        # When the worker is killed (SIGKILL) in the middle
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_worker(first)
    killed = ReportJob.objects.get(pk=job.pk)
    assert (killed.status, killed.attempts, bool(killed.file)) == (ReportStatus.RUNNING, 1, False)
    # Then a new worker gets the message again and builds the file once, identical to the undisturbed one
    time.sleep(3.5)
    second = start_worker(env, log)
    try:
        job = wait_for(lambda: finished(job.pk), 120, log, "the redelivered export to finish")
        # and the same task delivered once more changes nothing
        from reports.tasks import report_job_run_task

        report_job_run_task.delay(job.pk)
        time.sleep(2)
    finally:
        stop_worker(second)
    job.refresh_from_db()
    assert job.status == ReportStatus.SUCCEEDED, job.error_message
    assert (job.attempts, job.rows, job.sha256) == (2, rows, reference.sha256)
    assert published_files(job) == [job.filename]
    assert job.progress_done == job.progress_total == rows


def test_cancel_while_running_stops_cleanly(merchant, shop, broker, tmp_path):
    bulk_sales(merchant, shop["paris"], shop["tee"], orders=40_000, lines_per_order=3)
    env = worker_env(broker, REPORTS_CHUNK_ROWS="1000")
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        job = order(merchant)
        wait_for(lambda: ReportJob.objects.get(pk=job.pk).progress_done > 0, 60, log, "the export to be running")
        report_job_cancel(job=job)
        job = wait_for(lambda: finished(job.pk), 60, log, "the export to stop")
    finally:
        stop_worker(worker)
    assert job.status == ReportStatus.CANCELLED
    assert job.error_message == "Cancelled while it was being built; no file was kept."
    assert 0 < job.progress_done < 120_000
    assert not job.file
    assert os.listdir(temp_dir()) == []


def test_the_soft_time_limit_fails_the_job_clearly(merchant, shop, broker, tmp_path):
    bulk_sales(merchant, shop["paris"], shop["tee"], orders=40_000, lines_per_order=3)
    env = worker_env(broker, REPORTS_SOFT_TIME_LIMIT="1", REPORTS_TIME_LIMIT="30", REPORTS_CHUNK_ROWS="1000")
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, pool="prefork")  # time limits need a pool that can interrupt the task
    try:
        from reports.tasks import report_job_run_task

        job = order(merchant, format="xlsx", dispatch=False)  # 120,000 XLSX rows: well over a second
        # The limits travel in the message (set by the sender from its settings): send it with a 1 s soft limit.
        report_job_run_task.apply_async((job.pk,), soft_time_limit=1, time_limit=30)
        job = wait_for(lambda: finished(job.pk), 60, log, "the export to be stopped")
    finally:
        stop_worker(worker)
    assert job.status == ReportStatus.FAILED
    assert job.error_message == (
        "The report took longer than the time limit (1 s) and was stopped; no file was kept. Narrow the date "
        "range or the stores, or order CSV (faster than XLSX)."
    )
    assert os.listdir(temp_dir()) == []
