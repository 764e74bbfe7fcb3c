"""The reports API: order (202), read, download, cancel; scopes, errors, another merchant's ids, the schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from merchants.models import ApiScope
from reports.models import ReportJob, ReportStatus

from .conftest import build, ingest, line, order

pytestmark = pytest.mark.django_db

MAY = {"from": "2024-05-01", "to": "2024-05-31"}
LIST = "/api/v1/reports/"


@pytest.fixture
def sales(merchant, shop):
    ingest(merchant, order("P-1", "2024-05-04T10:00:00+00:00", [line("TEE-1", "2")], store="PAR-01"))


def test_ordering_a_report_answers_202_with_the_job(api_client, merchant, shop, django_capture_on_commit_callbacks):
    body = {"kind": "order-lines", "format": "csv", "params": {**MAY, "store": ["PAR-01"]}}
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(LIST, body, format="json")
    assert response.status_code == 202, response.json()
    job = ReportJob.objects.get(merchant=merchant)
    data = response.json()
    assert response["Location"] == data["url"] == f"http://testserver/api/v1/reports/{job.pk}/"
    assert {
        key: data[key] for key in ("id", "kind", "format", "gzip", "status", "params", "period", "download_url")
    } == {
        "id": job.pk,
        "kind": "order-lines",
        "format": "csv",
        "gzip": False,
        "status": "queued",
        "params": {"from": "2024-05-01", "to": "2024-05-31", "store": ["PAR-01"]},
        "period": {"from": "2024-05-01", "to": "2024-05-31"},
        "download_url": None,
    }
    assert job.api_key == api_client.api_key
    # the same request again: the same job
    with django_capture_on_commit_callbacks(execute=False):
        again = api_client.post(LIST, body, format="json")
    assert (again.status_code, again.json()["id"]) == (202, job.pk)


def test_bad_parameters_answer_400_naming_the_parameter(api_client, shop):
    response = api_client.post(
        LIST,
        {"kind": "order-lines", "params": {"from": "2024-05-31", "to": "2024-05-01", "store": ["X"]}},
        format="json",
    )
    assert response.status_code == 400
    assert sorted(response.json()["errors"], key=lambda error: error["attr"]) == [
        {"code": "invalid", "detail": "Unknown store code(s): X.", "attr": "params.store"},
        {"code": "invalid", "detail": "“to” (2024-05-01) is before “from” (2024-05-31).", "attr": "params.to"},
    ]
    unknown = api_client.post(LIST, {"kind": "everything"}, format="json")
    assert unknown.json()["errors"][0]["attr"] == "kind"


def test_reading_a_finished_report_and_downloading_it(api_client, merchant, sales, django_assert_num_queries):
    job = build(merchant, "order-lines", MAY)
    with django_assert_num_queries(3):  # the key (+ its last-use update), the job with its merchant
        response = api_client.get(f"{LIST}{job.pk}/")
    data = response.json()
    assert (data["status"], data["rows"], data["sha256"], data["progress"]) == (
        "succeeded",
        1,
        job.sha256,
        {"done": 1, "total": 1, "percent": 100},
    )
    assert data["download_url"] == f"http://testserver/api/v1/reports/{job.pk}/download/"
    download = api_client.get(data["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    assert len(b"".join(download.streaming_content)) == job.bytes


def test_download_before_ready_is_409_and_after_expiry_410(api_client, merchant, sales):
    from reports.services import report_job_create

    from .conftest import admin_tenant

    queued, _ = report_job_create(tenant=admin_tenant(merchant), kind="order-lines", params=MAY, dispatch=False)
    response = api_client.get(f"{LIST}{queued.pk}/download/")
    assert response.status_code == 409
    assert response.json()["errors"][0]["detail"] == f"Report {queued.pk} is queued: there is no file to download."
    done = build(merchant, "order-lines", {**MAY, "channel": "offline"})
    ReportJob.objects.filter(pk=done.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    gone = api_client.get(f"{LIST}{done.pk}/download/")
    assert gone.status_code == 410
    assert gone.json()["errors"][0]["code"] == "gone"


def test_cancel(api_client, merchant, sales):
    from reports.services import report_job_create

    from .conftest import admin_tenant

    job, _ = report_job_create(tenant=admin_tenant(merchant), kind="order-lines", params=MAY, dispatch=False)
    response = api_client.post(f"{LIST}{job.pk}/cancel/")
    assert (response.status_code, response.json()["status"]) == (202, "cancelled")
    again = api_client.post(f"{LIST}{job.pk}/cancel/")
    assert again.status_code == 409
    assert again.json()["errors"][0]["detail"] == "This report is already cancelled: nothing to cancel."


@pytest.mark.parametrize(
    ("_case", "method", "path", "scopes"),
    [
        ("order without reports:write", "post", "", [ApiScope.REPORTS_READ]),
        ("read without reports:read", "get", "{id}/", [ApiScope.REPORTS_WRITE]),
        ("download without reports:read", "get", "{id}/download/", [ApiScope.SALES_READ]),
        ("cancel without reports:write", "post", "{id}/cancel/", [ApiScope.REPORTS_READ]),
    ],
)
def test_scopes(make_api_client, merchant, sales, _case, method, path, scopes):
    job = build(merchant, "order-lines", MAY)
    client = make_api_client(merchant, scopes)
    response = getattr(client, method)(LIST + path.format(id=job.pk), {"kind": "order-lines"}, format="json")
    assert response.status_code == 403
    assert "reports:" in response.json()["errors"][0]["detail"]


def test_another_merchants_report_is_404(other_api_client, merchant, sales):
    job = build(merchant, "order-lines", MAY)
    for path in (f"{job.pk}/", f"{job.pk}/download/"):
        assert other_api_client.get(LIST + path).status_code == 404
    assert other_api_client.post(f"{LIST}{job.pk}/cancel/").status_code == 404
    job.refresh_from_db()
    assert job.status == ReportStatus.SUCCEEDED


def test_the_schema_documents_the_reports_endpoints(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/reports/"]) == {"post"}
    assert paths["/api/v1/reports/"]["post"]["operationId"] == "reports_create"
    assert "202" in paths["/api/v1/reports/"]["post"]["responses"]
    assert set(paths["/api/v1/reports/{id}/download/"]["get"]["responses"]) >= {"200", "409", "410"}
    assert paths["/api/v1/reports/{id}/cancel/"]["post"]["operationId"] == "reports_cancel"
