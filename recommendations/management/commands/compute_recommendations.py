"""``manage.py compute_recommendations --merchant SLUG [--window-days N]``.

Requests a computation (or joins the one already queued or running), runs it here when it is still queued (no
broker or worker needed), waits for it when a worker is running it, then prints the summary. Exits with status
1 when the computation failed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from merchants.models import Merchant
from recommendations.models import JobStatus, JobTrigger, RecommendationJob
from recommendations.services import recommendation_compute_request, recommendation_job_run

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Compute a merchant's recommendations (bought together, bought later, trending) and wait for the result."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="the merchant's slug")
        parser.add_argument("--window-days", type=int, default=365, help="days of sales to learn from (default 365)")
        parser.add_argument(
            "--timeout", type=float, default=3600, help="seconds to wait for a job another worker is running"
        )

    def handle(self, *args, **options):
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        try:
            job = recommendation_compute_request(
                merchant=merchant, trigger=JobTrigger.COMMAND, window_days=options["window_days"], enqueue=False
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        if job.status == JobStatus.QUEUED:
            job = recommendation_job_run(job.pk)
        else:
            self.stdout.write(f"Job #{job.pk} is already running in a worker: waiting for it.")
            deadline = time.monotonic() + options["timeout"]
            while not job.is_finished:
                if time.monotonic() > deadline:
                    raise CommandError(f"Job #{job.pk} did not finish within {options['timeout']:.0f} s.")
                time.sleep(POLL_SECONDS)
                job = RecommendationJob.objects.get(pk=job.pk)
        self.stdout.write(summary(job))
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Recommendations job #{job.pk} failed: {job.error_message}", returncode=1)


def summary(job: RecommendationJob) -> str:
    if job.status != JobStatus.SUCCEEDED:
        return f"Recommendations job #{job.pk} {job.status}."
    timings = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in job.timings.items() if step != "purged_rows")
    return (
        f"Recommendations job #{job.pk} succeeded in {job.duration_seconds:.1f} s: window {job.window_start} to "
        f"{job.window_end}, {job.lines_read} lines, {job.baskets_count} baskets, {job.products_count} products "
        f"({job.products_with_suggestions} with bought-together suggestions), {job.customers_count} returning "
        f"customers, {job.store_scopes} stores with their own lists, {job.suggestions_count} suggestions written.\n"
        f"Timings: {timings}."
    )
