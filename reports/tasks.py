"""Celery tasks of the reports app: thin wrappers around ``reports.services``.

``report_job_run_task`` runs on the ``reports`` queue with ``acks_late`` and ``reject_on_worker_lost``: building
a report is safe to repeat (nothing is published until the end, and a re-run replaces the same file), so a
worker killed mid-export leaves the message to be delivered again. The housekeeping tasks are cheap and
idempotent; beat runs them again anyway, so they are plain tasks.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from reports import services


@shared_task(
    name="reports.report_job_run",
    queue="reports",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.REPORTS_SOFT_TIME_LIMIT,
    time_limit=settings.REPORTS_TIME_LIMIT,
)
def report_job_run_task(job_id: int) -> None:
    services.report_job_run(job_id)


@shared_task(name="reports.report_files_expire", ignore_result=True)
def report_files_expire_task() -> int:
    return services.report_files_expire()


@shared_task(name="reports.report_jobs_sweep", ignore_result=True)
def report_jobs_sweep_task() -> dict:
    return services.report_jobs_sweep()


@shared_task(name="reports.report_temp_files_purge", ignore_result=True)
def report_temp_files_purge_task() -> int:
    return services.report_temp_files_purge()


@shared_task(name="reports.report_schedules_run", ignore_result=True)
def report_schedules_run_task() -> list[int]:
    return services.report_schedules_run()
