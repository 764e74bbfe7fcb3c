"""Celery tasks of the recommendations engine (queue ``recommendations``): thin wrappers over the services."""

from __future__ import annotations

from celery import shared_task

from .services import recommendation_job_run, recommendations_compute_nightly


@shared_task(
    name="recommendations.recommendation_job_run",
    queue="recommendations",
    # Acknowledged once run: a worker lost mid-computation leaves the message to be redelivered. Safe: the
    # rerun deletes its partial rows, and readers only see a computation after its atomic switch.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def recommendation_job_run_task(job_id: int) -> None:
    """Run one computation job; a finished job is skipped (idempotent)."""
    recommendation_job_run(job_id)


@shared_task(name="recommendations.recommendations_compute_nightly", queue="recommendations", ignore_result=True)
def recommendations_compute_nightly_task() -> int:
    """Nightly (Celery beat): one computation per active merchant with sales."""
    return recommendations_compute_nightly()
