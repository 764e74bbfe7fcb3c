"""A computation through a real Celery worker (subprocess) on the ``recommendations`` queue, real Redis broker and
the test database (committed data: ``transactional_db``). Marked ``celery_worker``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.utils import timezone

from recommendations.models import JobStatus, RecommendationJob, RecommendationState
from recommendations.selectors import recommend
from recommendations.services import recommendation_compute_request

from ..sales.test_import_jobs_worker import ROOT, broker, stop_worker, wait_for, worker_env  # noqa: F401
from .baskets import plant_baskets

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def start_worker(env, log):
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "recommendations", "--pool=solo"]
    command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_a_real_worker_computes_a_requested_job(merchant, broker, tmp_path):  # noqa: F811
    planted = plant_baskets(merchant, today=timezone.now().astimezone(merchant.tzinfo).date())
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(broker), log)
    try:
        # Given a job requested (enqueued on commit) while a worker listens on "recommendations"
        job = recommendation_compute_request(merchant=merchant)

        # When the worker picks it up
        def finished():
            current = RecommendationJob.objects.get(pk=job.pk)
            return current if current.is_finished else None

        job = wait_for(finished, 90, log, "the computation to finish")
    finally:
        stop_worker(worker)
    # Then it succeeded, is current, and the resolver answers from it
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert (job.attempts, job.lines_read, job.baskets_count) == (1, planted.lines, 680)
    assert RecommendationState.objects.get(merchant=merchant).current_job_id == job.pk
    assert recommend(merchant=merchant, product=planted.products["A"]).items[0].sku == "B"
