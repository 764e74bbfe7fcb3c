"""The reports page in a real browser, with a real Celery worker on the real broker: the owner orders an order-lines
export from the catalogue's form, sees it queued with its progress bar, the worker builds it while the page polls,
the page turns to "Ready" by itself, and the download is the whole file."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import expect

from reports.models import ReportJob, ReportStatus

from ..reports.conftest import bulk_sales, shop  # noqa: F401 - the reports tests' fixture
from ..reports.test_worker import start_worker
from ..sales.test_import_jobs_worker import broker, stop_worker, worker_env  # noqa: F401 - the Redis broker fixture

pytestmark = [pytest.mark.e2e, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # the live server and the worker (worker_env) share this media root
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.REPORTS_TEMP_DIR = ""


def test_order_watch_the_progress_and_download_an_export(
    page,
    live_server,
    owner_client,
    merchant,
    shop,  # noqa: F811 - the fixture imported above
    broker,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    # Given 60,000 order lines in March-April 2024, and the owner signed in
    rows = bulk_sales(merchant, shop["paris"], shop["tee"], orders=30_000, lines_per_order=2)
    page.context.add_cookies(
        [{"name": "sessionid", "value": owner_client.cookies["sessionid"].value, "url": live_server.url}]
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # When they order the order-lines report from its form on the reports page (no worker running yet)
    page.goto(f"{live_server.url}/m/{merchant.slug}/reports/")
    page.locator("#kind-order-lines summary").click()  # the catalogue's entries open one at a time
    form = page.locator("#kind-order-lines form")
    form.locator("#id_order-lines_date_from").fill("2024-03-01")
    form.locator("#id_order-lines_date_to").fill("2024-04-30")
    form.get_by_role("button", name="Build the order lines report").click()

    # Then the job is there, queued, with its progress bar
    job = ReportJob.objects.get(merchant=merchant, kind="order-lines")
    progress = page.locator(f"#report-progress-{job.pk}")
    expect(progress.locator("progress")).to_be_attached()
    expect(progress).to_contain_text("Starting")

    # When a worker picks it up (in chunks of 5,000 lines: a dozen progress steps)
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(broker, REPORTS_CHUNK_ROWS="5000"), log)
    try:
        # Then the page, polling, turns to "Ready" with the row count, without the owner reloading it
        expect(progress).to_contain_text("Ready", timeout=90_000)
    finally:
        stop_worker(worker)
    expect(progress).to_contain_text(f"{rows:,} rows")
    job.refresh_from_db()
    assert (job.status, job.rows, job.progress_done) == (ReportStatus.SUCCEEDED, rows, rows)

    # And the download is the whole CSV: the header and every line
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"^Download ")).click()  # the job page the order led to
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as handle:
        body = list(csv.reader(handle))
    assert body[0][:3] == ["order_source", "order_external_id", "order_status"]
    assert len(body) == rows + 1
    assert errors == []
