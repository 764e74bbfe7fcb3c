"""Import jobs in the browser (list, upload, detail with progress, mapping, error CSV) and the API."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from sales.imports import import_job_run, progress_key
from sales.models import ImportJob, ImportStatus, Order

from ..factories import StoreFactory
from .test_import_jobs import create, generic_csv, row, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def url(name, merchant, **kwargs):
    return reverse(f"sales:{name}", kwargs={"merchant_slug": merchant.slug, **kwargs})


# --- browser ---------------------------------------------------------------------------------------


def test_upload_creates_a_job_and_redirects_to_it(owner_client, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(
            url("import-list", merchant),
            {"file": upload(generic_csv(row("W-1"))), "format": "", "mode": "skip-invalid"},
        )
    job = ImportJob.objects.get(merchant=merchant)
    assert response.status_code == 302
    assert response["Location"] == url("import-detail", merchant, pk=job.pk)
    assert (job.status, job.format, job.mode, job.created_by) == ("queued", "", "skip-invalid", owner_client.user)
    assert len(callbacks) == 1  # the task is enqueued on commit


def test_upload_without_a_file_is_refused(owner_client, merchant):
    response = owner_client.post(url("import-list", merchant), {"format": "", "mode": "all-or-nothing"})
    assert response.status_code == 400
    assert ImportJob.objects.count() == 0


def test_analyst_reads_the_list_but_cannot_upload(analyst_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"))).pk)
    page = analyst_client.get(url("import-list", merchant))
    assert page.status_code == 200
    assert "orders.csv" in page.content.decode()
    assert 'enctype="multipart/form-data"' not in page.content.decode()
    assert analyst_client.post(url("import-list", merchant), {}).status_code == 403
    assert job.status == ImportStatus.SUCCEEDED


def test_list_queries_are_constant(owner_client, merchant, django_assert_num_queries):
    for n in range(3):
        create(merchant, generic_csv(row(f"W-{n}")), actor=owner_client.user)
    with django_assert_num_queries(6):
        response = owner_client.get(url("import-list", merchant))
    assert response.status_code == 200
    assert response.content.decode().count("orders.csv") == 3


def test_list_empty_state(owner_client, merchant):
    response = owner_client.get(url("import-list", merchant))
    assert "No imports yet." in response.content.decode()


def test_detail_of_a_running_job_polls_its_progress(owner_client, merchant):
    # Given a job running, its live progress in the cache
    job = create(merchant, generic_csv(row("W-1")))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    from django.core.cache import cache

    cache.set(progress_key(job.pk), {"done": job.size_bytes // 2, "total": job.size_bytes, "rows": 1})
    percent = int(100 * (job.size_bytes // 2) / job.size_bytes)
    # When the page is shown
    body = owner_client.get(url("import-detail", merchant, pk=job.pk)).content.decode()
    # Then it has a progress bar polled every second
    assert f'<progress id="import-progress-bar" value="{percent}" max="100">' in body
    assert 'hx-trigger="every 1s"' in body
    assert url("import-progress", merchant, pk=job.pk) in body
    # and the fragment answers without a refresh while running
    fragment = owner_client.get(url("import-progress", merchant, pk=job.pk), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert "HX-Refresh" not in fragment
    assert f'value="{percent}"' in fragment.content.decode()


def test_progress_fragment_refreshes_the_page_when_done(owner_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"))).pk)
    fragment = owner_client.get(url("import-progress", merchant, pk=job.pk), HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true"
    assert 'hx-trigger="every 1s"' not in fragment.content.decode()
    assert 'value="100"' in fragment.content.decode()


def test_detail_shows_errors_and_the_csv_download(owner_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"), row("W-2", quantity="=1+2"))).pk)
    body = owner_client.get(url("import-detail", merchant, pk=job.pk)).content.decode()
    assert job.status == ImportStatus.FAILED
    assert job.error_message in body
    assert "<td>3</td><td>quantity</td><td><code>=1+2</code></td>" in body
    assert url("import-errors-csv", merchant, pk=job.pk) in body


def test_error_csv_download_neutralises_formulas(owner_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1", quantity="=1+2"), row("W-2", quantity="x"))).pk)
    response = owner_client.get(url("import-errors-csv", merchant, pk=job.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="import-{job.pk}-errors.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["row", "column", "value", "reason"]
    assert [r[:3] for r in rows[1:]] == [["2", "quantity", "'=1+2"], ["3", "quantity", "x"]]
    assert len(rows) == 3


def test_mapping_page_maps_and_resumes(owner_client, merchant, django_capture_on_commit_callbacks):
    # Given a job waiting for the mapping of "Lyon Centre"
    lyon = StoreFactory(merchant=merchant, code="LYO-01", name="Lyon Part-Dieu")
    job = import_job_run(create(merchant, generic_csv(row("P-1", channel="offline", store="Lyon Centre"))).pk)
    assert job.status == ImportStatus.NEEDS_MAPPING
    page = owner_client.get(url("import-detail", merchant, pk=job.pk)).content.decode()
    assert "Map the file's stores" in page
    assert '<label for="id_store_0">Lyon Centre' in page
    assert "Lyon Part-Dieu (LYO-01)" in page
    assert reverse("stores:store-create", args=[merchant.slug]) + "?next=" in page
    # When the owner maps it
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(url("import-detail", merchant, pk=job.pk), {"store_0": "LYO-01"})
    # Then the job is queued again with the mapping, and runs to success
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.store_mapping, job.unknown_stores) == ("queued", {"Lyon Centre": "LYO-01"}, [])
    assert len(callbacks) == 1
    job = import_job_run(job.pk)
    assert job.status == ImportStatus.SUCCEEDED
    assert Order.objects.get(merchant=merchant, external_id="P-1").store == lyon


def test_mapping_needs_every_store(owner_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("P-1", channel="offline", store="Lyon Centre"))).pk)
    response = owner_client.post(url("import-detail", merchant, pk=job.pk), {"store_0": ""})
    assert response.status_code == 400
    job.refresh_from_db()
    assert job.status == ImportStatus.NEEDS_MAPPING


def test_another_merchants_job_is_404(other_owner_client, merchant, other_merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"))).pk)
    for name in ("import-detail", "import-progress", "import-errors-csv"):
        assert other_owner_client.get(url(name, other_merchant, pk=job.pk)).status_code == 404
        assert other_owner_client.get(url(name, merchant, pk=job.pk)).status_code == 404


# --- API -------------------------------------------------------------------------------------------


def test_api_upload_answers_202_with_the_job(api_client, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(
            "/api/v1/imports/", {"file": upload(generic_csv(row("W-1"))), "format": "generic-csv"}, format="multipart"
        )
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(merchant=merchant)
    data = response.json()
    assert data["id"] == job.pk
    assert (data["status"], data["format"], data["mode"]) == ("queued", "generic-csv", "all-or-nothing")
    assert data["url"] == f"http://testserver/api/v1/imports/{job.pk}/"
    assert response["Location"] == data["url"]
    assert data["errors_url"] == f"http://testserver/api/v1/imports/{job.pk}/errors/"
    assert job.api_key == api_client.api_key
    assert job.created_by is None
    assert len(callbacks) == 1


def test_api_upload_validates(api_client):
    response = api_client.post("/api/v1/imports/", {"format": "excel"}, format="multipart")
    assert response.status_code == 400
    attrs = {error["attr"] for error in response.json()["errors"]}
    assert attrs == {"file", "format"}


def test_api_scopes(make_api_client, merchant):
    reader = make_api_client(merchant, ["sales:read"])
    response = reader.post("/api/v1/imports/", {"file": upload(generic_csv(row("W-1")))}, format="multipart")
    assert response.status_code == 403
    assert reader.get("/api/v1/imports/").status_code == 200
    writer = make_api_client(merchant, ["sales:write"])
    assert writer.get("/api/v1/imports/").status_code == 403


def test_api_job_and_its_errors(api_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"), row("W-2", quantity="x"))).pk)
    data = api_client.get(f"/api/v1/imports/{job.pk}/").json()
    assert data["status"] == "failed"
    assert data["progress"] == {"done": job.size_bytes, "total": job.size_bytes, "percent": 100, "rows": 2}
    assert (data["error_count"], data["orders_created"]) == (1, 0)
    errors = api_client.get(data["errors_url"]).json()
    assert errors["count"] == 1
    assert errors["results"] == [
        {"row": 3, "column": "quantity", "value": "x", "reason": errors["results"][0]["reason"]}
    ]


def test_api_list(api_client, merchant, django_assert_num_queries):
    for n in range(3):
        create(merchant, generic_csv(row(f"W-{n}")))
    with django_assert_num_queries(4):
        response = api_client.get("/api/v1/imports/")
    assert response.status_code == 200
    assert response.json()["count"] == 3


def test_api_another_merchants_job_is_404(api_client, other_api_client, merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"), row("W-2", quantity="x"))).pk)
    assert other_api_client.get(f"/api/v1/imports/{job.pk}/").status_code == 404
    assert other_api_client.get(f"/api/v1/imports/{job.pk}/errors/").status_code == 404
    assert api_client.get(f"/api/v1/imports/{job.pk}/").status_code == 200
