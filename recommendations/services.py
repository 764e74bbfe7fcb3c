"""Writes of the recommendations engine: computation jobs (request, run, atomic switch) and cache invalidation.

- :func:`recommendation_compute_request` creates a queued job and enqueues it on commit; an identical job
  already queued or running for the merchant is returned instead (one computation at a time per merchant).
- :func:`recommendation_job_run` (the Celery task's body) reads the baskets, learns (``recommendations.compute``),
  writes every suggestion row under the job's id with COPY, then in one short transaction points the merchant's
  ``RecommendationState`` at the job and marks it succeeded, then deletes the rows of the jobs it replaced.
  Readers resolve through the state row, so they see the old computation or the new one, never a mix.
  Idempotent: a finished job is skipped; a job found "running" (redelivered after its worker died) starts
  again after deleting its partial rows; ``MAX_ATTEMPTS`` interruptions mark it failed. Two deliveries of one
  job never run at once (PostgreSQL advisory lock).
- :func:`recommendations_cache_invalidate` bumps the merchant's cache version: O(1), every cached answer of
  that merchant is then unreachable. Called after every rule change (``recommendations.rules``) and every switch.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from core.locks import job_lock_release, job_lock_try
from merchants.models import Merchant, MerchantStatus
from merchants.services import audit_record
from sales.models import Order, OrderLine, OrderStatus

from . import compute
from .models import (
    JobStatus,
    JobTrigger,
    RecommendationJob,
    RecommendationState,
    Suggestion,
)
from .selectors import _version_key

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
ADVISORY_LOCK_CLASS = 0x5EC0  # first key of pg_try_advisory_lock(int, int): "recommendation job"
PROGRESS_STEPS = ("reading baskets", "matrix", "pairs online", "pairs stores", "pairs all", "bought later")
PROGRESS_STEPS += ("trending", "writing", "switching")
AUDIT_COMPUTE_REQUESTED = "recommendations.compute_requested"


# --- cache ------------------------------------------------------------------------------------


def recommendations_cache_invalidate(merchant_id: int) -> None:
    """Make every cached recommendation of this merchant stale (bumps its cache version, O(1))."""
    key = _version_key(merchant_id)
    try:
        cache.incr(key)
    except ValueError:  # no version yet (or evicted): any fresh value differs from the keys in use
        cache.set(key, int(time.time() * 1000), timeout=None)


# --- requesting a computation -----------------------------------------------------------------


def _is_user(actor) -> bool:
    return actor is not None and bool(getattr(actor, "pk", None)) and not hasattr(actor, "api_key")


@transaction.atomic
def recommendation_compute_request(
    *,
    merchant: Merchant,
    actor=None,
    trigger: str = JobTrigger.MANUAL,
    window_days: int = compute.ComputeParams.window_days,
    request=None,
    enqueue: bool = True,
) -> RecommendationJob:
    """A queued job for ``merchant`` (enqueued on commit), or the queued/running one that already exists."""
    if window_days < 1 or window_days > 3660:
        raise ValueError(f"window_days must be between 1 and 3660, not {window_days}.")
    state, _ = RecommendationState.objects.get_or_create(merchant=merchant)
    RecommendationState.objects.select_for_update().filter(pk=state.pk).first()  # one request at a time
    active = (
        RecommendationJob.objects.for_merchant(merchant)
        .filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING), window_days=window_days)
        .order_by("-created_at", "-pk")
        .first()
    )
    if active is not None:
        return active
    job = RecommendationJob.objects.create(
        merchant=merchant,
        trigger=trigger,
        created_by=actor if _is_user(actor) else None,
        window_days=window_days,
        progress_total=len(PROGRESS_STEPS),
    )
    audit_record(
        action=AUDIT_COMPUTE_REQUESTED,
        merchant=merchant,
        actor=actor,
        target=f"recommendation-job:{job.pk}",
        request=request,
        data={"trigger": trigger, "window_days": window_days},
    )
    if enqueue:
        recommendation_job_enqueue_on_commit(job.pk)
    return job


def recommendation_job_enqueue_on_commit(job_id: int) -> None:
    def send():
        from .tasks import recommendation_job_run_task

        try:
            recommendation_job_run_task.delay(job_id)
        except Exception:  # the broker is down: the job stays queued and the next request re-sends nothing
            logger.exception("recommendations: could not enqueue job %s", job_id)

    transaction.on_commit(send)


def recommendations_compute_nightly() -> int:
    """Request one computation per active merchant that has sales (Celery beat). Returns how many."""
    count = 0
    merchants = Merchant.objects.filter(status=MerchantStatus.ACTIVE).order_by("pk")
    for merchant in merchants.iterator():
        if OrderLine.objects.for_merchant(merchant).exists():
            recommendation_compute_request(merchant=merchant, trigger=JobTrigger.NIGHTLY)
            count += 1
    return count


# --- running one ------------------------------------------------------------------------------


def recommendation_job_run(
    job_id: int, *, params: compute.ComputeParams | None = None, today: dt.date | None = None
) -> RecommendationJob | None:
    """Run the job (see the module docstring). Returns the job as it ended, or None if it does not exist."""
    if not job_lock_try(ADVISORY_LOCK_CLASS, job_id):
        logger.info("recommendations: job %s is being run by another worker, skipping this delivery", job_id)
        return RecommendationJob.objects.filter(pk=job_id).first()
    try:
        return _run_locked(job_id, params=params, today=today)
    finally:
        job_lock_release(ADVISORY_LOCK_CLASS, job_id)


def _run_locked(job_id: int, *, params, today) -> RecommendationJob | None:
    with transaction.atomic():
        job = RecommendationJob.objects.select_for_update().select_related("merchant").filter(pk=job_id).first()
        if job is None or job.is_finished:
            return job
        if job.status == JobStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:
            _fail(job, f"The computation was interrupted {job.attempts} times (its worker stopped); given up.")
            return job
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        job.finished_at = None
        job.error_message = ""
        job.progress_done = 0
        job.progress_total = len(PROGRESS_STEPS)
        job.save()
    # A redelivered job may have written part of its rows before its worker died.
    Suggestion.objects.filter(merchant_id=job.merchant_id, job_id=job.pk).delete()
    try:
        _compute_and_switch(job, params or compute.ComputeParams(window_days=job.window_days), today)
    except Exception as exc:
        logger.exception("recommendations: job %s failed", job_id)
        Suggestion.objects.filter(merchant_id=job.merchant_id, job_id=job.pk).delete()
        _fail(
            job,
            f"The computation stopped on an unexpected error ({exc.__class__.__name__}: {exc}); the previous "
            "suggestions stay in use. Try again; if it happens again, contact support with the job number.",
        )
        return job
    _purge_replaced(job)
    return job


def _fail(job: RecommendationJob, message: str) -> None:
    job.status = JobStatus.FAILED
    job.error_message = message
    job.finished_at = timezone.now()
    job.save()


def _progress(job: RecommendationJob, step: str) -> None:
    job.progress_done = min(job.progress_total, job.progress_done + 1)
    job.progress_step = step
    RecommendationJob.objects.filter(pk=job.pk).update(progress_done=job.progress_done, progress_step=step)


def window_for(merchant: Merchant, days: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """[start, end] local days: the ``days`` days up to and including today (merchant's time zone)."""
    end = today or timezone.now().astimezone(merchant.tzinfo).date()
    return end - dt.timedelta(days=days - 1), end


def read_baskets(
    merchant: Merchant, start: dt.date, end: dt.date, timings: dict | None = None
) -> tuple[compute.Lines, compute.CustomerOrders]:
    """Lines and identified customers' orders in [start, end], by COPY on PostgreSQL (ORM on other databases).

    The PostgreSQL path runs parallel ``psql`` reads when ``psql`` is installed, ``RECOMMENDATIONS_PSQL_READ``
    is on (the default) and no transaction is open, else COPY through the connection."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        psql = None
        # Other processes only see committed data: inside a transaction, read through this connection.
        if getattr(settings, "RECOMMENDATIONS_PSQL_READ", True) and not connection.in_atomic_block:
            psql = compute.PsqlSource.from_settings(connection.settings_dict)
        lines, orders, read_timings = compute.read_baskets_postgresql(
            connection.connection, merchant_id=merchant.pk, start=start, end=end, psql=psql
        )
        if timings is not None:
            timings.update(read_timings)
        return lines, orders
    return _read_baskets_orm(merchant, start, end)


def _read_baskets_orm(merchant: Merchant, start: dt.date, end: dt.date):
    """The development default (SQLite): the same arrays through the ORM (slow, fine for demo sizes)."""
    cancelled = Order.objects.for_merchant(merchant).filter(status=OrderStatus.CANCELLED).values("pk")
    rows = list(
        OrderLine.objects.for_merchant(merchant)
        .filter(kind="sale", product__isnull=False, local_date__gte=start, local_date__lte=end)
        .exclude(order_id__in=cancelled)
        .values_list("order_id", "product_id", "store_id", "channel", "local_date")
    )
    lines = compute.Lines(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int32),
        np.array([r[2] or 0 for r in rows], dtype=np.int32),
        np.array([r[3] == "online" for r in rows], dtype=np.int16),
        np.array([(r[4] - start).days for r in rows], dtype=np.int16),
    )
    orders = list(
        Order.objects.for_merchant(merchant)
        .filter(customer__isnull=False, local_date__gte=start, local_date__lte=end)
        .exclude(status=OrderStatus.CANCELLED)
        .values_list("pk", "customer_id", "placed_at")
    )
    customer_orders = compute.CustomerOrders(
        np.array([r[0] for r in orders], dtype=np.int64),
        np.array([r[1] for r in orders], dtype=np.int64),
        np.array([int(r[2].timestamp()) for r in orders], dtype=np.int64),
    )
    return lines, customer_orders


def _write(table: compute.SuggestionTable, merchant_id: int, job_id: int) -> None:
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with transaction.atomic():
            compute.write_suggestions(connection.connection, table, merchant_id=merchant_id, job_id=job_id)
        return
    batch = []
    for group in table.groups:
        for i in range(len(group)):
            batch.append(
                Suggestion(
                    merchant_id=merchant_id,
                    job_id=job_id,
                    kind=group.kind,
                    scope=group.scope,
                    store_id=group.store_id,
                    product_id=int(group.product[i]) if group.product is not None else None,
                    partner_id=int(group.partner[i]),
                    rank=int(group.rank[i]),
                    score=float(group.score[i]),
                    support=int(group.support[i]),
                    confidence=float(group.confidence[i]),
                    lift=float(group.lift[i]),
                    baskets_offline=int(group.baskets_offline[i]),
                    baskets_online=int(group.baskets_online[i]),
                )
            )
    Suggestion.objects.bulk_create(batch, batch_size=2000)


def _compute_and_switch(job: RecommendationJob, params: compute.ComputeParams, today: dt.date | None) -> None:
    merchant = job.merchant
    start, end = window_for(merchant, params.window_days, today)
    job.window_start, job.window_end = start, end
    RecommendationJob.objects.filter(pk=job.pk).update(window_start=start, window_end=end)
    began = time.perf_counter()
    read_timings: dict = {}
    lines, customer_orders = read_baskets(merchant, start, end, read_timings)
    read_timings.setdefault("read", round(time.perf_counter() - began, 3))
    _progress(job, "reading baskets")
    table = compute.learn(
        lines,
        customer_orders,
        params,
        window_end_day=(end - start).days,
        progress=lambda step: _progress(job, step),
    )
    del lines, customer_orders
    clock = time.perf_counter()
    _write(table, merchant.pk, job.pk)
    write_seconds = round(time.perf_counter() - clock, 3)
    _progress(job, "writing")
    clock = time.perf_counter()
    with transaction.atomic():
        state, _ = RecommendationState.objects.get_or_create(merchant=merchant)
        state = RecommendationState.objects.select_for_update().get(pk=state.pk)
        now = timezone.now()
        state.current_job = job
        state.computed_at = now
        state.save(update_fields=["current_job", "computed_at", "updated_at"])
        job.status = JobStatus.SUCCEEDED
        job.finished_at = now
        job.progress_done = job.progress_total
        job.progress_step = "done"
        job.lines_read = table.lines_read
        job.baskets_count = table.baskets_count
        job.customers_count = table.customers_count
        job.products_count = table.products_count
        job.products_with_suggestions = table.products_with_suggestions
        job.suggestions_count = table.rows
        job.store_scopes = table.store_scopes
        job.timings = {
            **read_timings,
            **table.timings,
            "write": write_seconds,
            "switch": round(time.perf_counter() - clock, 3),
            "total": round(time.perf_counter() - began, 3),
        }
        job.save()
    # After the commit (not before: a reader could cache the old answer under the new version).
    recommendations_cache_invalidate(merchant.pk)


def _purge_replaced(job: RecommendationJob) -> None:
    """Delete the rows of the merchant's finished jobs other than the current one (after the switch)."""
    if job.status != JobStatus.SUCCEEDED:
        return
    clock = time.perf_counter()
    current = RecommendationState.objects.for_merchant(job.merchant_id).values_list("current_job_id", flat=True)
    finished = RecommendationJob.objects.for_merchant(job.merchant_id).filter(
        status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED)
    )
    replaced = finished.exclude(pk__in=current).values("pk")
    deleted, _ = Suggestion.objects.filter(merchant_id=job.merchant_id, job_id__in=replaced).delete()
    timings = dict(job.timings, purge=round(time.perf_counter() - clock, 3), purged_rows=deleted)
    job.timings = timings
    RecommendationJob.objects.filter(pk=job.pk).update(timings=timings)
