"""``manage.py compute_recommendations`` and ``evaluate_recommendations``."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recommendations.models import JobStatus, RecommendationJob, RecommendationState

from .baskets import plant_baskets

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_compute_runs_the_job_here_and_prints_a_summary(merchant):
    today = timezone.now().astimezone(merchant.tzinfo).date()
    planted = plant_baskets(merchant, today=today)
    output = run("compute_recommendations", "--merchant", merchant.slug)
    job = RecommendationJob.objects.get(merchant=merchant)
    assert (job.status, job.trigger) == (JobStatus.SUCCEEDED, "command")
    assert RecommendationState.objects.get(merchant=merchant).current_job == job
    first_line = output.splitlines()[0]
    assert first_line == (
        f"Recommendations job #{job.pk} succeeded in {job.duration_seconds:.1f} s: window "
        f"{today - dt.timedelta(days=364)} to {today}, {planted.lines} lines, 680 baskets, 28 products "
        f"({job.products_with_suggestions} with bought-together suggestions), 40 returning customers, "
        f"{job.store_scopes} stores with their own lists, {job.suggestions_count} suggestions written."
    )
    assert output.splitlines()[1].startswith("Timings: read ")


def test_compute_joins_a_queued_job_instead_of_creating_another(merchant):
    queued = RecommendationJob.objects.create(merchant=merchant, progress_total=9)
    run("compute_recommendations", "--merchant", merchant.slug)
    assert list(RecommendationJob.objects.values_list("pk", "status")) == [(queued.pk, "succeeded")]


def test_compute_refuses_an_unknown_merchant_and_a_bad_window(merchant):
    with pytest.raises(CommandError, match="No merchant with slug 'nope'"):
        run("compute_recommendations", "--merchant", "nope")
    with pytest.raises(CommandError, match="window_days must be between 1 and 3660, not 0"):
        run("compute_recommendations", "--merchant", merchant.slug, "--window-days", "0")


def test_evaluate_prints_the_table_and_says_when_there_is_not_enough_data(merchant):
    today = timezone.now().astimezone(merchant.tzinfo).date()
    plant_baskets(merchant, today=today)
    output = run("evaluate_recommendations", "--merchant", merchant.slug)
    lines = output.splitlines()
    assert lines[0].startswith("Split ")
    assert lines[2] == "Bought together (hold one item out, top 10):"
    assert lines[4].split()[:1] == ["all"]
    assert "not enough data" in lines[4]
    assert lines[-2].startswith("Not enough data: ")
    assert lines[-1].startswith("Not enough data for bought later: ")


def test_evaluate_takes_a_split_date_and_refuses_a_bad_one(merchant):
    today = timezone.now().astimezone(merchant.tzinfo).date()
    plant_baskets(merchant, today=today)
    split = today - dt.timedelta(days=100)
    assert run("evaluate_recommendations", "--merchant", merchant.slug, "--split-date", split.isoformat()).startswith(
        f"Split {split}: learnt on {split - dt.timedelta(days=365)} to {split - dt.timedelta(days=1)}"
    )
    with pytest.raises(CommandError, match="is not a date"):
        run("evaluate_recommendations", "--merchant", merchant.slug, "--split-date", "yesterday")
    with pytest.raises(CommandError, match="after today"):
        run("evaluate_recommendations", "--merchant", merchant.slug, "--split-date", "2999-01-01")
    with pytest.raises(CommandError, match="No merchant with slug 'nope'"):
        run("evaluate_recommendations", "--merchant", "nope")
