"""Writes of the sales app. Orders come in through ``sales.ingest.service.orders_ingest``; this module holds the
hook that queues the analytics rollups of the days an ingest touched."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from merchants.models import Merchant

from .models import DirtyDay, IdempotencyRecord

logger = logging.getLogger(__name__)

ROLLUPS_TASK_MODULE = "analytics.tasks"
ROLLUPS_TASK_NAME = "rollups_refresh_task"


def rollups_mark_dirty(merchant: Merchant, dates: Iterable[date]) -> None:
    """Record the merchant-days whose rollups must be recomputed, then (once the transaction commits) queue
    ``analytics.tasks.rollups_refresh_task`` for the merchant if that task exists.

    One statement whatever the number of days; existing rows are left alone (``ON CONFLICT DO NOTHING`` takes
    no lock on them). The consumer should claim rows by deleting them in its own transaction: a day marked
    again after the claim then gets a fresh row.
    """
    days = sorted(set(dates))
    if not days:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Sorted: two ingests inserting the same new days wait for each other in the same order.
            cursor.execute(
                "INSERT INTO sales_dirtyday (merchant_id, local_date, created_at) "
                "SELECT %s, day, now() FROM unnest(%s::date[]) AS day "
                "ON CONFLICT (merchant_id, local_date) DO NOTHING",
                [merchant.pk, days],
            )
    else:
        now = timezone.now()
        DirtyDay.objects.bulk_create(
            [DirtyDay(merchant_id=merchant.pk, local_date=day, created_at=now) for day in days], ignore_conflicts=True
        )
    merchant_id = merchant.pk

    def rollups_refresh_after_commit() -> None:  # a named function: Django logs a robust hook's __qualname__
        rollups_refresh_enqueue(merchant_id)

    # robust: the data is committed by then; a broker outage must not turn the ingest into an error.
    transaction.on_commit(rollups_refresh_after_commit, robust=True)


def rollups_refresh_enqueue(merchant_id: int) -> bool:
    """Queue the rollups refresh for the merchant; a no-op (False) while the analytics task does not exist."""
    try:
        module = importlib.import_module(ROLLUPS_TASK_MODULE)
    except ModuleNotFoundError as error:
        parts = ROLLUPS_TASK_MODULE.split(".")
        if error.name not in {".".join(parts[: n + 1]) for n in range(len(parts))}:
            raise  # analytics.tasks exists but imports something missing: a real bug, say so
        return False
    task = getattr(module, ROLLUPS_TASK_NAME, None)
    if task is None:
        return False
    task.delay(merchant_id)
    return True


IDEMPOTENCY_RETENTION = timedelta(hours=24)


def idempotency_records_purge(*, older_than: timedelta = IDEMPOTENCY_RETENTION) -> int:
    """Forget ``Idempotency-Key`` answers older than the retention (a client retries within minutes, not days).
    Runs for every merchant at once: it is housekeeping, not a tenant read. Returns how many were deleted."""
    cutoff = timezone.now() - older_than
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
