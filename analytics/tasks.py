"""Celery tasks of the analytics app."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from analytics.services import rollups_refresh


@shared_task(
    name="analytics.rollups_refresh",
    queue="default",
    acks_late=True,  # a worker lost mid-refresh leaves the message (and, rolled back, the dirty days) to redo
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),  # a lost connection, a deadlock, a statement timeout: try again later
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def rollups_refresh_task(merchant_id: int) -> int:
    """Queued on commit by every ingest (``sales.services.rollups_mark_dirty``). Coalesced: the first task
    claims every dirty day of the merchant; tasks queued by the same burst wait for its lock and then find
    nothing to do. Idempotent. Returns the number of days rewritten."""
    return len(rollups_refresh(merchant_id=merchant_id).days)
