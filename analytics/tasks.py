"""Celery tasks of the analytics app."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError, transaction

from analytics.models import RollupState
from analytics.precompute import precomputed_day, presets_precompute
from analytics.services import rollups_refresh
from merchants.models import Merchant


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
    nothing to do. Idempotent. Returns the number of days rewritten; when there were some, the preset answers
    (which the refresh deleted) are computed again by ``presets_precompute_task``."""
    days = len(rollups_refresh(merchant_id=merchant_id).days)
    if days:  # committed already (run at once) unless a caller's transaction is open (then at its commit)
        transaction.on_commit(lambda: presets_precompute_task.delay(merchant_id))
    return days


OPTIMISTIC_TRIES = 2  # then the precompute holds the rollup lock (see ``presets_precompute``)


@shared_task(
    bind=True,
    name="analytics.presets_precompute",
    queue="default",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
    soft_time_limit=600,
    time_limit=660,
)
def presets_precompute_task(self, merchant_id: int) -> int:
    """The dashboard's standard answers for the rollups as they now are (``analytics.precompute``). Coalesced
    and idempotent: a task that finds them already computed for the merchant's today does nothing (a burst of
    refreshes queues several; the first after the last refresh computes). A refresh committed meanwhile makes it
    fail and retry; from the ``OPTIMISTIC_TRIES``-th retry on it holds the rollup lock, so that refreshes more
    frequent than it cannot starve it. Returns the number of answers written."""
    exclusive = self.request.retries >= OPTIMISTIC_TRIES
    return presets_precompute(merchant_id=merchant_id, exclusive=exclusive).answers


@shared_task(name="analytics.presets_precompute_due", queue="default", ignore_result=True)
def presets_precompute_due_task() -> int:
    """Periodic (beat): the presets are relative to each merchant's today, so after its midnight (or when a
    precompute failed) the stored answers no longer match the requests. Queue one precompute per merchant with
    rollups whose answers are not for its today. Returns how many were queued."""
    from analytics.filters import merchant_today

    queued = 0
    merchant_ids = RollupState.objects.values_list("merchant_id", flat=True)
    for merchant in Merchant.objects.filter(pk__in=merchant_ids):
        if precomputed_day(merchant.pk) != merchant_today(merchant):
            presets_precompute_task.delay(merchant.pk)
            queued += 1
    return queued
