"""The reports pages: catalogue pre-filled from the dashboard, ordering, the job page, cancel, retry, downloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from merchants.models import Role
from merchants.tenancy import Tenant
from reports.models import ReportJob, ReportStatus

from .conftest import build, ingest, line, order

pytestmark = pytest.mark.django_db

MAY = {"from": "2024-05-01", "to": "2024-05-31"}


def url(name: str, merchant, *args) -> str:
    return reverse(f"reports:{name}", args=[merchant.slug, *args])


@pytest.fixture
def sales(merchant, shop):
    ingest(
        merchant,
        order("P-1", "2024-05-04T10:00:00+00:00", [line("TEE-1", "2")], store="PAR-01"),
        order("L-1", "2024-05-05T10:00:00+00:00", [line("TEE-1")], store="LON-01"),
    )


def test_the_catalogue_is_prefilled_from_an_export_this_link(owner_client, merchant, shop, django_assert_num_queries):
    build(merchant, "order-lines", MAY)
    build(merchant, "order-lines", {**MAY, "channel": "online"})
    link = url("report-list", merchant) + "?kind=order-lines&from=2024-05-01&to=2024-05-31&store=PAR-01&channel=offline"
    with django_assert_num_queries(7):
        response = owner_client.get(link)
    assert response.status_code == 200
    body = response.content.decode()
    assert '<details open id="kind-order-lines">' in body
    assert 'name="date_from" value="2024-05-01"' in body
    assert '<option value="PAR-01" selected>' in body
    assert '<option value="offline" selected>' in body
    assert body.count('<progress value="') == 0  # both jobs are finished: no polling
    assert body.count("Download</a>") == 2


def test_ordering_a_report_queues_it_and_shows_its_page(
    owner_client, merchant, sales, django_capture_on_commit_callbacks
):
    data = {"kind": "order-lines", "format": "csv", "date_from": "2024-05-01", "date_to": "2024-05-31"}
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(url("report-list", merchant), data)
    job = ReportJob.objects.get(merchant=merchant)
    assert response.status_code == 302
    assert response.url == url("report-detail", merchant, job.pk)
    assert (job.kind, job.params, job.status, job.requested_by) == (
        "order-lines",
        {"from": "2024-05-01", "to": "2024-05-31"},
        ReportStatus.QUEUED,
        owner_client.user,
    )
    # the same request again goes to the same job
    with django_capture_on_commit_callbacks(execute=False):
        again = owner_client.post(url("report-list", merchant), data)
    assert again.url == response.url
    assert ReportJob.objects.filter(merchant=merchant).count() == 1
    page = owner_client.get(response.url)
    assert "hx-get" in page.content.decode()  # polling while queued
    assert "Cancel" in page.content.decode()


def test_a_bad_request_shows_the_errors_on_the_form(owner_client, merchant, shop):
    data = {"kind": "order-lines", "format": "xlsx", "gzip": "on", "date_from": "2024-05-31", "date_to": "2024-05-01"}
    response = owner_client.post(url("report-list", merchant), data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Only CSV files can be compressed" in body
    assert not ReportJob.objects.exists()


def test_the_download_is_an_attachment_with_the_files_bytes(analyst_client, merchant, sales):
    job = build(merchant, "order-lines", MAY)
    response = analyst_client.get(url("report-download", merchant, job.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["X-Report-SHA256"] == job.sha256
    assert len(b"".join(response.streaming_content)) == job.bytes


def test_an_expired_report_answers_410(owner_client, merchant, sales):
    job = build(merchant, "order-lines", MAY)
    ReportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = owner_client.get(url("report-download", merchant, job.pk))
    assert response.status_code == 410
    assert "no longer available" in response.content.decode()


def test_the_progress_fragment_reloads_the_page_when_done(owner_client, merchant, sales):
    job = build(merchant, "order-lines", MAY)
    response = owner_client.get(url("report-progress", merchant, job.pk), HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    assert "2 rows" in response.content.decode()


def test_store_managers_order_on_their_stores_and_lose_downloads_with_the_store(store_manager_client, merchant, sales):
    own = store_manager_client.managed_store
    # ordering on another store is refused
    response = store_manager_client.post(
        url("report-list", merchant),
        {"kind": "order-lines", "format": "csv", "date_from": "2024-05-01", "date_to": "2024-05-31", "store": "PAR-01"},
    )
    assert response.status_code == 400
    assert "Select a valid choice. PAR-01 is not one of the available choices." in response.content.decode()
    # a report on their stores is theirs
    tenant = Tenant(merchant=merchant, role=Role.STORE_MANAGER, store_ids=frozenset({own.pk}))
    job = build(merchant, "order-lines", MAY, tenant=tenant)
    assert job.store_ids == [own.pk]
    assert store_manager_client.get(url("report-download", merchant, job.pk)).status_code == 200
    # a report over every store is not
    everything = build(merchant, "order-lines", {**MAY, "channel": "offline"})
    assert store_manager_client.get(url("report-download", merchant, everything.pk)).status_code == 404
    listing = store_manager_client.get(url("report-list", merchant)).content.decode()
    assert url("report-detail", merchant, job.pk) in listing
    assert url("report-detail", merchant, everything.pk) not in listing
    # and losing the store loses the download
    store_manager_client.membership.stores.remove(own)
    assert store_manager_client.get(url("report-download", merchant, job.pk)).status_code == 404


def test_cancel_and_retry(owner_client, merchant, sales, django_capture_on_commit_callbacks):
    job = build(merchant, "order-lines", MAY)
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(url("report-retry", merchant, job.pk))
    retried = ReportJob.objects.exclude(pk=job.pk).get()
    assert response.url == url("report-detail", merchant, retried.pk)
    with django_capture_on_commit_callbacks(execute=False):
        owner_client.post(url("report-cancel", merchant, retried.pk))
    retried.refresh_from_db()
    assert retried.status == ReportStatus.CANCELLED


def test_an_analyst_cannot_cancel_someone_elses_report(analyst_client, merchant, sales):
    from reports.services import report_job_create

    from .conftest import admin_tenant

    job, _ = report_job_create(tenant=admin_tenant(merchant), kind="order-lines", params=MAY, dispatch=False)
    response = analyst_client.post(url("report-cancel", merchant, job.pk), follow=True)
    assert "Only the person who ordered this report, or an owner or admin, can cancel it." in response.content.decode()
    job.refresh_from_db()
    assert job.status == ReportStatus.QUEUED


def test_the_job_page_and_its_progress_fragment_run_a_fixed_number_of_queries(
    owner_client, merchant, sales, django_assert_num_queries
):
    job = build(merchant, "order-lines", MAY)
    build(merchant, "order-lines", {**MAY, "channel": "offline"})
    with django_assert_num_queries(5):  # session, user, membership, the job (+ merchant), the nav's memberships
        page = owner_client.get(url("report-detail", merchant, job.pk))
    body = page.content.decode()
    assert f"Download {job.filename}" in body
    assert job.sha256 in body
    assert "<dt>from</dt><dd>2024-05-01</dd>" in body
    with django_assert_num_queries(4):
        owner_client.get(url("report-progress", merchant, job.pk))
