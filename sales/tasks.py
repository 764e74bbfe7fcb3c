"""Celery tasks of the sales app."""

from __future__ import annotations

from celery import shared_task

from sales.imports import import_job_run
from sales.services import idempotency_records_purge


@shared_task(
    name="sales.import_job_run",
    queue="imports",
    acks_late=True,  # acknowledged once run: a worker killed mid-import leaves the message to be redelivered
    reject_on_worker_lost=True,
    ignore_result=True,
)
def import_job_run_task(job_id: int) -> None:
    """Run one import job. Idempotent: a finished job is skipped, a "running" one (redelivered after its worker
    died) starts again from the beginning; two deliveries never run at once (see ``sales.imports``)."""
    import_job_run(job_id)


@shared_task(name="sales.idempotency_records_purge", ignore_result=True)
def idempotency_records_purge_task() -> int:
    """Nightly (Celery beat): forget Idempotency-Key answers older than 24 hours."""
    return idempotency_records_purge()
