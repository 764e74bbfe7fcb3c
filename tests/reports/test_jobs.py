"""The job machinery without a worker: de-duplication, the running limit, cancel, re-delivery, housekeeping."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from reports.models import ReportJob, ReportStatus
from reports.services import (
    report_files_expire,
    report_job_cancel,
    report_job_create,
    report_job_retry,
    report_job_run,
    report_jobs_dispatch,
    report_jobs_sweep,
    report_temp_files_purge,
    temp_dir,
)

from .conftest import admin_tenant, build, ingest, line, order

pytestmark = pytest.mark.django_db

MAY = {"from": "2024-05-01", "to": "2024-05-31"}


def create(merchant, params=None, **kwargs) -> tuple[ReportJob, bool]:
    return report_job_create(
        tenant=admin_tenant(merchant), kind="order-lines", params=params or MAY, dispatch=False, **kwargs
    )


@pytest.fixture
def sales(merchant, shop):
    ingest(merchant, order("P-1", "2024-05-04T10:00:00+00:00", [line("TEE-1", "2")], store="PAR-01"))


def test_an_identical_pending_request_is_not_queued_twice(merchant, shop):
    first, created = create(merchant)
    again, created_again = create(merchant, {"to": "2024-05-31", "from": "2024-05-01"})
    other, created_other = create(merchant, {**MAY, "channel": "online"})
    assert (created, created_again, created_other) == (True, False, True)
    assert again.pk == first.pk
    assert other.pk != first.pk
    # once the first is finished, the same request makes a new job
    ReportJob.objects.filter(pk=first.pk).update(status=ReportStatus.FAILED)
    assert create(merchant)[1] is True


def test_bad_parameters_are_refused_with_the_field(merchant):
    with pytest.raises(ValidationError) as raised:
        create(merchant, {"from": "2024-05-31", "to": "2024-05-01", "store": ["NOPE"]})
    assert raised.value.message_dict == {
        "to": ["“to” (2024-05-01) is before “from” (2024-05-31)."],
        "store": ["Unknown store code(s): NOPE."],
    }
    with pytest.raises(ValidationError) as raised:
        create(merchant, MAY, format="xlsx", gzip=True)
    assert raised.value.message_dict == {
        "gzip": ["Only CSV files can be gzip-compressed (an XLSX file is already compressed)."]
    }


def test_at_most_three_run_at_once_per_merchant_the_others_wait(merchant, other_merchant, shop):
    jobs = [create(merchant, {**MAY, "to": f"2024-05-{day}"})[0] for day in (10, 11, 12, 13)]
    other = create(other_merchant)[0]
    assert report_jobs_dispatch(merchant.pk) == [job.pk for job in jobs[:3]]
    assert report_jobs_dispatch(merchant.pk) == []  # no free slot
    assert report_jobs_dispatch(other_merchant.pk) == [other.pk]  # another merchant has its own slots
    waiting = ReportJob.objects.get(pk=jobs[3].pk)
    assert (waiting.status, waiting.waiting_for_slot) == (ReportStatus.QUEUED, True)
    # When one finishes, the waiting one gets its slot
    ReportJob.objects.filter(pk=jobs[0].pk).update(status=ReportStatus.SUCCEEDED)
    assert report_jobs_dispatch(merchant.pk) == [jobs[3].pk]


def test_cancel_while_queued_leaves_a_clean_cancelled_job(merchant, shop):
    job, _ = create(merchant)
    job = report_job_cancel(job=job)
    assert (job.status, job.error_message) == (ReportStatus.CANCELLED, "Cancelled before it started.")
    assert report_job_run(job.pk).status == ReportStatus.CANCELLED  # a late delivery does nothing
    assert not job.file
    with pytest.raises(ValidationError):
        report_job_cancel(job=job)


def test_cancel_while_running_stops_at_the_next_chunk_and_keeps_no_file(merchant, sales):
    job, _ = create(merchant)
    ReportJob.objects.filter(pk=job.pk).update(status=ReportStatus.RUNNING, attempts=1)
    job = report_job_cancel(job=ReportJob.objects.get(pk=job.pk))
    assert (job.status, job.cancel_requested) == (ReportStatus.RUNNING, True)
    # the worker that picks it up (or the one running it, between chunks) stops
    job = report_job_run(job.pk)
    assert job.status == ReportStatus.CANCELLED
    assert not job.file
    assert os.listdir(temp_dir()) == []


def test_a_job_redelivered_after_its_worker_died_runs_again_and_finishes_once(merchant, sales):
    reference = build(merchant, "order-lines", {**MAY, "channel": "offline"})
    job, _ = create(merchant)
    # the first worker marked it running, then died (no file published)
    ReportJob.objects.filter(pk=job.pk).update(status=ReportStatus.RUNNING, attempts=1)
    job = report_job_run(job.pk)
    assert (job.status, job.attempts, job.rows) == (ReportStatus.SUCCEEDED, 2, 1)
    assert job.sha256 == reference.sha256
    # a second delivery of the same task changes nothing
    again = report_job_run(job.pk)
    assert (again.status, again.attempts, again.sha256, again.file.name) == (
        ReportStatus.SUCCEEDED,
        2,
        job.sha256,
        job.file.name,
    )
    directory = os.path.dirname(default_storage.path(job.file.name))
    assert os.listdir(directory) == [job.filename]


def test_a_job_interrupted_three_times_is_given_up(merchant, sales):
    job, _ = create(merchant)
    ReportJob.objects.filter(pk=job.pk).update(status=ReportStatus.RUNNING, attempts=3)
    job = report_job_run(job.pk)
    assert job.status == ReportStatus.FAILED
    assert job.error_message.startswith("The report was interrupted 3 times")


def test_retry_orders_the_same_report_again(merchant, sales):
    job = build(merchant, "order-lines", MAY)
    again, created = report_job_retry(tenant=admin_tenant(merchant), job=job)
    assert created
    assert (again.kind, again.params, again.status) == ("order-lines", job.params, ReportStatus.QUEUED)


def test_expired_files_are_deleted_and_the_job_says_so(merchant, sales):
    job = build(merchant, "order-lines", MAY)
    path = default_storage.path(job.file.name)
    assert os.path.exists(path)
    assert report_files_expire(now=job.expires_at - timedelta(seconds=1)) == 0
    assert report_files_expire(now=job.expires_at) == 1
    job.refresh_from_db()
    assert job.status == ReportStatus.EXPIRED
    assert not os.path.exists(path)


def test_the_sweeper_requeues_a_stalled_job_and_fails_one_interrupted_too_often(merchant, settings, shop):
    stalled, _ = create(merchant)
    hopeless, _ = create(merchant, {**MAY, "channel": "online"})
    long_ago = timezone.now() - timedelta(seconds=settings.REPORTS_STALLED_SECONDS + 5)
    ReportJob.objects.filter(pk=stalled.pk).update(status=ReportStatus.RUNNING, attempts=1, heartbeat_at=long_ago)
    ReportJob.objects.filter(pk=hopeless.pk).update(status=ReportStatus.RUNNING, attempts=3, heartbeat_at=long_ago)
    assert report_jobs_sweep() == {"requeued": 1, "failed": 1, "resent": 0}
    stalled.refresh_from_db()
    hopeless.refresh_from_db()
    assert stalled.status == ReportStatus.QUEUED
    assert stalled.dispatched_at is not None  # handed to a worker again at once (a free slot)
    assert hopeless.status == ReportStatus.FAILED


def test_orphaned_temporary_files_are_removed(settings):
    directory = temp_dir()
    old, fresh = os.path.join(directory, "1-old.part"), os.path.join(directory, "2-new.part")
    for path in (old, fresh):
        with open(path, "wb") as handle:
            handle.write(b"x")
    past = time.time() - settings.REPORTS_TIME_LIMIT - 120
    os.utime(old, (past, past))
    assert report_temp_files_purge() == 1
    assert os.listdir(directory) == ["2-new.part"]
