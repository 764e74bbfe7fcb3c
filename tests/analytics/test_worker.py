"""An ingest leads to refreshed rollups through a real Celery worker (subprocess) on the real Redis broker."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from analytics import selectors
from analytics.models import StoreDay
from sales.models import DirtyDay
from tests.sales.test_import_jobs_worker import broker, stop_worker, wait_for, worker_env  # noqa: F401 (fixture)

from . import oracle
from .conftest import make_filters
from .oracle import OrderGenerator, dataset_create, ingest

pytestmark = [pytest.mark.celery_worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default", "--pool=solo"]
    command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def test_an_ingest_is_followed_by_refreshed_rollups(merchant, broker, tmp_path):  # noqa: F811
    data = dataset_create(merchant)
    generator = OrderGenerator(data, seed=3)
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(broker), log)
    try:
        # Given: two ingests committed (each queues the refresh task on commit)
        ingest(merchant, generator.days(date(2024, 3, 28), date(2024, 3, 31), per_day=4))
        ingest(merchant, generator.days(date(2024, 4, 1), date(2024, 4, 2), per_day=4))

        # When: the worker has consumed every dirty day
        def refreshed():
            return (
                not DirtyDay.objects.filter(merchant=merchant).exists()
                and StoreDay.objects.filter(merchant=merchant, local_date=date(2024, 4, 2)).exists()
            )

        wait_for(refreshed, 60, log, "the rollups to be refreshed")
    finally:
        stop_worker(worker)

    # Then: the figures read from the rollups equal those computed from the raw lines
    filters = make_filters(merchant, date(2024, 3, 28), date(2024, 4, 2))
    assert selectors.summary(filters) == oracle.summary(oracle.entries(merchant), filters)
    assert "analytics.rollups_refresh" in log.read_text()
