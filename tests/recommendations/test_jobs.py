"""Computation jobs: request/reuse, the run and its counts, idempotency, redelivery, failure, the atomic switch."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from merchants.models import AuditEvent, MerchantStatus
from recommendations.compute import ComputeParams
from recommendations.models import JobStatus, RecommendationJob, RecommendationState, Suggestion
from recommendations.selectors import recommend, recommendation_job_active, recommendation_job_get
from recommendations.services import (
    MAX_ATTEMPTS,
    recommendation_compute_request,
    recommendation_job_run,
    recommendations_compute_nightly,
)
from sales.models import OrderLine

from ..factories import MerchantFactory, UserFactory
from .baskets import N_BASKETS, plant_baskets

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
PARAMS = ComputeParams(scope_min_baskets=10)


def run(merchant, params=PARAMS):
    job = recommendation_compute_request(merchant=merchant, enqueue=False)
    return recommendation_job_run(job.pk, params=params, today=TODAY)


def rows_of(job):
    return set(
        Suggestion.objects.filter(job_id=job.pk).values_list(
            "kind", "scope", "store_id", "product_id", "partner_id", "rank", "support"
        )
    )


def test_a_request_creates_one_queued_job_and_an_identical_request_reuses_it(merchant):
    user = UserFactory()
    first = recommendation_compute_request(merchant=merchant, actor=user, enqueue=False)
    again = recommendation_compute_request(merchant=merchant, enqueue=False)
    assert again.pk == first.pk
    assert (first.status, first.trigger, first.created_by, first.progress_total) == ("queued", "manual", user, 9)
    assert recommendation_job_active(merchant=merchant) == first
    event = AuditEvent.objects.get(action="recommendations.compute_requested")
    assert (event.merchant, event.actor, event.target) == (merchant, user, f"recommendation-job:{first.pk}")
    # Once finished, the next request is a new job
    recommendation_job_run(first.pk, params=PARAMS, today=TODAY)
    assert recommendation_compute_request(merchant=merchant, enqueue=False).pk != first.pk


def test_the_job_records_its_window_counts_and_progress_and_becomes_current(merchant):
    planted = plant_baskets(merchant, today=TODAY)
    job = run(merchant)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert (job.window_start, job.window_end) == (dt.date(2025, 6, 16), TODAY)
    assert (job.lines_read, job.baskets_count, job.customers_count) == (planted.lines, N_BASKETS + 80, 40)
    assert (job.products_count, job.store_scopes, job.attempts) == (28, 2, 1)
    assert (job.progress_done, job.progress_total, job.progress_step, job.progress_percent) == (9, 9, "done", 100)
    assert job.suggestions_count == Suggestion.objects.filter(job_id=job.pk).count() > 0
    assert set(job.timings) >= {"read", "matrix", "pairs all", "bought later", "write", "switch", "total", "purge"}
    state = RecommendationState.objects.get(merchant=merchant)
    assert (state.current_job_id, state.computed_at) == (job.pk, job.finished_at)


def test_a_finished_job_delivered_again_is_skipped(merchant):
    plant_baskets(merchant, today=TODAY)
    job = run(merchant)
    rows = rows_of(job)
    again = recommendation_job_run(job.pk, params=PARAMS, today=TODAY)
    assert (again.status, again.attempts, again.finished_at) == ("succeeded", 1, job.finished_at)
    assert rows_of(job) == rows
    assert Suggestion.objects.filter(merchant=merchant).count() == len(rows)


def test_recomputing_gives_the_same_rows_and_drops_the_replaced_ones(merchant):
    plant_baskets(merchant, today=TODAY)
    first = run(merchant)
    first_rows = rows_of(first)
    second = run(merchant)
    assert second.pk != first.pk
    assert rows_of(second) == first_rows
    assert Suggestion.objects.filter(merchant=merchant, job_id=first.pk).count() == 0
    assert Suggestion.objects.filter(merchant=merchant).count() == second.suggestions_count
    assert second.timings["purged_rows"] == first.suggestions_count


def test_a_job_redelivered_while_running_starts_again_without_duplicates(merchant):
    planted = plant_baskets(merchant, today=TODAY)
    job = recommendation_compute_request(merchant=merchant, enqueue=False)
    # Given a worker that died after writing part of the rows
    RecommendationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=1)
    Suggestion.objects.create(
        merchant=merchant, job=job, kind="bought_together", scope="all", product=planted.products["A"],
        partner=planted.products["F00"], rank=1, score=9.0,
    )  # fmt: skip
    # When the message is delivered again
    job = recommendation_job_run(job.pk, params=PARAMS, today=TODAY)
    # Then it ran to the end once, without the stale row
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert Suggestion.objects.filter(job_id=job.pk).count() == job.suggestions_count
    first = Suggestion.objects.get(job_id=job.pk, kind="bought_together", scope="all", product=planted.products["A"],
                                   rank=1)  # fmt: skip
    assert first.partner_id == planted.products["B"].pk


def test_a_job_interrupted_too_often_is_failed(merchant):
    job = recommendation_compute_request(merchant=merchant, enqueue=False)
    RecommendationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=MAX_ATTEMPTS)
    job = recommendation_job_run(job.pk)
    assert job.status == JobStatus.FAILED
    assert job.error_message == "The computation was interrupted 3 times (its worker stopped); given up."


def test_a_failed_computation_keeps_the_previous_suggestions(merchant):
    planted = plant_baskets(merchant, today=TODAY)
    good = run(merchant)
    before = recommend(merchant=merchant, product=planted.products["A"], use_cache=False)
    bad = run(merchant, ComputeParams(later_orders=0))
    assert bad.status == JobStatus.FAILED
    assert bad.error_message.startswith("The computation stopped on an unexpected error (ValueError: Invalid param")
    assert RecommendationState.objects.get(merchant=merchant).current_job_id == good.pk
    assert Suggestion.objects.filter(job_id=bad.pk).count() == 0
    assert recommend(merchant=merchant, product=planted.products["A"], use_cache=False) == before


def test_a_merchant_without_sales_gets_an_empty_computation(merchant):
    job = run(merchant)
    assert (job.status, job.lines_read, job.baskets_count, job.suggestions_count) == ("succeeded", 0, 0, 0)


def test_nightly_requests_one_job_per_active_merchant_with_sales(merchant, other_merchant):
    plant_baskets(merchant, today=TODAY)
    suspended = MerchantFactory(status=MerchantStatus.SUSPENDED)
    plant_baskets(suspended, today=TODAY, prefix="Z")
    assert recommendations_compute_nightly() == 1  # other_merchant has no sales, the suspended one is skipped
    assert recommendations_compute_nightly() == 1  # the queued job is reused, not duplicated
    jobs = RecommendationJob.objects.all()
    assert [(job.merchant_id, job.trigger, job.status) for job in jobs] == [(merchant.pk, "nightly", "queued")]


def test_jobs_are_read_within_their_merchant(merchant, other_merchant):
    job = recommendation_compute_request(merchant=merchant, enqueue=False)
    assert recommendation_job_get(merchant=merchant, job_id=job.pk) == job
    assert recommendation_job_get(merchant=other_merchant, job_id=job.pk) is None
    assert recommendation_job_active(merchant=other_merchant) is None


def test_a_window_outside_1_3660_days_is_refused(merchant):
    with pytest.raises(ValueError, match="window_days must be between 1 and 3660, not 0"):
        recommendation_compute_request(merchant=merchant, window_days=0, enqueue=False)


@pytest.mark.django_db(transaction=True)
def test_readers_never_see_half_a_computation_while_a_new_one_switches_in(merchant):
    # Given a current computation where A goes with B, and new data where A goes with F00
    planted = plant_baskets(merchant, today=TODAY)
    run(merchant)
    a = planted.products["A"]
    old = recommend(merchant=merchant, product=a, use_cache=False)
    OrderLine.objects.filter(merchant=merchant, product=planted.products["B"]).update(product=planted.products["F00"])
    seen = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                seen.append(recommend(merchant=merchant, product=a, use_cache=False))
        finally:
            connection.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        # When a new computation runs and switches in while the reader reads in a loop
        new_job = run(merchant)
        for _ in range(200):  # let the reader read the new one a few times too
            if len(seen) > 5 and seen[-1].computed_at == new_job.finished_at:
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=30)
    new = recommend(merchant=merchant, product=a, use_cache=False)
    # Then every answer was exactly the old one or exactly the new one: never empty, never mixed
    assert old.items[0].sku == "B"
    assert new.items[0].sku == "F00"
    assert len(seen) > 5
    assert all(answer in (old, new) for answer in seen)
    assert {answer.computed_at for answer in seen} <= {old.computed_at, new.computed_at}
