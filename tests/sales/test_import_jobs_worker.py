"""Import jobs through a real Celery worker (subprocess) on the real Redis broker and the test database.

The worker gets DATABASE_URL pointing at the *test* database (committed data: ``transactional_db``), the test's
media root and the test's Redis db as broker. Marked ``celery_worker``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from sales.imports import import_job_create, progress_key
from sales.models import ImportJob, ImportStatus, Order

from ..conftest import require_service
from .test_import_jobs import generic_csv, row, upload

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
FINISHED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.NEEDS_MAPPING)


@pytest.fixture
def broker(settings, tmp_path):
    url = settings.CELERY_BROKER_URL
    require_service(url.startswith("redis://"), "the real-worker tests need a Redis broker (REDIS_URL)")
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        require_service(False, f"Redis is not reachable at {url}")
    client.flushdb()  # this test run's own Redis db: no stale messages from an earlier run
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return url


def worker_env(broker_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    database_url = env.get("DATABASE_URL", "")
    require_service(database_url.startswith("postgres"), "the real-worker tests need PostgreSQL (DATABASE_URL)")
    parts = urlsplit(database_url)
    env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    env["CELERY_BROKER_URL"] = broker_url
    env["DJANGO_MEDIA_ROOT"] = settings.MEDIA_ROOT
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env.update(extra)
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "imports", "--pool=solo"]
    command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for(predicate, timeout: float, log: Path, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')[-4000:]}")


def job_finished(job_id: int):
    job = ImportJob.objects.get(pk=job_id)
    return job if job.status in FINISHED else None


def test_a_real_worker_runs_the_queued_job(merchant, broker, tmp_path):
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(broker), log)
    try:
        # Given a job created (and enqueued on commit) while a worker listens on "imports"
        job = import_job_create(
            merchant=merchant,
            file=upload(generic_csv(row("W-1"), row("W-2"))),
            format="generic-csv",
            mode="all-or-nothing",
        )
        # When the worker picks it up
        job = wait_for(lambda: job_finished(job.pk), 60, log, "the job to finish")
    finally:
        stop_worker(worker)
    # Then it succeeded and the orders are in
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    assert (job.orders_created, job.attempts) == (2, 1)
    assert set(Order.objects.filter(merchant=merchant).values_list("external_id", flat=True)) == {"W-1", "W-2"}


def test_a_worker_killed_mid_import_is_redelivered_and_finishes_once(merchant, broker, tmp_path):
    # Given a large all-or-nothing import running in a worker
    count = 40_000
    content = generic_csv(*(row(f"W-{n}") for n in range(count)))
    env = worker_env(broker, CELERY_VISIBILITY_TIMEOUT="3")
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    try:
        job = import_job_create(merchant=merchant, file=upload(content), format="generic-csv", mode="all-or-nothing")

        def half_way():
            live = cache.get(progress_key(job.pk))
            return live and live["done"] > 0 and live["done"] < live["total"] // 2

        wait_for(half_way, 60, log, "the import to be running")
        # When the worker is killed (SIGKILL) in the middle
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_worker(first)
    killed = ImportJob.objects.get(pk=job.pk)
    assert (killed.status, killed.attempts) == (ImportStatus.RUNNING, 1)
    assert Order.objects.filter(merchant=merchant).count() == 0  # the open transaction died with the worker
    # Then a new worker gets the message again (visibility timeout) and runs the job to the end, once
    time.sleep(3.5)
    second = start_worker(env, log)
    try:
        job = wait_for(lambda: job_finished(job.pk), 120, log, "the redelivered job to finish")
    finally:
        stop_worker(second)
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    assert (job.attempts, job.orders_created, job.error_count) == (2, count, 0)
    assert Order.objects.filter(merchant=merchant).count() == count
